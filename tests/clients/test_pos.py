"""The till client against a real server: its whole surface, blocking use, and the offline story."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from loyalty_clients import (
    AsyncMarketingClient,
    AsyncPosClient,
    DuplicateOrder,
    EarningRuleSpec,
    EntryType,
    Identifier,
    InsufficientPoints,
    MarketingClient,
    MemberStatus,
    Money,
    PosClient,
    PurchaseResult,
    QueuedPurchase,
    RetryPolicy,
)

from tests.clients.conftest import ledger_guard, make_keys, target_of, unique, unique_card
from tests.support.api import Running
from tests.support.database import TestDatabase
from tests.support.processes import start_server_process


async def base_rate(target: str, backoffice_key: str) -> None:
    async with AsyncMarketingClient(api_key=backoffice_key, target=target) as office:
        await office.create_earning_rule(
            spec=EarningRuleSpec.base_rate(name="base", currency="EUR", points_per_unit=1),
            effective_from=datetime.now(UTC) - timedelta(days=400),
        )


async def test_till_surface(isolated_service: Running) -> None:
    """Goal: every till call works end to end and answers with typed results and typed errors."""
    keys = await make_keys(isolated_service.url)
    target = target_of(isolated_service)
    await base_rate(target, keys.backoffice)
    card, phone = unique_card(), "+3361" + str(10_000_000 + hash(unique("p")) % 89_999_999)
    async with AsyncPosClient(store_id=keys.store_id, api_key=keys.pos, target=target) as till:
        member = await till.enroll_member(
            display_name="Ada", identifiers=[Identifier.card(card), Identifier.phone(phone)]
        )
        assert (await till.lookup_member(identifier=Identifier.card(card))).member_id == member.member_id
        assert (await till.lookup_member(identifier=Identifier.phone(phone))).member_id == member.member_id
        assert (await till.get_member(member_id=member.member_id)).display_name == "Ada"
        with ledger_guard():
            at = datetime.now(UTC) - timedelta(minutes=1)
            first = await till.record_purchase(
                member=Identifier.card(card),
                order_id="T-1",
                amount=Money(2500, "EUR"),
                occurred_at=at,
                idempotency_key="till-k1",
            )
            assert isinstance(first, PurchaseResult)
            assert first.points == 25
            assert first.member_id == member.member_id
            assert [r.name for r in first.applied_rules] == ["base"]
            again = await till.record_purchase(
                member=Identifier.card(card),
                order_id="T-1",
                amount=Money(2500, "EUR"),
                occurred_at=at,
                idempotency_key="till-k1",
            )
            assert isinstance(again, PurchaseResult)
            assert again.purchase_id == first.purchase_id
            with pytest.raises(DuplicateOrder):
                await till.record_purchase(member=member.member_id, order_id="T-1", amount=Money(2500, "EUR"))
            refund = await till.record_refund(order_id="T-1", amount=Money(1000, "EUR"))
            assert refund.points_reversed == 10
            spend = await till.spend_points(member=member.member_id, points=5, order_id="T-2")
            assert spend.balance is not None
            assert spend.balance.available == 10
            cancelled = await till.cancel_spend(member_id=member.member_id, spend_id=spend.spend_id)
            assert cancelled.points_returned == 5
            with pytest.raises(InsufficientPoints) as refused:
                await till.spend_points(member=member.member_id, points=10_000, order_id="T-4")
            assert (refused.value.available, refused.value.requested) == (15, 10_000)
            balance = await till.balance(member=Identifier.phone(phone))
            assert (balance.available, balance.member_id) == (15, member.member_id)
            # An unknown card accrues to a provisional member, merged in when the card is linked.
            stray = unique_card()
            provisional = await till.record_purchase(
                member=Identifier.card(stray), order_id="T-3", amount=Money(700, "EUR"), occurred_at=at
            )
            assert isinstance(provisional, PurchaseResult)
            assert provisional.provisional_member_created
            holder = await till.lookup_member(identifier=Identifier.card(stray))
            assert holder.status is MemberStatus.PROVISIONAL
            linked = await till.link_identifier(member_id=member.member_id, identifier=Identifier.card(stray))
            assert (linked.merged_member_id, linked.merged_points) == (holder.member_id, 7)
            assert (await till.balance(member=member.member_id)).available == 22
        with pytest.raises(RuntimeError):
            await till.sync()
        assert keys.pos not in repr(till)
        assert keys.store_id in repr(till)


async def test_blocking_till_runs_the_same_calls(service: Running) -> None:
    """Goal: the blocking PosClient works from plain threaded code and never shows its key."""
    keys = await make_keys(service.url)
    card = unique_card()

    def till_program() -> tuple[str, str, int]:
        with PosClient(store_id=keys.store_id, api_key=keys.pos, target=target_of(service)) as till:
            member = till.enroll_member(identifiers=[Identifier.card(card)])
            found = till.lookup_member(identifier=Identifier.card(card))
            assert found.member_id == member.member_id
            with ledger_guard():
                return repr(till), member.member_id, till.balance(member=Identifier.card(card)).available
        raise AssertionError("unreachable")

    shown, member_id, available = await asyncio.to_thread(till_program)
    assert keys.pos not in shown
    assert member_id.startswith("mem_")
    assert available == 0


async def test_offline_till_queues_restarts_and_drains(test_db: TestDatabase, tmp_path: Path) -> None:
    """Goal: with the service down, 50 sales queue durably; a restarted till uploads them once each.

    A 51st sale, too old for the programme, is refused by the service and lands in the dead letters.
    """
    url = await test_db.new_database()
    server = await asyncio.to_thread(start_server_process, url, tmp_path)
    try:
        keys = await make_keys(url)
        await base_rate(server.address, keys.backoffice)
        card, queue = unique_card(), tmp_path / "till.sqlite3"
        fast = RetryPolicy(max_attempts=2, initial_backoff_seconds=0.01)
        with MarketingClient(api_key=keys.backoffice, target=server.address) as office:
            member = office.enroll_member(identifiers=[Identifier.card(card)])
        port = server.port
        assert server.terminate() == 0

        def record_offline() -> list[PurchaseResult | QueuedPurchase]:
            with PosClient(
                store_id=keys.store_id, api_key=keys.pos, target=server.address, queue_path=queue, retry=fast
            ) as till:
                answers = [
                    till.record_purchase(
                        member=Identifier.card(card), order_id=f"OFF-{i}", amount=Money(100 * i, "EUR")
                    )
                    for i in range(1, 51)
                ]
                answers.append(
                    till.record_purchase(
                        member=Identifier.card(card),
                        order_id="OFF-old",
                        amount=Money(900, "EUR"),
                        occurred_at=datetime.now(UTC) - timedelta(days=400),
                    )
                )
                return answers

        answers = await asyncio.to_thread(record_offline)
        assert all(isinstance(a, QueuedPurchase) for a in answers)
        server = await asyncio.to_thread(start_server_process, url, tmp_path, port=port)

        def restarted_till() -> tuple[int, int, int, int, list[str]]:
            with PosClient(
                store_id=keys.store_id, api_key=keys.pos, target=server.address, queue_path=queue
            ) as till:
                waiting = till.queued_count()
                with ledger_guard():
                    report = till.sync()
                return (
                    waiting,
                    len(report.credited),
                    len(report.failed),
                    till.queued_count(),
                    [d.order_id for d in till.dead_letters()],
                )
            raise AssertionError("unreachable")

        waiting, credited, failed, remaining, dead = await asyncio.to_thread(restarted_till)
        assert (waiting, credited, failed, remaining, dead) == (51, 50, 1, 0, ["OFF-old"])
        async with AsyncMarketingClient(api_key=keys.backoffice, target=server.address) as back_office:
            balance = await back_office.balance(member=member.member_id)
            earned = [
                e async for e in back_office.history(member_id=member.member_id, types=[EntryType.EARN])
            ]
        assert balance.available + balance.pending == sum(range(1, 51))
        assert sorted(e.source_ref for e in earned) == sorted(f"OFF-{i}" for i in range(1, 51))
    finally:
        server.terminate()
