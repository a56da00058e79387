"""Purchases consult draws and play-token rules through per-process caches keyed by revisions in
`program_settings` (program/revisions.py): a change made through one server process applies to the very
next purchase on another process, whose caches were warm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from loyalty.v1 import common_pb2, draws_pb2, games_pb2, ledger_pb2, members_pb2
from sqlalchemy import text

from loyalty_service.db.engine import create_engine
from loyalty_service.proto_time import to_timestamp
from tests.support.api import Client, new_key
from tests.support.replicas import StartServers, replicas

_ENTRIES = "select coalesce(sum(entry_count), 0) from draw_members where member_id = :m"
_TOKENS = "select coalesce(sum(balance), 0) from play_token_balances where member_id = :m"


def _spend_draw(opens_at: datetime) -> draws_pb2.DrawSpec:
    return draws_pb2.DrawSpec(
        name="Spend draw",
        opens_at=to_timestamp(opens_at),
        closes_at=to_timestamp(opens_at + timedelta(days=1)),
        prizes=[draws_pb2.DrawPrize(prize_id="p", name="100 points", quantity=1, points=100)],
        sources=draws_pb2.DrawEntrySources(
            spend=draws_pb2.SpendEntrySource(currency="EUR", spend_step_minor=1_000, entries_per_step=1)
        ),
    )


@pytest.mark.slow
async def test_draw_and_token_rule_changes_on_one_process_reach_the_next_purchase_on_another(
    server_processes: StartServers,
) -> None:
    """Goal: no stale cache across processes: process A, having cached "no draws, no token rules", counts
    its next purchase towards a draw and a token rule created through B, and follows B's update of the
    draw's spend step from the purchase after it."""
    async with replicas(server_processes, 2, key_name="revisions") as pair:
        web_a = Client(pair.channels[0], pair.keys["webshop"])
        back_b = Client(pair.channels[1], pair.keys["backoffice"])
        now = datetime.now(UTC)
        member = (
            await web_a.members.EnrollMember(members_pb2.EnrollMemberRequest(idempotency_key=new_key()))
        ).member.member_id

        async def buy(amount_minor: int) -> None:
            await web_a.ledger.RecordPurchase(
                ledger_pb2.RecordPurchaseRequest(
                    idempotency_key=new_key(),
                    member=common_pb2.MemberRef(member_id=member),
                    channel=common_pb2.CHANNEL_WEBSHOP,
                    order_id="o-" + new_key(),
                    amount=common_pb2.Money(amount_minor=amount_minor, currency="EUR"),
                    occurred_at=to_timestamp(datetime.now(UTC) - timedelta(seconds=1)),
                )
            )

        engine = create_engine(pair.url, pool_size=1, max_overflow=0)
        try:

            async def counted() -> tuple[int, int]:
                async with engine.connect() as conn:
                    entries = (
                        await conn.execute(
                            text(_ENTRIES),
                            {"m": member},
                        )
                    ).scalar_one()
                    tokens = (
                        await conn.execute(
                            text(_TOKENS),
                            {"m": member},
                        )
                    ).scalar_one()
                return int(entries), int(tokens)

            await buy(1_000)  # A's caches now hold revision 0: no draws, no token rules
            assert await counted() == (0, 0)

            await back_b.program.CreateDraw(
                draws_pb2.CreateDrawRequest(
                    idempotency_key=new_key(), spec=_spend_draw(now - timedelta(hours=1))
                )
            )
            await back_b.program.CreatePlayTokenRule(
                games_pb2.CreatePlayTokenRuleRequest(
                    idempotency_key=new_key(),
                    rule=games_pb2.PlayTokenRule(
                        name="2 tokens per web order",
                        channels=[common_pb2.CHANNEL_WEBSHOP],
                        currency="EUR",
                        tokens=2,
                        valid_from=to_timestamp(now - timedelta(days=1)),
                    ),
                )
            )
            await buy(3_000)  # one entry per 10 EUR spent in the draw: 3 entries; 2 tokens
            assert await counted() == (3, 2)

            later = await back_b.program.CreateDraw(
                draws_pb2.CreateDrawRequest(
                    idempotency_key=new_key(), spec=_spend_draw(now + timedelta(days=1))
                )
            )
            await buy(1_000)  # A now caches the second draw with tomorrow's window: it does not count
            assert await counted() == (4, 4)

            await back_b.program.UpdateDraw(  # not open yet, so it may change: it opens an hour ago now
                draws_pb2.UpdateDrawRequest(
                    idempotency_key=new_key(),
                    draw_id=later.draw.draw_id,
                    spec=_spend_draw(now - timedelta(hours=1)),
                )
            )
            await buy(2_000)  # 6 entries in the first draw, 2 in the second
            assert await counted() == (8, 6)
        finally:
            await engine.dispose()
