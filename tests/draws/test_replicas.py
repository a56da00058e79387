"""A draw on two server processes sharing one database (replicas): entries through both, RunDraw called
at once on both, one result, prizes granted once, and an export that verifies."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from loyalty.v1 import common_pb2, draws_pb2, draws_pb2_grpc, ledger_pb2, members_pb2
from loyalty_clients import verify_draw
from sqlalchemy import text

from loyalty_service.db.engine import create_engine
from loyalty_service.draws import api as draws_api
from loyalty_service.proto_time import to_timestamp
from tests.support.api import Client, _Authed, new_key
from tests.support.replicas import StartServers, replicas

WINDOW_SECONDS = 6


def _draws(channel: grpc.aio.Channel, secret: str) -> Any:
    return _Authed(draws_pb2_grpc.DrawServiceStub(channel), (("authorization", f"Bearer {secret}"),))


def _spec(closes_at: datetime) -> draws_pb2.DrawSpec:
    return draws_pb2.DrawSpec(
        name="Replica draw",
        opens_at=to_timestamp(closes_at - timedelta(hours=1)),
        closes_at=to_timestamp(closes_at),
        prizes=[draws_pb2.DrawPrize(prize_id="points-100", name="100 points", quantity=3, points=100)],
        sources=draws_pb2.DrawEntrySources(
            direct=draws_pb2.DirectEntrySource(enabled=True, cost_points=5, max_entries_per_member=2),
            entries_per_challenge=3,
            spend=draws_pb2.SpendEntrySource(currency="EUR", spend_step_minor=500, entries_per_step=2),
        ),
    )


@pytest.mark.slow
async def test_two_replicas_run_one_draw_once(
    server_processes: StartServers,
) -> None:
    """Goal: entries through either process land in one frozen list; a late entry is refused; RunDraw sent
    to both processes at once gives one identical result and grants each prize exactly once."""
    async with replicas(server_processes, 2, key_name="draws") as pair:
        channels, keys = pair.channels, pair.keys
        engine = create_engine(pair.url, pool_size=2, max_overflow=0)
        try:
            webs = [Client(channel, keys["webshop"]) for channel in channels]
            offices = [_draws(channel, keys["backoffice"]) for channel in channels]
            entering = [_draws(channel, keys["webshop"]) for channel in channels]
            back = Client(channels[0], keys["backoffice"])
            closes_at = datetime.now(UTC) + timedelta(seconds=WINDOW_SECONDS)
            created = await back.program.CreateDraw(
                draws_pb2.CreateDrawRequest(idempotency_key=new_key(), spec=_spec(closes_at))
            )
            draw_id = created.draw.draw_id
            members = []
            for i in range(6):
                enrolled = await webs[i % 2].members.EnrollMember(
                    members_pb2.EnrollMemberRequest(idempotency_key=new_key())
                )
                members.append(enrolled.member.member_id)
                await back.ledger.AdjustPoints(
                    ledger_pb2.AdjustPointsRequest(
                        idempotency_key=new_key(), member_id=members[-1], points=50, reason="float"
                    )
                )
            # Direct entries (costing points) through both processes, one member per process pair.
            await asyncio.gather(
                *(
                    entering[i % 2].EnterDraw(
                        draws_pb2.EnterDrawRequest(
                            idempotency_key=new_key(), draw_id=draw_id, member_id=m, entries=2
                        )
                    )
                    for i, m in enumerate(members[:4])
                )
            )
            # A completed challenge, as the challenges feature would grant it.
            async with engine.begin() as conn:
                await draws_api.grant_entries(
                    conn,
                    draw_id=draw_id,
                    member_id=members[4],
                    count=1,
                    source_type="challenge",
                    source_ref="challenge-completion-1",
                    now=datetime.now(UTC),
                )
            await webs[1].ledger.RecordPurchase(
                ledger_pb2.RecordPurchaseRequest(
                    idempotency_key=new_key(),
                    member=common_pb2.MemberRef(member_id=members[5]),
                    channel=common_pb2.CHANNEL_WEBSHOP,
                    order_id="o-" + new_key(),
                    amount=common_pb2.Money(amount_minor=1_000, currency="EUR"),
                    occurred_at=to_timestamp(datetime.now(UTC)),
                )
            )
            await asyncio.sleep(max(0.0, (closes_at - datetime.now(UTC)).total_seconds()) + 0.2)

            late = draws_pb2.EnterDrawRequest(
                idempotency_key=new_key(), draw_id=draw_id, member_id=members[5]
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await entering[1].EnterDraw(late)
            assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION

            started = time.monotonic()
            runs = await asyncio.gather(
                *(
                    office.RunDraw(
                        draws_pb2.RunDrawRequest(idempotency_key=new_key(), draw_id=draw_id), timeout=60
                    )
                    for office in offices
                    for _ in range(2)
                )
            )
            assert time.monotonic() - started < 60
            assert all(run.result == runs[0].result for run in runs)
            result = runs[0].result
            assert result.entry_count == 4 * 2 + 3 + 4
            assert len(result.winners) == 3
            async with engine.connect() as conn:
                exported = await draws_api.export_result(conn, draw_id)
                wins = (
                    await conn.execute(
                        text(
                            "select count(*), count(distinct member_id) from ledger_entries"
                            " where entry_type = 'draw_win' and source_ref like :d"
                        ),
                        {"d": f"{draw_id}:%"},
                    )
                ).one()
            assert tuple(wins) == (3, 3)
            assert verify_draw.verify(exported) == []
        finally:
            await engine.dispose()
