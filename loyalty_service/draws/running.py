"""Freezing a closed draw's entry list, running the draw once, and reading its result back.

Freeze and run each lock the draw row `FOR UPDATE`: entries in flight (share lock) commit first, later ones
see the draw as closed, and two runs on two replicas queue on the row: the second finds `drawn_at` set and
reads the stored result. The run re-checks the revealed seed against the published commitment and the
entries against the published digest before granting anything.
"""

from __future__ import annotations

from datetime import datetime

from loyalty.v1 import draws_pb2, events_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.draws import domain, store
from loyalty_service.draws.store import DrawRow, WinnerRow
from loyalty_service.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from loyalty_service.events import outbox
from loyalty_service.ledger import api as ledger_api
from loyalty_service.rewards import api as rewards_api

__all__ = ["freeze_if_closed", "load_result", "positioned_entries", "run_draw"]


async def _require(conn: AsyncConnection, draw_id: str, *, lock: bool) -> DrawRow:
    draw = await store.get_draw(conn, draw_id, lock="update" if lock else None)
    if draw is None:
        raise NotFound("draw", draw_id)
    return draw


async def positioned_entries(conn: AsyncConnection, draw_id: str) -> tuple[domain.PositionedEntry, ...]:
    rows = await store.ordered_entries(conn, draw_id)
    return domain.order_entries(domain.Entry(entry_id, ref) for entry_id, ref in rows)


async def freeze_if_closed(conn: AsyncConnection, draw_id: str, *, now: datetime) -> DrawRow:
    """Freeze the entry list of a draw whose window has closed (once); returns the draw as it is now."""
    draw = await _require(conn, draw_id, lock=True)
    if draw.frozen_at is not None or now < draw.spec.closes_at:
        return draw
    entries = await positioned_entries(conn, draw_id)
    await store.freeze(
        conn,
        draw_id=draw_id,
        entry_count=len(entries),
        entries_digest=domain.entries_digest(entries),
        now=now,
    )
    return await _require(conn, draw_id, lock=False)


async def _grant_prize(
    conn: AsyncConnection,
    *,
    draw: DrawRow,
    winner: domain.Winner,
    member_id: str,
    now: datetime,
    credential_id: str,
) -> WinnerRow:
    """Give the winner its prize (a free voucher, or DRAW_WIN points) and write its `draw_won` event.

    A voucher that cannot be issued (out of stock, reward archived) fails the whole run; nothing is kept,
    and a later run picks the same winners (the selection is deterministic).
    """
    prize = draw.spec.prize(winner.prize_id)
    source_ref = f"{draw.draw_id}:{winner.slot}"
    voucher_id: str | None = None
    ledger_entry_id: str | None = None
    if prize.reward_id is not None:
        issued = await rewards_api.issue_voucher(
            conn,
            member_id=member_id,
            reward_id=prize.reward_id,
            source_type="draw",
            source_ref=source_ref,
            now=now,
            credential_id=credential_id,
            charge_points=False,
        )
        voucher_id = issued.voucher_id
    else:
        cause = ledger_api.Cause(
            channel="",
            source_type="draw",
            source_ref=source_ref,
            reason=f"draw prize {prize.name}"[:256],
            occurred_at=now,
        )
        moved = await ledger_api.credit_points(
            conn,
            member_id=member_id,
            points=prize.points,
            entry_type=ledger_api.EntryType.DRAW_WIN,
            cause=cause,
            now=now,
            credential_id=credential_id,
        )
        ledger_entry_id = moved.entry_id
    won = draws_pb2.DrawWon(
        draw_id=draw.draw_id,
        slot=winner.slot,
        prize_id=winner.prize_id,
        entry_id=winner.entry_id,
        voucher_id=voucher_id or "",
        points=prize.points if voucher_id is None else 0,
    )
    await outbox.append(
        conn, member_id=member_id, occurred_at=now, payload=events_pb2.EventPayload(draw_won=won)
    )
    return WinnerRow(
        winner.slot,
        winner.prize_id,
        winner.entry_id,
        winner.member_ref,
        member_id,
        voucher_id,
        ledger_entry_id,
        prize.points if voucher_id is None else 0,
    )


async def run_draw(
    conn: AsyncConnection, draw_id: str, *, beacon: str | None, now: datetime, credential_id: str
) -> bool:
    """Run the draw if it has not run; returns True if this call ran it. Call `freeze_if_closed` in an
    earlier transaction so that the digest is published before the seed comes out."""
    draw = await _require(conn, draw_id, lock=True)
    if draw.drawn_at is not None:
        if beacon is not None and beacon != draw.beacon:
            raise FailedPrecondition(
                f"draw {draw_id} already ran with another beacon",
                reason="DRAW_ALREADY_RUN",
                metadata={"draw_id": draw_id},
            )
        return False
    if draw.frozen_at is None:
        raise FailedPrecondition(
            f"draw {draw_id} closes at {draw.spec.closes_at.isoformat()}",
            reason="DRAW_NOT_CLOSED",
            metadata={"draw_id": draw_id, "closes_at": draw.spec.closes_at.isoformat()},
        )
    if draw.spec.beacon_source and beacon is None:
        raise InvalidArgument([FieldViolation("beacon", f"required: {draw.spec.beacon_source}")])
    if not draw.spec.beacon_source and beacon is not None:
        raise InvalidArgument([FieldViolation("beacon", "this draw announced no beacon source")])
    entries = await positioned_entries(conn, draw_id)
    result = domain.run_draw(
        draw_id=draw_id,
        seed=draw.seed,
        beacon=beacon,
        entries=entries,
        slots=domain.expand_slots(draw.spec.prize_list()),
    )
    if result.commitment != draw.commitment or result.entries_digest != draw.entries_digest:
        raise AssertionError(f"draw {draw_id}: stored seed or entries no longer match what was published")
    members = await store.member_ids_of_entries(conn, draw_id, [w.entry_id for w in result.winners])
    # Member ledgers lock in member-id order (docs/decisions/0004-lock-order.md).
    for winner in sorted(result.winners, key=lambda w: (members[w.entry_id], w.slot)):
        row = await _grant_prize(
            conn,
            draw=draw,
            winner=winner,
            member_id=members[winner.entry_id],
            now=now,
            credential_id=credential_id,
        )
        await store.insert_winner(conn, draw_id=draw_id, winner=row)
    await store.mark_drawn(conn, draw_id=draw_id, beacon=beacon, now=now)
    return True


async def load_result(conn: AsyncConnection, draw_id: str) -> domain.DrawResult:
    """The stored result of a drawn draw, in the export's shape; FAILED_PRECONDITION before the run."""
    draw = await _require(conn, draw_id, lock=False)
    if draw.drawn_at is None:
        raise FailedPrecondition(
            f"draw {draw_id} has not been run", reason="DRAW_NOT_RUN", metadata={"draw_id": draw_id}
        )
    assert draw.entries_digest is not None
    return domain.DrawResult(
        draw_id=draw_id,
        commitment=draw.commitment,
        seed=draw.seed,
        beacon=draw.beacon,
        entries=await positioned_entries(conn, draw_id),
        entries_digest=draw.entries_digest,
        slots=domain.expand_slots(draw.spec.prize_list()),
        winners=tuple(
            domain.Winner(w.slot, w.prize_id, w.entry_id, w.member_ref)
            for w in await store.winners(conn, draw_id)
        ),
    )
