"""Pending points, expiry and the maintenance run, on a programme of its own with a clock we move."""

from __future__ import annotations

from datetime import timedelta

from loyalty.v1 import common_pb2, ledger_pb2, program_pb2
from sqlalchemy import text

from loyalty_service.ledger.check import check_ledger
from loyalty_service.ledger.maintenance import run_once
from loyalty_service.proto_time import to_timestamp
from tests.ledger.conftest import Programme, make_programme
from tests.support.api import Running, new_key


async def _settings(programme: Programme, *, pending_days: int, expiry_months: int) -> None:
    await programme.back.program.UpdateProgramSettings(
        program_pb2.UpdateProgramSettingsRequest(
            idempotency_key=new_key(),
            settings=program_pb2.ProgramSettings(
                pending_days=pending_days, expiry_months=expiry_months, offline_max_age_days=30
            ),
        )
    )


async def _maintain(running: Running) -> tuple[int, int]:
    assert running.clock is not None
    released, expired, _cancelled = await run_once(running.engine, running.clock.now())
    return released, expired


async def _problems(running: Running) -> list[str]:
    async with running.engine.connect() as conn:
        return await check_ledger(conn)


async def test_pending_points_release_and_refund_inside_window(isolated_service: Running) -> None:
    """Goal: purchase points wait out the return window; a refund inside it takes pending points first."""
    programme = await make_programme(isolated_service)
    clock = isolated_service.clock
    assert clock is not None
    await _settings(programme, pending_days=14, expiry_months=0)
    member_id = await programme.member()
    await programme.back.ledger.AdjustPoints(
        ledger_pb2.AdjustPointsRequest(
            idempotency_key=new_key(), member_id=member_id, points=5, reason="welcome"
        )
    )
    order_id = "o-" + new_key()
    bought = await programme.buy(member_id, 10_000, order_id=order_id, occurred_at=clock.now())
    assert (bought.balance.available, bought.balance.pending) == (5, 100)
    assert bought.available_at.ToDatetime().date() == (clock.now() + timedelta(days=14)).date()
    refunded = await programme.till.ledger.RecordRefund(
        ledger_pb2.RecordRefundRequest(
            idempotency_key=new_key(),
            channel=common_pb2.CHANNEL_POS,
            store_id=programme.store_id,
            order_id=order_id,
            amount=common_pb2.Money(amount_minor=2500, currency=programme.currency),
            occurred_at=to_timestamp(clock.now()),
        )
    )
    assert (refunded.balance.available, refunded.balance.pending) == (5, 75)
    assert await _maintain(isolated_service) == (0, 0)
    clock.advance(timedelta(days=14, seconds=1))
    assert (await programme.balance(member_id)).available == 80  # a read already counts them
    assert await _maintain(isolated_service) == (1, 0)
    assert await _maintain(isolated_service) == (0, 0)
    balance = await programme.balance(member_id)
    assert (balance.available, balance.pending) == (80, 0)
    assert await _problems(isolated_service) == []


async def test_expiry_oldest_first_and_never_twice(isolated_service: Running) -> None:
    """Goal: points expire M months after earning, spends use the oldest first, a rerun expires nothing."""
    programme = await make_programme(isolated_service)
    clock = isolated_service.clock
    assert clock is not None
    await _settings(programme, pending_days=0, expiry_months=12)
    member_id = await programme.member()
    await programme.buy(member_id, 10_000, occurred_at=clock.now())  # 100, expires in 12 months
    clock.advance(timedelta(days=100))
    second = await programme.buy(member_id, 5_000, occurred_at=clock.now())  # 50, 100 days later
    assert second.balance.next_expiry.points == 100
    await programme.web.ledger.SpendPoints(
        ledger_pb2.SpendPointsRequest(
            idempotency_key=new_key(),
            member=common_pb2.MemberRef(member_id=member_id),
            points=30,
            channel=common_pb2.CHANNEL_WEBSHOP,
            order_id="w1",
        )
    )
    clock.advance(timedelta(days=270))  # past the first purchase's expiry, before the second's
    assert await _maintain(isolated_service) == (0, 1)
    assert await _maintain(isolated_service) == (0, 0)
    balance = await programme.balance(member_id)
    assert balance.available == 50
    assert balance.next_expiry.points == 50
    expired = await programme.back.ledger.ListLedgerEntries(
        ledger_pb2.ListLedgerEntriesRequest(member_id=member_id, types=[ledger_pb2.ENTRY_TYPE_EXPIRE])
    )
    assert [e.points for e in expired.entries] == [-70]
    assert expired.entries[0].source_type == "expiry"
    assert await _problems(isolated_service) == []


async def test_check_reports_a_corrupted_balance(isolated_service: Running) -> None:
    """Goal: `check` finds a balance row that no longer matches its entries, and names the member."""
    programme = await make_programme(isolated_service)
    member_id = await programme.member()
    await programme.buy(member_id, 1000)
    assert await _problems(isolated_service) == []
    async with isolated_service.engine.begin() as conn:
        await conn.execute(
            text("update accounts set available = available + 7 where member_id = :m"), {"m": member_id}
        )
    problems = await _problems(isolated_service)
    assert problems
    assert all(member_id in problem for problem in problems)
    async with isolated_service.engine.begin() as conn:
        await conn.execute(
            text("update purchases set refunded_minor = 1 where member_id = :m"), {"m": member_id}
        )
    assert any("purchase" in problem for problem in await _problems(isolated_service))
