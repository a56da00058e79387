"""Click-and-collect: a web-shop order's points wait, pending, for the pickup at a store.

- RecordPurchase with `pickup_store_id` credits the order's points as a lot held pending
  (`ledger.api.HELD_UNTIL_RELEASED`) and records the pickup (`open_pickup`), due by occurred_at +
  `pickup_deadline_days`.
- ConfirmPickup, from a till of the pickup store (and only that store: the order waits there) before the
  deadline (after it the order counts as cancelled even before the job has run), releases the lot at
  once (`Book.release_now`) and credits the pickup bonus (a BONUS entry, source "pickup_bonus").
- The maintenance task cancels awaiting orders past their deadline: what is left of their points is
  reversed through the Book (a REFUND_REVERSAL entry, source "pickup_cancelled").
- A refund of an uncollected order works like any refund (it takes from the held lot first); a refund
  in full cancels the pickup (reason "refunded"), so nobody collects an order that was paid back.

Every change locks the member's ledger first (`Book.open`), then the pickup row: the ledger's lock order.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from datetime import datetime

from loyalty.v1 import events_pb2, journeys_pb2
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_service.db.transaction import in_transaction
from loyalty_service.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from loyalty_service.events import outbox
from loyalty_service.journeys import domain, store
from loyalty_service.journeys.messages import pickup_message
from loyalty_service.ledger import api as ledger_api
from loyalty_service.program import stores as program_stores
from loyalty_service.tiers import api as tiers_api

__all__ = ["cancel_overdue", "confirm_pickup", "find_pickup", "on_refund", "open_pickup"]

_log = logging.getLogger(__name__)
_BATCH = 200
SYSTEM_CREDENTIAL = "system"


async def open_pickup(
    conn: AsyncConnection,
    *,
    member_id: str,
    purchase_id: str,
    order_store_id: str,
    order_id: str,
    pickup_store_id: str,
    lot_id: str | None,
    points: int,
    occurred_at: datetime,
    now: datetime,
) -> datetime:
    """Record an awaiting click-and-collect order; returns its deadline. Unknown store: INVALID_ARGUMENT."""
    if not await program_stores.exists(conn, pickup_store_id):
        raise InvalidArgument([FieldViolation("pickup_store_id", "not a store of the programme")])
    settings = await store.read_settings(conn)
    deadline = domain.pickup_deadline(occurred_at, settings.pickup_deadline_days)
    await store.insert_pickup(
        conn,
        store.PickupRow(
            member_id=member_id,
            purchase_id=purchase_id,
            order_store_id=order_store_id,
            order_id=order_id,
            pickup_store_id=pickup_store_id,
            lot_id=lot_id,
            points=points,
            status="awaiting",
            deadline_at=deadline,
            created_at=now,
            collected_at=None,
            collected_by=None,
            cancelled_at=None,
            cancel_reason=None,
            bonus_points=0,
            bonus_entry_id=None,
        ),
    )
    return deadline


async def _locate(conn: AsyncConnection, *, order_store_id: str, order_id: str) -> tuple[str, str]:
    """(member_id, purchase_id) of a web-shop order. Without `order_store_id`, the click-and-collect
    order with this id in any web-shop store (FAILED_PRECONDITION AMBIGUOUS_ORDER if several), else the
    order of store "". NOT_FOUND when there is none."""
    if not order_store_id:
        found = await store.pickups_by_order(conn, order_id, limit=2)
        if len(found) > 1:
            raise FailedPrecondition(
                "several web shops have an order with this id: give order_store_id",
                reason="AMBIGUOUS_ORDER",
                metadata={"order_id": order_id},
            )
        if found:
            return found[0]
    order = await ledger_api.find_order(conn, channel="webshop", store_id=order_store_id, order_id=order_id)
    if order is None:
        raise NotFound("order", f"webshop/{order_store_id}/{order_id}")
    return order


async def find_pickup(conn: AsyncConnection, *, order_store_id: str, order_id: str) -> store.PickupRow:
    """The pickup of a web-shop order; NOT_FOUND for an unknown order or one not to be collected."""
    member_id, purchase_id = await _locate(conn, order_store_id=order_store_id, order_id=order_id)
    row = await store.get_pickup(conn, member_id=member_id, purchase_id=purchase_id)
    if row is None:
        raise NotFound("pickup", f"webshop/{order_store_id}/{order_id}", "not a click-and-collect order")
    return row


def _refuse(row: store.PickupRow, *, store_id: str, now: datetime) -> None:
    """FAILED_PRECONDITION unless the order waits, in this store, with something to collect."""
    metadata = {"order_id": row.order_id, "pickup_store_id": row.pickup_store_id}
    if row.status == "collected":
        raise FailedPrecondition(
            "the order was already collected", reason="ALREADY_COLLECTED", metadata=metadata
        )
    if row.status == "cancelled" and row.cancel_reason == "refunded":
        raise FailedPrecondition("the order was refunded", reason="ORDER_REFUNDED", metadata=metadata)
    if row.status == "cancelled" or row.deadline_at <= now:  # past the deadline: cancelled, job or not
        raise FailedPrecondition(
            "the order was not collected in time and is cancelled",
            reason="ORDER_CANCELLED",
            metadata=metadata,
        )
    if row.pickup_store_id != store_id:
        raise FailedPrecondition(
            f"the order waits in store {row.pickup_store_id!r}", reason="WRONG_STORE", metadata=metadata
        )


async def confirm_pickup(
    conn: AsyncConnection,
    *,
    order_store_id: str,
    order_id: str,
    store_id: str,
    now: datetime,
    credential_id: str,
) -> journeys_pb2.ConfirmPickupResponse:
    member_id, purchase_id = await _locate(conn, order_store_id=order_store_id, order_id=order_id)
    book = await ledger_api.Book.open(conn, member_id, now=now, credential_id=credential_id)
    row = await store.get_pickup(conn, member_id=member_id, purchase_id=purchase_id, lock=True)
    if row is None:
        raise FailedPrecondition(
            "the order is not a click-and-collect order",
            reason="NOT_CLICK_AND_COLLECT",
            metadata={"order_id": order_id},
        )
    _refuse(row, store_id=store_id, now=now)
    released = await book.release_now(row.lot_id) if row.lot_id else 0
    settings = await store.read_settings(conn)
    bonus, bonus_entry_id = settings.pickup_bonus_points, ""
    if bonus > 0:
        cause = ledger_api.Cause(
            channel="pos", store_id=store_id, source_type="pickup_bonus", source_ref=order_id, occurred_at=now
        )
        moved = await ledger_api.credit_points(
            conn,
            member_id=member_id,
            points=bonus,
            entry_type=ledger_api.EntryType.BONUS,
            cause=cause,
            now=now,
            credential_id=credential_id,
            book=book,
        )
        bonus_entry_id = moved.entry_id
    values = {
        "status": "collected",
        "collected_at": now,
        "collected_by": credential_id,
        "bonus_points": bonus,
        "bonus_entry_id": bonus_entry_id or None,
    }
    await store.update_pickup(conn, row, **values)
    pickup = pickup_message(_replace(row, values))
    event = journeys_pb2.PickupConfirmed(pickup=pickup, points_released=released, bonus_points=bonus)
    await outbox.append(
        conn, member_id=member_id, payload=events_pb2.EventPayload(pickup_confirmed=event), occurred_at=now
    )
    await book.close()
    return journeys_pb2.ConfirmPickupResponse(
        pickup=pickup,
        points_released=released,
        bonus_points=bonus,
        bonus_entry_id=bonus_entry_id,
        balance=book.balance(),
    )


def _replace(row: store.PickupRow, values: dict[str, object]) -> store.PickupRow:
    return replace(row, **values)  # type: ignore[arg-type]


async def _cancelled(
    conn: AsyncConnection, row: store.PickupRow, *, reason: str, points_reversed: int, now: datetime
) -> None:
    values: dict[str, object] = {"status": "cancelled", "cancelled_at": now, "cancel_reason": reason}
    await store.update_pickup(conn, row, **values)
    event = journeys_pb2.PickupCancelled(
        pickup=pickup_message(_replace(row, values)), points_reversed=points_reversed
    )
    await outbox.append(
        conn,
        member_id=row.member_id,
        payload=events_pb2.EventPayload(pickup_cancelled=event),
        occurred_at=now,
    )


async def on_refund(
    conn: AsyncConnection,
    *,
    member_id: str,
    purchase_id: str,
    fully_refunded: bool,
    points_reversed: int,
    now: datetime,
) -> None:
    """In the refund's transaction (ledger locked): a full refund cancels an awaiting pickup."""
    if not fully_refunded:
        return
    row = await store.get_pickup(conn, member_id=member_id, purchase_id=purchase_id, lock=True)
    if row is not None and row.status == "awaiting":
        await _cancelled(conn, row, reason="refunded", points_reversed=points_reversed, now=now)


