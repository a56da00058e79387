"""Spending, cancelling a spend and back-office adjustments, inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from loyalty.v1 import ledger_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.auth.principal import Principal
from loyalty_service.errors import FailedPrecondition, NotFound
from loyalty_service.kernel.channel import Channel
from loyalty_service.kernel.clock import add_months
from loyalty_service.kernel.ids import new_id
from loyalty_service.ledger import records, store
from loyalty_service.ledger.book import Book, Cause
from loyalty_service.ledger.messages import EntryType
from loyalty_service.members import api as members_api
from loyalty_service.program import settings as program_settings

__all__ = ["SpendInput", "adjust_points", "cancel_spend", "spend_points"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SpendInput:
    member: members_api.MemberKey
    points: int
    channel: Channel
    store_id: str
    order_id: str
    reason: str


async def spend_points(
    conn: AsyncConnection, spend: SpendInput, *, now: datetime, principal: Principal
) -> ledger_pb2.SpendPointsResponse:
    """Take the points oldest-expiring first; INSUFFICIENT_POINTS rather than a negative balance."""
    member_id = await members_api.require_member(conn, spend.member)
    principal.require_member(member_id)
    book = await Book.open(conn, member_id, now=now, credential_id=principal.credential_id)
    spend_id = new_id("spd")
    cause = Cause(
        channel=spend.channel.value,
        store_id=spend.store_id,
        source_type="spend",
        source_ref=spend_id,
        reason=spend.reason,
        occurred_at=now,
    )
    entry = await book.spend(spend.points, cause)
    book.write_with_head(
        records.spend_insert(
            member_id=member_id,
            spend_id=spend_id,
            points=spend.points,
            channel=spend.channel.value,
            store_id=spend.store_id,
            order_id=spend.order_id,
            reason=spend.reason,
            entry_id=entry.entry_id,
            created_at=now,
        )
    )
    await book.close()
    return ledger_pb2.SpendPointsResponse(spend_id=spend_id, entry_id=entry.entry_id, balance=book.balance())


async def cancel_spend(
    conn: AsyncConnection,
    *,
    member_id: str,
    spend_id: str,
    channel: Channel,
    now: datetime,
    principal: Principal,
) -> ledger_pb2.CancelSpendResponse:
    """Put a spend's points back into the lots it took them from, once."""
    await members_api.require_member(conn, members_api.MemberKey(member_id=member_id))
    book = await Book.open(conn, member_id, now=now, credential_id=principal.credential_id)
    spend = await records.lock_spend(conn, member_id=member_id, spend_id=spend_id)
    if spend is None:
        raise NotFound("spend", spend_id)
    principal.require_store(spend.store_id)
    if spend.cancelled:
        raise FailedPrecondition(
            f"spend {spend_id} was already cancelled",
            reason="SPEND_ALREADY_CANCELLED",
            metadata={"member_id": member_id, "spend_id": spend_id},
        )
    takes = await store.takes_of(conn, member_id=member_id, entry_id=spend.entry_id)
    assert sum(t.points for t in takes) == spend.points, "a spend's takes add up to its points"
    cause = Cause(
        channel=channel.value,
        store_id=spend.store_id,
        source_type="spend",
        source_ref=spend_id,
        reason="spend cancelled",
        occurred_at=now,
    )
    entry = await book.put_back(takes, cause)
    book.write_with_head(records.spend_cancelled(spend, cancel_entry_id=entry.entry_id, now=now))
    await book.close()
    return ledger_pb2.CancelSpendResponse(
        entry_id=entry.entry_id, points_returned=spend.points, balance=book.balance()
    )


async def adjust_points(
    conn: AsyncConnection, *, member_id: str, points: int, reason: str, now: datetime, principal: Principal
) -> ledger_pb2.AdjustPointsResponse:
    """A signed correction: a credit is a new lot (expiring like any other), a debit may leave a debt."""
    await members_api.require_member(conn, members_api.MemberKey(member_id=member_id))
    settings = await program_settings.read(conn)
    book = await Book.open(conn, member_id, now=now, credential_id=principal.credential_id)
    cause = Cause(
        channel=Channel.BACKOFFICE.value,
        source_type="adjustment",
        source_ref=principal.credential_id,
        reason=reason,
        occurred_at=now,
    )
    if points > 0:
        expires_at = add_months(now, settings.expiry_months) if settings.expiry_months else None
        entry, _lot_id = await book.credit(
            EntryType.ADJUST, points, cause, earned_at=now, available_at=now, expires_at=expires_at
        )
    else:
        entry = await book.deduct(-points, cause)
    await book.close()
    return ledger_pb2.AdjustPointsResponse(entry_id=entry.entry_id, balance=book.balance())
