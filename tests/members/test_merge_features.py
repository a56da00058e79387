"""Merging a provisional member moves every feature's rows (merge_registry): vouchers and play tokens."""

from __future__ import annotations

import secrets
from datetime import timedelta

import grpc
import pytest
from loyalty.v1 import common_pb2, games_pb2, ledger_pb2, members_pb2, program_pb2, rewards_pb2
from sqlalchemy import select

from loyalty_service.db.tables_games import play_token_entries
from loyalty_service.ledger.check import check_ledger
from loyalty_service.ledger.play_tokens import play_token_balance
from loyalty_service.members import merge_registry
from loyalty_service.proto_time import to_timestamp
from tests.rewards.conftest import make_reward, reason, rewards_stub
from tests.support.api import Running, new_key

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_features_are_registered_when_the_server_is_built() -> None:
    """Goal: importing the app registers the movers of every feature whose rows follow a merge."""
    import loyalty_service.app  # noqa: F401

    assert {"rewards", "play_tokens"} <= set(merge_registry.registered())


async def test_link_moves_vouchers_and_play_tokens_to_the_real_member(isolated_service: Running) -> None:
    """Goal: a provisional member's voucher and play tokens follow the card to the real member: the
    voucher is theirs (get, list, cancel with the points coming back to them), the tokens moved as a
    pair of entries, and `check_ledger` stays clean."""
    running = isolated_service
    assert running.clock is not None
    now = running.clock.now()
    back = await running.client("backoffice")
    store_id = await running.store()
    till = await running.client("pos", store_id=store_id)
    web = await running.client("webshop")
    await back.program.CreateEarningRule(
        program_pb2.CreateEarningRuleRequest(
            idempotency_key=new_key(),
            spec=program_pb2.EarningRuleSpec(
                name="base", kind=program_pb2.EARNING_RULE_KIND_BASE_RATE, currency="EUR", points_per_unit="1"
            ),
            effective_from=to_timestamp(now - timedelta(days=1)),
        )
    )
    await back.program.CreatePlayTokenRule(
        games_pb2.CreatePlayTokenRuleRequest(
            idempotency_key=new_key(),
            rule=games_pb2.PlayTokenRule(
                name="3 tokens per till sale over 10 EUR",
                channels=[common_pb2.CHANNEL_POS],
                currency="EUR",
                min_amount_minor=1000,
                tokens=3,
                valid_from=to_timestamp(now - timedelta(days=1)),
            ),
        )
    )
    reward = await make_reward(running, points_cost=100, stock=5)

    card = "MRG" + secrets.token_hex(5).upper()
    card_ref = common_pb2.MemberRef(
        identifier=common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_CARD, value=card)
    )
    bought = await till.ledger.RecordPurchase(
        ledger_pb2.RecordPurchaseRequest(
            idempotency_key=new_key(),
            member=card_ref,
            channel=common_pb2.CHANNEL_POS,
            store_id=store_id,
            order_id="o-" + new_key(),
            amount=common_pb2.Money(amount_minor=25000, currency="EUR"),
            occurred_at=to_timestamp(now - timedelta(seconds=1)),
        )
    )
    assert bought.provisional_member_created
    provisional = bought.member_id
    assert bought.balance.available == 250
    redeemed = await rewards_stub(running.channel, till).RedeemReward(
        rewards_pb2.RedeemRewardRequest(
            idempotency_key=new_key(),
            member=card_ref,
            reward_id=reward.reward_id,
            channel=common_pb2.CHANNEL_POS,
            store_id=store_id,
        )
    )
    code = redeemed.voucher.code
    assert (redeemed.voucher.member_id, redeemed.available_points) == (provisional, 150)
    async with running.engine.connect() as conn:
        assert await play_token_balance(conn, provisional) == 3

    real = (await running.enroll(display_name="Real")).member_id
    linked = await web.members.LinkIdentifier(
        members_pb2.LinkIdentifierRequest(
            idempotency_key=new_key(),
            member_id=real,
            identifier=common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_CARD, value=card),
        )
    )
    assert (linked.merged_member_id, linked.merged_points) == (provisional, 150)

    # The voucher is the real member's: they see it by code and in their list; the till finds it too.
    real_rewards = rewards_stub(running.channel, await running.member_client(real))
    got = await real_rewards.GetVoucher(rewards_pb2.GetVoucherRequest(code=code))
    assert (got.voucher.member_id, got.voucher.state) == (real, rewards_pb2.VOUCHER_STATE_ISSUED)
    listed = await real_rewards.ListVouchers(
        rewards_pb2.ListVouchersRequest(member=common_pb2.MemberRef(member_id=real))
    )
    assert [v.code for v in listed.vouchers] == [code]
    assert (
        await rewards_stub(running.channel, till).GetVoucher(rewards_pb2.GetVoucherRequest(code=code))
    ).voucher.member_id == real
    old = await rewards_stub(running.channel, back).ListVouchers(
        rewards_pb2.ListVouchersRequest(member=common_pb2.MemberRef(member_id=provisional))
    )
    assert list(old.vouchers) == []

    # Cancelling it gives the points back to the real member.
    cancelled = await real_rewards.CancelVoucher(
        rewards_pb2.CancelVoucherRequest(idempotency_key=new_key(), code=code)
    )
    assert (cancelled.points_returned, cancelled.available_points) == (100, 250)
    assert cancelled.voucher.state == rewards_pb2.VOUCHER_STATE_CANCELLED
    balance = await back.ledger.GetBalance(
        ledger_pb2.GetBalanceRequest(member=common_pb2.MemberRef(member_id=real))
    )
    assert balance.balance.available == 250
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await real_rewards.CancelVoucher(
            rewards_pb2.CancelVoucherRequest(idempotency_key=new_key(), code=code)
        )
    assert reason(caught.value) == "VOUCHER_CANCELLED"

    async with running.engine.connect() as conn:
        assert await play_token_balance(conn, provisional) == 0
        assert await play_token_balance(conn, real) == 3
        merges = (
            await conn.execute(
                select(
                    play_token_entries.c.member_id,
                    play_token_entries.c.tokens,
                    play_token_entries.c.source_ref,
                )
                .where(play_token_entries.c.source_type == "merge")
                .order_by(play_token_entries.c.tokens)
            )
        ).all()
        assert [tuple(m) for m in merges] == [(provisional, -3, real), (real, 3, provisional)]
        assert await check_ledger(conn) == []