async def _cancel_one(conn: AsyncConnection, *, member_id: str, purchase_id: str, now: datetime) -> bool:
    book = await ledger_api.Book.open(conn, member_id, now=now, credential_id=SYSTEM_CREDENTIAL)
    row = await store.get_pickup(conn, member_id=member_id, purchase_id=purchase_id, lock=True)
    if row is None or row.status != "awaiting" or row.deadline_at > now:
        await book.close()
        return False  # collected or cancelled meanwhile (another replica, a till, a refund)
    cause = ledger_api.Cause(
        channel="webshop",
        store_id=row.order_store_id,
        source_type="pickup_cancelled",
        source_ref=row.order_id,
        reason="not collected in time",
        occurred_at=now,
    )
    reversal = await ledger_api.reverse_purchase(conn, book=book, purchase_id=purchase_id, cause=cause)
    # Never collected: it no longer counts towards status tiers, like an order refunded in full.
    await tiers_api.on_refund(
        conn,
        member_id=member_id,
        purchase_id=purchase_id,
        refunded_total_minor=reversal.amount_minor,
        now=now,
    )
    await _cancelled(conn, row, reason="not_collected", points_reversed=reversal.points, now=now)
    await book.close()
    return True


async def cancel_overdue(engine: AsyncEngine, now: datetime) -> int:
    """Cancel every awaiting order past its deadline, each in its own transaction; returns how many."""
    cancelled = 0
    skipped: set[tuple[str, str]] = set()
    while True:
        async with engine.connect() as conn:
            due = [
                d
                for d in await store.due_pickups(conn, now=now, limit=_BATCH + len(skipped))
                if d not in skipped
            ]
        for member_id, purchase_id in due:
            try:
                done = await in_transaction(
                    engine,
                    functools.partial(_cancel_one, member_id=member_id, purchase_id=purchase_id, now=now),
                )
            except Exception:
                _log.exception("pickup cancellation failed", extra={"fields": {"member_id": member_id}})
                skipped.add((member_id, purchase_id))
                continue
            cancelled += done
            if not done:
                skipped.add((member_id, purchase_id))
        if len(due) < _BATCH:
            return cancelled
