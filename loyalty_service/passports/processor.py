"""The stamp processor: reads the outbox by `event_id` and awards stamps, exactly once.

Each batch: read events after the cursor in one snapshot (events.feed.program_events), let the
commit-order cursor (events.cursor.FeedCursor) decide how many are settled, then in ONE write transaction
lock the cursor row (SKIP LOCKED: another replica busy with it means this one skips the round), check it
has not moved, award the stamps and advance it. A crash before commit redoes the batch; a stamp seen
twice hits the primary key (member, passport, cycle, stamp). Several replicas may run it.

Purchases: a purchase is seen through its `purchase_recorded` event (every purchase, points or not).
Events stored before that event existed describe a purchase only by the `points_changed` of its EARN
entry, so that event still stamps (facts from the `purchases` row). A purchase recorded since has both
events; `api.award_stamp` awards a stamp at most once per purchase in any cycle, so whichever comes second
stamps nothing (docs/decisions/0007-passport-stamp-processor.md).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from loyalty.v1 import events_pb2, ledger_pb2, rewards_pb2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables import purchases
from loyalty_service.db.transaction import in_transaction
from loyalty_service.events.cursor import FeedCursor
from loyalty_service.events.feed import StoredEvent, head_position, program_events
from loyalty_service.ledger import api as ledger_api
from loyalty_service.passports import api, store
from loyalty_service.passports.conditions import Facts, line_category_amounts, matching_stamps, stamp_rule
from loyalty_service.runtime import Runtime

__all__ = ["CURSOR_NAME", "facts_of", "process_once", "run_processor"]

_log = logging.getLogger(__name__)
CURSOR_NAME = "stamps"
_BATCH = 500
_INTERVAL_SECONDS = 0.2
_CHANNEL_NAMES = {1: "pos", 2: "webshop", 3: "app", 4: "backoffice"}


async def _purchase_facts(
    conn: AsyncConnection, member_id: str, entry: ledger_pb2.LedgerEntry
) -> tuple[Facts, str, str, str] | None:
    """A purchase's facts from its row: the event (its EARN entry) names it by channel, store and order."""
    channel = _CHANNEL_NAMES.get(entry.channel, "")
    row = (
        await conn.execute(
            select(
                purchases.c.purchase_id, purchases.c.amount_minor, purchases.c.currency, purchases.c.lines
            ).where(
                purchases.c.member_id == member_id,
                purchases.c.channel == channel,
                purchases.c.store_id == entry.store_id,
                purchases.c.order_id == entry.source_ref,
            )
        )
    ).one_or_none()
    if row is None:
        return None
    facts = Facts(
        kind="purchase",
        channel=channel,
        store_id=entry.store_id,
        amount_minor=int(row.amount_minor),
        currency=str(row.currency),
        category_amounts=line_category_amounts(row.lines),
    )
    return facts, channel, entry.store_id, str(row.purchase_id)


def _recorded_facts(purchase: events_pb2.PurchaseRecorded) -> tuple[Facts, str, str, str]:
    channel = _CHANNEL_NAMES.get(purchase.channel, "")
    categories: dict[str, int] = {}
    for line in purchase.categories[:1000]:
        categories[line.category] = categories.get(line.category, 0) + line.amount_minor
    facts = Facts(
        kind="purchase",
        channel=channel,
        store_id=purchase.store_id,
        amount_minor=purchase.amount.amount_minor,
        currency=purchase.amount.currency,
        category_amounts=categories,
    )
    return facts, channel, purchase.store_id, purchase.purchase_id


async def facts_of(
    conn: AsyncConnection, member_id: str, event: events_pb2.EventPayload
) -> tuple[Facts, str, str, str] | None:
    """(facts, channel, store_id, source_ref) of an event that can earn stamps, else None.

    A purchase is seen through its `purchase_recorded` event, and, for purchases stored before that
    event existed, through the `points_changed` event of its EARN entry (amount and lines from its
    `purchases` row). Both give the purchase id as source_ref, which is what keeps them from stamping twice.
    """
    kind = event.WhichOneof("event")
    if kind == "purchase_recorded":
        return _recorded_facts(event.purchase_recorded)
    if kind == "points_changed":
        entry = event.points_changed.entry
        if entry.type == ledger_pb2.ENTRY_TYPE_EARN and entry.source_type == "purchase":
            return await _purchase_facts(conn, member_id, entry)
        return None
    if kind == "game_played":
        play = event.game_played.play
        return Facts(kind="game", channel="app", game_id=play.game_id, won=play.won), "app", "", play.play_id
    if kind == "challenge_completed":
        done = event.challenge_completed.completion
        facts = Facts(kind="challenge", channel="app", challenge_id=done.challenge_id)
        return facts, "app", "", done.challenge_id
    if kind == "voucher_changed" and event.voucher_changed.voucher.state == rewards_pb2.VOUCHER_STATE_USED:
        v = event.voucher_changed.voucher
        channel = _CHANNEL_NAMES.get(v.used_channel, "")
        facts = Facts(kind="voucher", channel=channel, store_id=v.used_store_id, reward_id=v.reward_id)
        return facts, channel, v.used_store_id, v.voucher_id
    return None


