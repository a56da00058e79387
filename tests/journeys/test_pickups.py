"""Click-and-collect stories through gRPC: web order -> pickup at a till -> bonus; an uncollected order
cancelled after N days; refunds of uncollected orders; bad input."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import pytest
from loyalty.v1 import common_pb2, journeys_pb2, ledger_pb2
from sqlalchemy import text

from loyalty_service.ledger.check import check_ledger
from loyalty_service.ledger.maintenance import run_once
from loyalty_service.proto_time import to_timestamp
from tests.journeys.conftest import confirm, event_types, journey_settings, now_of, web_order
from tests.ledger.conftest import make_programme, member_ref, reason, violations
from tests.support.api import Running, new_key
from tests.tiers.test_stories import ladder_spec, set_ladder, tier_of


async def _problems(running: Running) -> list[str]:
    async with running.engine.connect() as conn:
        return await check_ledger(conn)


async def test_web_order_collected_at_the_till_releases_points_and_pays_the_bonus(
    isolated_service: Running,
) -> None:
    """Goal: an order's points wait pending until the pickup store's till confirms; then they are
    spendable at once with the pickup bonus; a retry answers the same; a second pickup is refused."""
    running = isolated_service
    programme = await make_programme(running)
    await journey_settings(running, pickup_deadline_days=7, pickup_bonus_points=25)
    member = await programme.member()
    now = now_of(running)
    order_id = "cc-" + new_key()
    order = await web_order(
        programme,
        member,
        4200,
        pickup_store_id=programme.store_id,
        occurred_at=now - timedelta(minutes=1),
        order_id=order_id,
    )
    assert order.points == 42
    assert order.HasField("pickup_deadline")
    assert not order.HasField("available_at")
    assert order.pickup_deadline == to_timestamp(now - timedelta(minutes=1) + timedelta(days=7))
    assert (order.balance.available, order.balance.pending) == (0, 42)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await programme.web.ledger.SpendPoints(
            ledger_pb2.SpendPointsRequest(
                idempotency_key=new_key(),
                member=member_ref(member),
                points=10,
                channel=common_pb2.CHANNEL_WEBSHOP,
                order_id="spend-1",
            )
        )
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION

    web_view = await programme.web.journeys.GetPickup(journeys_pb2.GetPickupRequest(order_id=order_id))
    assert web_view.pickup.status == journeys_pb2.PICKUP_STATUS_AWAITING

    other_store = await running.store()
    other_till = await running.client("pos", store_id=other_store)
    with pytest.raises(grpc.aio.AioRpcError) as wrong:
        await confirm(other_till, order_id, other_store)
    assert wrong.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(wrong.value) == "WRONG_STORE"
    with pytest.raises(grpc.aio.AioRpcError) as not_mine:
        await confirm(other_till, order_id, programme.store_id)
    assert not_mine.value.code() is grpc.StatusCode.PERMISSION_DENIED

    key = new_key()
    picked = await confirm(programme.till, order_id, programme.store_id, key=key)
    assert (picked.points_released, picked.bonus_points) == (42, 25)
    assert (picked.balance.available, picked.balance.pending) == (67, 0)
    assert picked.pickup.status == journeys_pb2.PICKUP_STATUS_COLLECTED
    assert await confirm(programme.till, order_id, programme.store_id, key=key) == picked
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await confirm(programme.till, order_id, programme.store_id)
    assert reason(again.value) == "ALREADY_COLLECTED"

    entries = await programme.back.ledger.ListLedgerEntries(
        ledger_pb2.ListLedgerEntriesRequest(member_id=member)
    )
    bonus = entries.entries[0]
    assert (bonus.type, bonus.points, bonus.source_type) == (ledger_pb2.ENTRY_TYPE_BONUS, 25, "pickup_bonus")
    assert "pickup_confirmed" in await event_types(running, member)
    assert (await programme.balance(member)).available == 67
    assert await _problems(running) == []


async def test_uncollected_order_is_cancelled_after_the_deadline_and_its_points_reversed(
    isolated_service: Running,
) -> None:
    """Goal: the maintenance task cancels an order not collected in N days and reverses its points
    through the ledger; before the deadline nothing happens; the till is then refused; a late refund
    reverses nothing more; the ledger invariants hold."""
    running = isolated_service
    clock = running.clock
    assert clock is not None
    programme = await make_programme(running)
    await journey_settings(running, pickup_deadline_days=3, pickup_bonus_points=10)
    member = await programme.member()
    await programme.buy(member, 1000, occurred_at=now_of(running) - timedelta(minutes=2))
    order = await web_order(
        programme,
        member,
        5000,
        pickup_store_id=programme.store_id,
        occurred_at=now_of(running) - timedelta(minutes=1),
        order_id="late-1",
    )
    assert (order.balance.available, order.balance.pending) == (10, 50)

    clock.advance(timedelta(days=2))
    assert (await run_once(running.engine, clock.now())).pickups_cancelled == 0
    view = await programme.web.journeys.GetPickup(journeys_pb2.GetPickupRequest(order_id="late-1"))
    assert view.pickup.status == journeys_pb2.PICKUP_STATUS_AWAITING

    clock.advance(timedelta(days=1))
    assert (await run_once(running.engine, clock.now())).pickups_cancelled == 1
    assert (
        await run_once(running.engine, clock.now())
    ).pickups_cancelled == 0  # a second run changes nothing
    view = await programme.web.journeys.GetPickup(journeys_pb2.GetPickupRequest(order_id="late-1"))
    assert view.pickup.status == journeys_pb2.PICKUP_STATUS_CANCELLED
    assert view.pickup.cancel_reason == "not_collected"
    balance = await programme.balance(member)
    assert (balance.available, balance.pending, balance.lifetime_earned) == (10, 0, 10)
    entries = await programme.back.ledger.ListLedgerEntries(
        ledger_pb2.ListLedgerEntriesRequest(member_id=member)
    )
    reversal = entries.entries[0]
    assert (reversal.type, reversal.points, reversal.source_type) == (
        ledger_pb2.ENTRY_TYPE_REFUND_REVERSAL,
        -50,
        "pickup_cancelled",
    )
    assert "pickup_cancelled" in await event_types(running, member)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await confirm(programme.till, "late-1", programme.store_id)
    assert reason(refused.value) == "ORDER_CANCELLED"

    refund = await programme.web.ledger.RecordRefund(
        ledger_pb2.RecordRefundRequest(
            idempotency_key=new_key(),
            channel=common_pb2.CHANNEL_WEBSHOP,
            order_id="late-1",
            amount=common_pb2.Money(amount_minor=5000, currency=programme.currency),
            occurred_at=to_timestamp(clock.now()),
        )
    )
    assert refund.points_reversed == 0
    assert refund.balance.available == 10
    assert await _problems(running) == []


async def test_refunds_of_an_uncollected_order(isolated_service: Running) -> None:
    """Goal: a partial refund of an uncollected order takes its pending points; the pickup then releases
    the rest; a full refund cancels the pickup (ORDER_REFUNDED at the till)."""
    running = isolated_service
    programme = await make_programme(running)
    await journey_settings(running, pickup_deadline_days=5)
    member = await programme.member()
    at = now_of(running) - timedelta(minutes=5)
    await web_order(
        programme, member, 3000, pickup_store_id=programme.store_id, occurred_at=at, order_id="r-1"
    )
    await web_order(
        programme, member, 2000, pickup_store_id=programme.store_id, occurred_at=at, order_id="r-2"
    )

    async def refund(order: str, amount: int) -> ledger_pb2.RecordRefundResponse:
        answer: ledger_pb2.RecordRefundResponse = await programme.web.ledger.RecordRefund(
            ledger_pb2.RecordRefundRequest(
                idempotency_key=new_key(),
                channel=common_pb2.CHANNEL_WEBSHOP,
                order_id=order,
                amount=common_pb2.Money(amount_minor=amount, currency=programme.currency),
                occurred_at=to_timestamp(now_of(running)),
            )
        )
        return answer

    partial = await refund("r-1", 1000)
    assert partial.points_reversed == 10
    assert (partial.balance.available, partial.balance.pending) == (0, 40)
    picked = await confirm(programme.till, "r-1", programme.store_id)
    assert (picked.points_released, picked.bonus_points, picked.balance.available) == (20, 0, 20)

    full = await refund("r-2", 2000)
    assert (full.points_reversed, full.balance.pending) == (20, 0)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await confirm(programme.till, "r-2", programme.store_id)
    assert reason(refused.value) == "ORDER_REFUNDED"
    assert await _problems(running) == []


async def test_bad_click_and_collect_input_changes_nothing(isolated_service: Running) -> None:
    """Goal: a pickup store on a till sale, an unknown store, a malformed request, an unknown order and a
    normal web order are refused with the right status, and nothing is recorded."""
    running = isolated_service
    programme = await make_programme(running)
    member = await programme.member()
    at = now_of(running) - timedelta(minutes=1)
    with pytest.raises(grpc.aio.AioRpcError) as on_till:
        await programme.buy(member, 1000, pickup_store_id=programme.store_id, occurred_at=at)
    assert on_till.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "pickup_store_id" in violations(on_till.value)
    with pytest.raises(grpc.aio.AioRpcError) as unknown_store:
        await web_order(programme, member, 1000, pickup_store_id="nowhere", occurred_at=at, order_id="u-1")
    assert unknown_store.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "pickup_store_id" in violations(unknown_store.value)
    assert (await programme.balance(member)).pending == 0

    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await programme.till.journeys.ConfirmPickup(journeys_pb2.ConfirmPickupRequest(order_id="bad id!"))
    assert malformed.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert {"idempotency_key", "order_id", "store_id"} <= set(violations(malformed.value))
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await confirm(programme.till, "no-such-order", programme.store_id)
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND
    await web_order(programme, member, 1000, occurred_at=at, order_id="plain-1")
    with pytest.raises(grpc.aio.AioRpcError) as plain:
        await confirm(programme.till, "plain-1", programme.store_id)
    assert reason(plain.value) == "NOT_CLICK_AND_COLLECT"
    with pytest.raises(grpc.aio.AioRpcError) as web_confirms:
        await confirm(programme.web, "plain-1", programme.store_id)
    assert web_confirms.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_check_reports_an_awaiting_order_with_released_points(isolated_service: Running) -> None:
    """Goal: `check` sees the click-and-collect invariant: an awaiting order keeps its points pending."""
    running = isolated_service
    programme = await make_programme(running)
    member = await programme.member()
    at = now_of(running) - timedelta(minutes=1)
    await web_order(
        programme, member, 1000, pickup_store_id=programme.store_id, occurred_at=at, order_id="chk-1"
    )
    assert await _problems(running) == []
    async with running.engine.begin() as conn:
        await conn.execute(
            text(
                "update lots set released = true"
                " where lot_id = (select lot_id from pickups where order_id = 'chk-1')"
            )
        )
    assert any("chk-1 awaits its pickup" in problem for problem in await _problems(running))


async def test_concurrent_pickups_and_the_deadline_race_pay_once(isolated_service: Running) -> None:
    """Goal: two confirmations at once (different keys) collect once and pay one bonus; a confirmation
    racing the maintenance run past the deadline is refused either way, and the order is reversed once."""
    running = isolated_service
    clock = running.clock
    assert clock is not None
    programme = await make_programme(running)
    await journey_settings(running, pickup_deadline_days=1, pickup_bonus_points=5)
    member = await programme.member()
    at = now_of(running) - timedelta(minutes=1)
    await web_order(
        programme, member, 1000, pickup_store_id=programme.store_id, occurred_at=at, order_id="race-1"
    )
    await web_order(
        programme, member, 2000, pickup_store_id=programme.store_id, occurred_at=at, order_id="race-2"
    )
    results = await asyncio.gather(
        *(confirm(programme.till, "race-1", programme.store_id) for _ in range(4)), return_exceptions=True
    )
    done = [r for r in results if isinstance(r, journeys_pb2.ConfirmPickupResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(done) == 1
    assert {reason(r) for r in refused} == {"ALREADY_COLLECTED"}

    clock.advance(timedelta(days=1))
    outcome = await asyncio.gather(
        confirm(programme.till, "race-2", programme.store_id),
        run_once(running.engine, clock.now()),
        return_exceptions=True,
    )
    assert isinstance(outcome[0], grpc.aio.AioRpcError)
    assert reason(outcome[0]) == "ORDER_CANCELLED"  # past the deadline, whether the job ran first or not
    view = await programme.web.journeys.GetPickup(journeys_pb2.GetPickupRequest(order_id="race-2"))
    assert view.pickup.status == journeys_pb2.PICKUP_STATUS_CANCELLED
    balance = await programme.balance(member)
    assert (balance.available, balance.pending) == (10 + 5, 0)
    assert await _problems(running) == []


async def test_a_cancelled_order_no_longer_counts_towards_status_tiers(isolated_service: Running) -> None:
    """Goal: the upgrade an uncollected order caused is undone when the order is cancelled, as a full
    refund would undo it (tiers.api.on_refund)."""
    running = isolated_service
    clock = running.clock
    assert clock is not None
    programme = await make_programme(running)
    await set_ladder(programme, ladder_spec())
    await journey_settings(running, pickup_deadline_days=2)
    member = await programme.member()
    await web_order(
        programme,
        member,
        12_000,
        pickup_store_id=programme.store_id,
        occurred_at=now_of(running),
        order_id="t-1",
    )
    assert (await tier_of(programme, member)).tier_id == "silver"
    clock.advance(timedelta(days=2, seconds=1))
    await run_once(running.engine, clock.now())
    assert (await tier_of(programme, member)).tier_id == "member"
    assert await _problems(running) == []