async def test_link_without_vouchers_or_tokens_moves_nothing_else(isolated_service: Running) -> None:
    """Goal: a provisional member with only points merges as before; no token entries are written."""
    running = isolated_service
    assert running.clock is not None
    now = running.clock.now()
    back = await running.client("backoffice")
    store_id = await running.store()
    till = await running.client("pos", store_id=store_id)
    await back.program.CreateEarningRule(
        program_pb2.CreateEarningRuleRequest(
            idempotency_key=new_key(),
            spec=program_pb2.EarningRuleSpec(
                name="base", kind=program_pb2.EARNING_RULE_KIND_BASE_RATE, currency="EUR", points_per_unit="1"
            ),
            effective_from=to_timestamp(now - timedelta(days=1)),
        )
    )
    card = "MRN" + secrets.token_hex(5).upper()
    bought = await till.ledger.RecordPurchase(
        ledger_pb2.RecordPurchaseRequest(
            idempotency_key=new_key(),
            member=common_pb2.MemberRef(
                identifier=common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_CARD, value=card)
            ),
            channel=common_pb2.CHANNEL_POS,
            store_id=store_id,
            order_id="o-" + new_key(),
            amount=common_pb2.Money(amount_minor=1000, currency="EUR"),
            occurred_at=to_timestamp(now - timedelta(seconds=1)),
        )
    )
    real = (await running.enroll(display_name="Real")).member_id
    web = await running.client("webshop")
    linked = await web.members.LinkIdentifier(
        members_pb2.LinkIdentifierRequest(
            idempotency_key=new_key(),
            member_id=real,
            identifier=common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_CARD, value=card),
        )
    )
    assert (linked.merged_member_id, linked.merged_points) == (bought.member_id, 10)
    async with running.engine.connect() as conn:
        assert (await conn.execute(select(play_token_entries.c.entry_id))).all() == []
        assert await check_ledger(conn) == []
