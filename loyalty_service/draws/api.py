"""What other features may use of draws: granting entries, and the purchase hook of the spend source.

Both run in the caller's transaction. Passports, challenges and games call `grant_entries`; the ledger's
purchase path calls `on_purchase` once per recorded purchase. The CLI's `draws export` uses
`export_result`.
"""

from __future__ import annotations

from datetime import datetime

from loyalty.v1 import draws_pb2, events_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.draws import domain, store
from loyalty_service.draws.rules import (
    ENTRIES_PER_CALL_MAX,
    DrawSpec,
    SourceType,
    granted_entries,
    spend_entries_due,
)
from loyalty_service.draws.store import DrawRow, MemberRow
from loyalty_service.errors import FailedPrecondition, NotFound
from loyalty_service.events import outbox
from loyalty_service.ledger import api as ledger_api

__all__ = ["SourceType", "add_entries", "export_result", "grant_entries", "on_purchase", "open_draw"]


async def open_draw(conn: AsyncConnection, draw_id: str, *, now: datetime) -> DrawRow:
    """The draw, share-locked, if it takes entries at `now`; NOT_FOUND or FAILED_PRECONDITION otherwise.

    A draw being frozen or run right now is locked by that transaction and counts as closed.
    """
    draw = await store.get_draw(conn, draw_id, lock="share")
    if draw is None:
        if await store.get_draw(conn, draw_id) is None:
            raise NotFound("draw", draw_id)
        raise _closed(draw_id)
    if draw.frozen_at is not None or now >= draw.spec.closes_at:
        raise _closed(draw_id)
    if now < draw.spec.opens_at:
        raise FailedPrecondition(
            f"draw {draw_id} opens at {draw.spec.opens_at.isoformat()}",
            reason="DRAW_NOT_OPEN",
            metadata={"draw_id": draw_id, "opens_at": draw.spec.opens_at.isoformat()},
        )
    return draw


def _closed(draw_id: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"draw {draw_id} is closed: its entry list is frozen",
        reason="DRAW_CLOSED",
        metadata={"draw_id": draw_id},
    )


async def add_entries(
    conn: AsyncConnection,
    draw: DrawRow,
    *,
    member_id: str,
    count: int,
    source_type: SourceType,
    source_ref: str,
    now: datetime,
    direct: int = 0,
    spend_minor: int = 0,
) -> tuple[list[str], MemberRow]:
    """Record entries of an open, share-locked draw and write the member's `draw_entered` event."""
    assert 0 <= count <= ENTRIES_PER_CALL_MAX, count
    ids, counters = await store.add_entries(
        conn,
        draw_id=draw.draw_id,
        member_id=member_id,
        member_ref=domain.member_ref(draw.seed, member_id),
        count=count,
        source_type=source_type.value,
        source_ref=source_ref,
        now=now,
        direct=direct,
        spend_minor=spend_minor,
    )
    if ids:
        entered = draws_pb2.DrawEntered(
            draw_id=draw.draw_id,
            entry_ids=ids,
            source_type=source_type.value,
            entry_count=counters.entry_count,
        )
        await outbox.append(
            conn, member_id=member_id, occurred_at=now, payload=events_pb2.EventPayload(draw_entered=entered)
        )
    return ids, counters


async def grant_entries(
    conn: AsyncConnection,
    *,
    draw_id: str,
    member_id: str,
    count: int,
    source_type: str,
    source_ref: str,
    now: datetime,
) -> list[str]:
    """Entries earned elsewhere; returns their entry ids.

    source_type: "passport" or "challenge" (`count` completions, each worth the draw's
    entries_per_passport / entries_per_challenge) or "game" (`count` entries won, if the draw takes game
    entries). Idempotent on (draw, member, source_type, source_ref): a repeat returns the first ids.
    Raises NOT_FOUND (draw), FAILED_PRECONDITION DRAW_NOT_OPEN / DRAW_CLOSED (also after the close: the
    list is frozen) / DRAW_SOURCE_NOT_ACCEPTED.
    """
    kind = SourceType(source_type)
    draw = await open_draw(conn, draw_id, now=now)
    earlier = await store.entries_of_source(
        conn, draw_id=draw_id, member_id=member_id, source_type=kind.value, source_ref=source_ref
    )
    if earlier:
        return earlier
    entries = granted_entries(draw.spec.sources, kind, count)
    if entries <= 0:
        raise FailedPrecondition(
            f"draw {draw_id} does not take {kind.value} entries",
            reason="DRAW_SOURCE_NOT_ACCEPTED",
            metadata={"draw_id": draw_id, "source_type": kind.value},
        )
    ids, _ = await add_entries(
        conn,
        draw,
        member_id=member_id,
        count=min(entries, ENTRIES_PER_CALL_MAX),
        source_type=kind,
        source_ref=source_ref,
        now=now,
    )
    return ids


async def on_purchase(conn: AsyncConnection, purchase: ledger_api.RecordedPurchase, *, now: datetime) -> None:
    """The spend source: count a purchase towards every draw whose window holds both `occurred_at` and
    `now` (an offline sale uploaded after the close is too late: the list is frozen) and grant K entries
    per whole X spent in the window, cumulatively per member. Never refuses the purchase: a draw that is
    closed, being run or not matching is skipped. Refunds do not take entries back (docs/draws.md)."""
    member_id, amount_minor, currency = purchase.member_id, purchase.amount_minor, purchase.currency
    channel, occurred_at = purchase.channel, purchase.occurred_at
    if amount_minor <= 0:
        return

    def counts(spec: DrawSpec) -> bool:
        spend = spec.sources.spend
        if spend is None or spend.currency != currency or spend.channel not in ("", channel):
            return False
        return spec.opens_at <= occurred_at < spec.closes_at and spec.opens_at <= now < spec.closes_at

    for candidate in await store.spend_draws_open_at(conn, now):  # cached: judged again under the lock
        if not counts(candidate.spec):
            continue
        draw = await store.get_draw(conn, candidate.draw_id, lock="share")
        if draw is None or draw.frozen_at is not None or not counts(draw.spec):
            continue
        spend = draw.spec.sources.spend
        assert spend is not None  # counts() checked it
        before = await store.member_row(conn, draw.draw_id, member_id)
        spent = (before.spend_minor if before else 0) + amount_minor
        due = spend_entries_due(
            spend, spend_minor_total=spent, entries_granted=before.spend_entries if before else 0
        )
        await add_entries(
            conn,
            draw,
            member_id=member_id,
            count=min(due, ENTRIES_PER_CALL_MAX),
            source_type=SourceType.PURCHASE,
            source_ref=purchase.purchase_id,
            now=now,
            spend_minor=amount_minor,
        )


async def export_result(conn: AsyncConnection, draw_id: str) -> dict[str, object]:
    """The JSON export of docs/draws.md for a drawn draw; NOT_FOUND, or FAILED_PRECONDITION before the run."""
    from loyalty_service.draws.running import load_result

    return (await load_result(conn, draw_id)).to_json_dict()
