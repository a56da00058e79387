"""The stamp processor and purchases: `purchase_recorded` stamps every purchase exactly once.

The background processor is stopped in these tests and batches are run by hand (`process_once`), so the
order of events, a replayed batch and an event in the old format can be staged precisely.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from typing import Any

from loyalty.v1 import common_pb2, events_pb2, ledger_pb2, members_pb2, passports_pb2, program_pb2
from sqlalchemy import text

from loyalty_service.passports.processor import CURSOR_NAME, process_once
from loyalty_service.proto_time import to_timestamp
from tests.support.api import Running, new_key


async def _stop_background_processor(running: Running) -> None:
    for task in running.service.tasks:
        if task.get_coro().__name__ == "run_processor":  # type: ignore[union-attr]
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    await process_once(running.service.runtime)  # the cursor exists (it starts at the outbox head)


async def _drain(running: Running) -> int:
    """Run batches until the cursor is at the outbox head; the number of stamps awarded."""
    awarded = 0
    for _ in range(100):
        async with running.engine.connect() as conn:
            head = (await conn.execute(text("select coalesce(max(event_id), 0) from events"))).scalar_one()
            position = (
                await conn.execute(
                    text("select position from passport_cursors where name = :n"), {"n": CURSOR_NAME}
                )
            ).scalar_one_or_none()
        if position is not None and position >= head:
            return awarded
        awarded += (await process_once(running.service.runtime))[1]
        await asyncio.sleep(0.05)
    raise AssertionError("the stamp processor did not reach the outbox head")


async def _passport(running: Running, *, repeatable: bool, stamps: list[Any]) -> str:
    assert running.clock is not None
    back = await running.client("backoffice")
    spec = passports_pb2.PassportSpec(
        name="Purchases",
        opens_at=to_timestamp(running.clock.now() - timedelta(hours=1)),
        stamps=stamps,
        repeatable=repeatable,
        completion=passports_pb2.PassportCompletion(points=100),
    )
    answer = await back.program.CreatePassport(
        passports_pb2.CreatePassportRequest(idempotency_key=new_key(), spec=spec)
    )
    return str(answer.passport.passport_id)


async def _base_rate(running: Running) -> None:
    assert running.clock is not None
    back = await running.client("backoffice")
    await back.program.CreateEarningRule(
        program_pb2.CreateEarningRuleRequest(
            idempotency_key=new_key(),
            spec=program_pb2.EarningRuleSpec(
                name="base", kind=program_pb2.EARNING_RULE_KIND_BASE_RATE, currency="EUR", points_per_unit="1"
            ),
            effective_from=to_timestamp(running.clock.now() - timedelta(days=1)),
        )
    )


async def _buy(
    running: Running, member_id: str, *, amount_minor: int = 2500, lines: list[Any] | None = None
) -> ledger_pb2.RecordPurchaseResponse:
    assert running.clock is not None
    web = await running.client("webshop")
    answer: ledger_pb2.RecordPurchaseResponse = await web.ledger.RecordPurchase(
        ledger_pb2.RecordPurchaseRequest(
            idempotency_key=new_key(),
            member=common_pb2.MemberRef(member_id=member_id),
            channel=common_pb2.CHANNEL_WEBSHOP,
            store_id="web",
            order_id=new_key(),
            amount=common_pb2.Money(amount_minor=amount_minor, currency="EUR"),
            occurred_at=to_timestamp(running.clock.now()),
            lines=lines or [],
        )
    )
    return answer


async def _rows(running: Running, query: str, **params: Any) -> list[Any]:
    async with running.engine.connect() as conn:
        return list(await conn.execute(text(query), params))


def _any_purchase(stamp_id: str = "buy") -> passports_pb2.StampDefinition:
    return passports_pb2.StampDefinition(
        stamp_id=stamp_id, name="Any purchase", purchase=passports_pb2.PurchaseCondition()
    )


async def test_a_purchase_earning_no_points_stamps_from_its_purchase_recorded_event(
    isolated_service: Running,
) -> None:
    """Goal: with no earning rule a purchase earns 0 points and writes no points_changed, yet its
    purchase_recorded event (channel, store, amount, per-category totals) stamps a category condition."""
    running = isolated_service
    await _stop_background_processor(running)
    shoes = passports_pb2.StampDefinition(
        stamp_id="shoes",
        name="Shoes for 50 EUR",
        purchase=passports_pb2.PurchaseCondition(
            channels=[common_pb2.CHANNEL_WEBSHOP], categories=["shoes"], min_amount_minor=5000, currency="EUR"
        ),
    )
    passport_id = await _passport(running, repeatable=False, stamps=[shoes, _any_purchase()])
    member_id = (await running.enroll()).member_id
    lines = [
        ledger_pb2.PurchaseLine(sku="a", category="shoes", quantity=1, amount_minor=3000),
        ledger_pb2.PurchaseLine(sku="b", category="shoes", quantity=1, amount_minor=2000),
        ledger_pb2.PurchaseLine(sku="c", category="socks", quantity=1, amount_minor=1000),
        ledger_pb2.PurchaseLine(sku="d", quantity=1, amount_minor=500),
    ]
    bought = await _buy(running, member_id, amount_minor=6500, lines=lines)
    assert (bought.points, bought.entry_id) == (0, "")
    events = await _rows(
        running, "select event_type, payload from events where member_id = :m order by seq", m=member_id
    )
    assert [e.event_type for e in events] == ["member_enrolled", "purchase_recorded"]
    recorded = events_pb2.EventPayload.FromString(events[1].payload).purchase_recorded
    assert (recorded.purchase_id, recorded.channel, recorded.store_id) == (
        bought.purchase_id,
        common_pb2.CHANNEL_WEBSHOP,
        "web",
    )
    assert (recorded.amount.amount_minor, recorded.amount.currency, recorded.points) == (6500, "EUR", 0)
    assert {c.category: c.amount_minor for c in recorded.categories} == {"shoes": 5000, "socks": 1000}

    assert await _drain(running) == 2
    stamps = await _rows(
        running,
        "select stamp_id, source_type, source_ref from passport_stamps where member_id = :m order by 1",
        m=member_id,
    )
    assert [(s.stamp_id, s.source_type, s.source_ref) for s in stamps] == [
        ("buy", "purchase", bought.purchase_id),
        ("shoes", "purchase", bought.purchase_id),
    ]
    completed = await _rows(
        running, "select completions from passport_members where passport_id = :p", p=passport_id
    )
    assert [c.completions for c in completed] == [1]
    back = await running.client("backoffice")
    exported = await back.members.ExportMemberData(members_pb2.ExportMemberDataRequest(member_id=member_id))
    mine = json.loads(exported.document)["features"]["passports"]
    assert [(p["passport_id"], p["cycle"], p["completions"]) for p in mine["passports"]] == [
        (passport_id, 1, 1)
    ]
    assert sorted((s["stamp_id"], s["channel"], s["source_ref"]) for s in mine["stamps"]) == [
        ("buy", "webshop", bought.purchase_id),
        ("shoes", "webshop", bought.purchase_id),
    ]


async def test_a_purchase_with_both_events_stamps_once_even_across_cycles(isolated_service: Running) -> None:
    """Goal: a purchase that earns points has purchase_recorded and an EARN points_changed; in a
    repeatable one-stamp passport the first completes cycle 1 and the second must not stamp cycle 2.
    Replaying the whole batch (a crash before the cursor commit) awards nothing more."""
    running = isolated_service
    await _stop_background_processor(running)
    await _base_rate(running)
    passport_id = await _passport(running, repeatable=True, stamps=[_any_purchase()])
    member_id = (await running.enroll()).member_id
    async with running.engine.connect() as conn:
        start = (await conn.execute(text("select coalesce(max(event_id), 0) from events"))).scalar_one()
    first = await _buy(running, member_id)
    assert first.points == 25
    types = await _rows(
        running, "select event_type from events where member_id = :m order by seq", m=member_id
    )
    assert [t.event_type for t in types] == ["member_enrolled", "purchase_recorded", "points_changed"]

    assert await _drain(running) == 1
    state = await _rows(
        running, "select cycle, completions from passport_members where member_id = :m", m=member_id
    )
    assert [(s.cycle, s.completions) for s in state] == [(2, 1)]

    # A replica crashed after awarding but before its cursor update committed would redo the batch:
    # rewinding the cursor replays both events of the purchase.
    async with running.engine.begin() as conn:
        await conn.execute(
            text("update passport_cursors set position = :p, gap_horizon = null where name = :n"),
            {"p": start, "n": CURSOR_NAME},
        )
    assert await _drain(running) == 0

    second = await _buy(running, member_id)
    assert await _drain(running) == 1
    stamps = await _rows(
        running,
        "select cycle, source_ref from passport_stamps where member_id = :m order by cycle",
        m=member_id,
    )
    assert [(s.cycle, s.source_ref) for s in stamps] == [(1, first.purchase_id), (2, second.purchase_id)]
    completions = await _rows(
        running,
        "select count(*) as n from events where member_id = :m and event_type = 'passport_completed'",
        m=member_id,
    )
    assert completions[0].n == 2
    assert passport_id


async def test_a_purchase_stored_in_the_old_format_still_stamps_once(isolated_service: Running) -> None:
    """Goal: a purchase whose only event is its EARN points_changed (recorded before purchase_recorded
    existed, or by a replica not yet upgraded) is stamped from that event, once."""
    running = isolated_service
    await _stop_background_processor(running)
    await _base_rate(running)
    await _passport(running, repeatable=True, stamps=[_any_purchase()])
    member_id = (await running.enroll()).member_id
    bought = await _buy(running, member_id)
    async with running.engine.begin() as conn:
        await conn.execute(
            text("delete from events where member_id = :m and event_type = 'purchase_recorded'"),
            {"m": member_id},
        )
    assert await _drain(running) == 1
    stamps = await _rows(
        running,
        "select cycle, source_type, source_ref from passport_stamps where member_id = :m",
        m=member_id,
    )
    assert [(s.cycle, s.source_type, s.source_ref) for s in stamps] == [(1, "purchase", bought.purchase_id)]