@dataclass(frozen=True, slots=True)
class _Candidate:
    member_id: str
    passport_id: str
    stamp_id: str
    source: api.StampSource


async def _candidates(conn: AsyncConnection, events: list[StoredEvent], now: datetime) -> list[_Candidate]:
    """The stamps the events may earn, in event order (reads only: no lock taken yet)."""
    open_passports = [
        (str(r.passport_id), [stamp_rule(s) for s in dict(r.spec).get("stamps", [])])
        for r in await store.list_passports(conn, open_at=now)
    ]
    if not open_passports:
        return []
    found_all: list[_Candidate] = []
    for stored in events:
        found = await facts_of(conn, stored.member_id, events_pb2.EventPayload.FromString(stored.payload))
        if found is None:
            continue
        facts, channel, store_id, source_ref = found
        source = api.StampSource(
            channel=channel,
            store_id=store_id,
            source_type=facts.kind,
            source_ref=source_ref,
            event_id=stored.event_id,
        )
        for passport_id, rules in open_passports:
            found_all += [
                _Candidate(stored.member_id, passport_id, stamp_id, source)
                for stamp_id in matching_stamps(rules, facts)
            ]
    return found_all


async def _apply(conn: AsyncConnection, events: list[StoredEvent], now: datetime) -> int:
    """Award the batch's stamps. Lock order (decision 0004): the members' ledgers in member-id order
    first, as every multi-member transaction does, then per award its (member, passport) row."""
    candidates = await _candidates(conn, events, now)
    for member_id in sorted({c.member_id for c in candidates}):
        await ledger_api.lock_ledger(conn, member_id)
    awarded = 0
    for c in candidates:
        if await api.award_stamp(
            conn,
            member_id=c.member_id,
            passport_id=c.passport_id,
            stamp_id=c.stamp_id,
            source=c.source,
            now=now,
        ):
            awarded += 1
    return awarded


async def process_once(rt: Runtime) -> tuple[int, int]:
    """One batch; returns (events passed, stamps awarded); (0, 0) also when another replica holds it.

    The cursor starts at the outbox head the first time (no backfill of an old outbox).
    """

    async def first(conn: AsyncConnection) -> object:
        return await store.lock_cursor(conn, CURSOR_NAME, start=await head_position(conn), now=rt.now())

    row = await in_transaction(rt.engine, first)
    if row is None:
        return 0, 0
    cursor = FeedCursor(position=int(row.position), gap_horizon=row.gap_horizon)  # type: ignore[attr-defined]
    start = cursor.position
    async with rt.engine.connect() as reader:
        events, snap = await program_events(reader, after=start, limit=_BATCH)
        await reader.rollback()
    taken = events[
        : cursor.take([e.event_id for e in events], snapshot_xmin=snap.xmin, snapshot_xmax=snap.xmax)
    ]
    if cursor.position == start and cursor.gap_horizon == row.gap_horizon:  # type: ignore[attr-defined]
        return 0, 0

    async def write(conn: AsyncConnection) -> int:
        locked = await store.lock_cursor(conn, CURSOR_NAME, start=start, now=rt.now())
        if locked is None or int(locked.position) != start:
            return 0  # another replica moved it: its batch covered these events
        awarded = await _apply(conn, taken, rt.now()) if taken else 0
        await store.update_cursor(
            conn, CURSOR_NAME, position=cursor.position, gap_horizon=cursor.gap_horizon, now=rt.now()
        )
        return awarded

    return len(taken), await in_transaction(rt.engine, write)


async def run_processor(rt: Runtime) -> None:
    """Poll every 200 ms (well within the one-second promise), draining full batches at once."""
    while True:
        try:
            passed, _ = await process_once(rt)
            if passed >= _BATCH:
                continue
        except Exception:
            _log.exception("stamp processor batch failed")
        await asyncio.sleep(_INTERVAL_SECONDS)
