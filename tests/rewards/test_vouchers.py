"""Redeeming through the web shop, using at a till, refusing the wrong store and a second use, cancelling."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from loyalty.v1 import common_pb2, ledger_pb2, rewards_pb2

from loyalty_service.db.tables_rewards import rewards, vouchers
from loyalty_service.ledger.check import check_ledger
from loyalty_service.ledger.maintenance import run_once
from loyalty_service.rewards import codes
from tests.rewards.conftest import details, give_points, make_reward, reason, rewards_stub
from tests.support.api import Running, new_key


def _member(member_id: str) -> common_pb2.MemberRef:
    return common_pb2.MemberRef(member_id=member_id)


async def _available(running: Running, member_id: str) -> int:
    back = await running.client("backoffice")
    answer = await back.ledger.GetBalance(ledger_pb2.GetBalanceRequest(member=_member(member_id)))
    return int(answer.balance.available)


async def _redeem_on_web(
    running: Running, member_id: str, reward_id: str
) -> rewards_pb2.RedeemRewardResponse:
    web = rewards_stub(running.channel, await running.client("webshop"))
    answer: rewards_pb2.RedeemRewardResponse = await web.RedeemReward(
        rewards_pb2.RedeemRewardRequest(
            idempotency_key=new_key(),
            member=_member(member_id),
            reward_id=reward_id,
            channel=common_pb2.CHANNEL_WEBSHOP,
        )
    )
    return answer


def _use(
    code: str, store_id: str, channel: common_pb2.Channel.ValueType = common_pb2.CHANNEL_POS
) -> rewards_pb2.UseVoucherRequest:
    return rewards_pb2.UseVoucherRequest(
        idempotency_key=new_key(), code=code, channel=channel, store_id=store_id, order_id="R-1"
    )


async def test_web_voucher_is_used_once_at_an_allowed_store(service: Running) -> None:
    """Goal: a web-shop voucher works at a till of an allowed store, once; another store is refused."""
    allowed, other = await service.store(), await service.store()
    reward = await make_reward(service, points_cost=300, store_ids=(allowed,))
    member = await service.enroll()
    await give_points(await service.client("backoffice"), member.member_id, 1000)

    redeemed = await _redeem_on_web(service, member.member_id, reward.reward_id)
    assert redeemed.available_points == 700
    assert redeemed.voucher.state == rewards_pb2.VOUCHER_STATE_ISSUED
    assert codes.is_well_formed(redeemed.voucher.code.replace("-", ""))

    other_till = rewards_stub(service.channel, await service.client("pos", store_id=other))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await other_till.UseVoucher(_use(redeemed.voucher.code, other))
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(refused.value) == "VOUCHER_NOT_VALID_HERE"

    till = rewards_stub(service.channel, await service.client("pos", store_id=allowed))
    scanned = await till.GetVoucher(rewards_pb2.GetVoucherRequest(code=redeemed.voucher.code.lower()))
    assert scanned.voucher.voucher_id == redeemed.voucher.voucher_id
    used = await till.UseVoucher(_use(redeemed.voucher.code, allowed))
    assert used.voucher.state == rewards_pb2.VOUCHER_STATE_USED
    assert used.voucher.used_store_id == allowed

    with pytest.raises(grpc.aio.AioRpcError) as again:
        await till.UseVoucher(_use(redeemed.voucher.code, allowed))
    found_reason, metadata, _ = details(again.value)
    assert again.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert found_reason == "VOUCHER_ALREADY_USED"
    assert metadata["store_id"] == allowed
    assert metadata["used_at"]

    web = rewards_stub(service.channel, await service.client("webshop"))
    with pytest.raises(grpc.aio.AioRpcError) as cancel_used:
        await web.CancelVoucher(
            rewards_pb2.CancelVoucherRequest(idempotency_key=new_key(), code=redeemed.voucher.code)
        )
    assert reason(cancel_used.value) == "VOUCHER_ALREADY_USED"


async def test_cancel_gives_back_exactly_its_points_and_stock(service: Running) -> None:
    """Goal: cancelling an unused voucher returns its points (REDEEM_CANCEL) and its unit of stock."""
    reward = await make_reward(service, points_cost=250, stock=5)
    member = await service.enroll()
    await give_points(await service.client("backoffice"), member.member_id, 400)
    redeemed = await _redeem_on_web(service, member.member_id, reward.reward_id)
    assert await _available(service, member.member_id) == 150

    app = rewards_stub(service.channel, await service.member_client(member.member_id))
    cancelled = await app.CancelVoucher(
        rewards_pb2.CancelVoucherRequest(idempotency_key=new_key(), code=redeemed.voucher.code)
    )
    assert cancelled.points_returned == 250
    assert cancelled.available_points == 400
    assert cancelled.voucher.state == rewards_pb2.VOUCHER_STATE_CANCELLED
    assert await _available(service, member.member_id) == 400
    back = await service.client("backoffice")
    entries = await back.ledger.ListLedgerEntries(
        ledger_pb2.ListLedgerEntriesRequest(member_id=member.member_id, page_size=50)
    )
    kinds = [(e.type, e.points) for e in entries.entries]
    assert (ledger_pb2.ENTRY_TYPE_REDEEM, -250) in kinds
    assert (ledger_pb2.ENTRY_TYPE_REDEEM_CANCEL, 250) in kinds
    catalogue = await back.program.ListRewardCatalogue(rewards_pb2.ListRewardCatalogueRequest())
    mine = next(r for r in catalogue.rewards if r.reward_id == reward.reward_id)
    assert (mine.stock_total, mine.stock_remaining) == (5, 5)
    async with service.engine.connect() as conn:
        assert await check_ledger(conn) == []


async def test_member_listing_and_refusals_say_why(service: Running) -> None:
    """Goal: offers say what a member can afford; refusals name the reason and write nothing."""
    reward = await make_reward(service, points_cost=500, stock=1, per_member_limit=1)
    member = await service.enroll()
    await give_points(await service.client("backoffice"), member.member_id, 600)
    app = rewards_stub(service.channel, await service.member_client(member.member_id))
    offers = await app.ListRewards(rewards_pb2.ListRewardsRequest())
    offer = next(o for o in offers.offers if o.reward.reward_id == reward.reward_id)
    assert offer.affordable
    assert offer.redeemable
    request = rewards_pb2.RedeemRewardRequest(
        idempotency_key=new_key(),
        member=_member(member.member_id),
        reward_id=reward.reward_id,
        channel=common_pb2.CHANNEL_APP,
    )
    first = await app.RedeemReward(request)
    assert first.available_points == 100
    assert (await app.RedeemReward(request)) == first  # a retry: the same answer, no second voucher
    request.idempotency_key = new_key()
    with pytest.raises(grpc.aio.AioRpcError) as limited:
        await app.RedeemReward(request)
    assert reason(limited.value) == "REWARD_LIMIT_REACHED"
    other = await service.enroll()
    await give_points(await service.client("backoffice"), other.member_id, 100)
    web = rewards_stub(service.channel, await service.client("webshop"))
    with pytest.raises(grpc.aio.AioRpcError) as poor:
        await web.RedeemReward(
            rewards_pb2.RedeemRewardRequest(
                idempotency_key=new_key(),
                member=_member(other.member_id),
                reward_id=reward.reward_id,
                channel=common_pb2.CHANNEL_WEBSHOP,
            )
        )
    assert reason(poor.value) == "INSUFFICIENT_POINTS"


async def test_bad_input_is_invalid_argument_and_writes_nothing(service: Running) -> None:
    """Goal: every bad field is named at once; a mistyped code differs from an unknown one."""
    web = rewards_stub(service.channel, await service.client("webshop"))
    async with service.engine.connect() as conn:
        before = [(await conn.execute(rewards.select())).all(), (await conn.execute(vouchers.select())).all()]
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await web.RedeemReward(rewards_pb2.RedeemRewardRequest(idempotency_key="", reward_id="nope"))
    _, _, fields = details(bad.value)
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert {"idempotency_key", "member", "reward_id", "channel"} <= set(fields)
    back = await service.client("backoffice")
    with pytest.raises(grpc.aio.AioRpcError) as bad_reward:
        await back.program.CreateReward(
            rewards_pb2.CreateRewardRequest(idempotency_key=new_key(), reward=rewards_pb2.RewardDefinition())
        )
    _, _, fields = details(bad_reward.value)
    assert {"reward.name", "reward.channels", "reward.voucher_valid_days", "reward.value"} <= set(fields)
    async with service.engine.connect() as conn:
        after = [(await conn.execute(rewards.select())).all(), (await conn.execute(vouchers.select())).all()]
    assert before == after

    valid_unknown = codes.format_code(codes.new_code())
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await web.GetVoucher(rewards_pb2.GetVoucherRequest(code=valid_unknown))
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
    canonical = valid_unknown.replace("-", "")
    typo = canonical[:3] + next(c for c in codes.ALPHABET if c != canonical[3]) + canonical[4:]
    with pytest.raises(grpc.aio.AioRpcError) as mistyped:
        await web.GetVoucher(rewards_pb2.GetVoucherRequest(code=typo))
    assert mistyped.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "mistyped" in details(mistyped.value)[2]["code"]


async def test_repeated_misses_are_rate_limited(service: Running) -> None:
    """Goal: a credential guessing codes is slowed down with RESOURCE_EXHAUSTED and a retry delay."""
    till = rewards_stub(service.channel, await service.client("pos", store_id="guess-" + new_key()[2:8]))
    seen = []
    for _ in range(25):
        try:
            await till.GetVoucher(rewards_pb2.GetVoucherRequest(code=codes.new_code()))
        except grpc.aio.AioRpcError as error:
            seen.append(error.code())
    assert seen[0] is grpc.StatusCode.NOT_FOUND
    assert seen[-1] is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_expired_vouchers_are_marked_and_return_nothing(isolated_service: Running) -> None:
    """Goal: past validity a voucher is refused, the job marks it expired, no points come back."""
    running = isolated_service
    assert running.clock is not None
    store_id = await running.store()
    reward = await make_reward(running, points_cost=100, stock=3, valid_days=1)
    member = await running.enroll()
    await give_points(await running.client("backoffice"), member.member_id, 100)
    redeemed = await _redeem_on_web(running, member.member_id, reward.reward_id)
    running.clock.advance(timedelta(days=2))
    till = rewards_stub(running.channel, await running.client("pos", store_id=store_id))
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await till.UseVoucher(_use(redeemed.voucher.code, store_id))
    assert reason(late.value) == "VOUCHER_EXPIRED"
    await run_once(running.engine, running.clock.now())
    scanned = await till.GetVoucher(rewards_pb2.GetVoucherRequest(code=redeemed.voucher.code))
    assert scanned.voucher.state == rewards_pb2.VOUCHER_STATE_EXPIRED
    assert await _available(running, member.member_id) == 0
    async with running.engine.connect() as conn:
        assert await check_ledger(conn) == []
