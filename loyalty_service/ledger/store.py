"""The ledger's rows in PostgreSQL: Core statements on a passed connection; never commits.

Every write to a member starts with `lock_account` (SELECT ... FOR UPDATE on the member's `accounts`
row): that one lock serialises all changes to the member, on every replica, so the open lots read
after it are the current ones and a spend can never overdraw them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables import accounts, ledger_entries, lot_takes, lots
from loyalty_service.ledger.chain import ChainedEntry
from loyalty_service.ledger.lots import Lot, Take

__all__ = [
    "AccountRow",
    "EntryRow",
    "StoredLot",
    "chained",
    "insert_entry",
    "insert_lot",
    "insert_takes",
    "list_entries",
    "lock_account",
    "lots_by_id",
    "open_lots",
    "read_account",
    "save_account",
    "save_lot",
    "takes_of",
]


@dataclass(frozen=True, slots=True)
class AccountRow:
    """The head of a member's ledger, as locked at the start of a change."""

    member_id: str
    available: int
    pending: int
    lifetime_earned: int
    entry_seq: int
    last_entry_hash: bytes = bytes(32)
    """The newest entry's chain hash (ledger.chain); 32 zero bytes before the first entry."""


@dataclass(frozen=True, slots=True)
class StoredLot:
    """A lot and whether its release (pending -> available, paying debt) has run."""

    lot: Lot
    released: bool
    entry_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryRow:
    member_id: str
    entry_seq: int
    entry_id: str
    entry_type: str
    points: int
    balance_after: int
    channel: str
    store_id: str
    source_type: str
    source_ref: str
    reason: str
    credential_id: str
    occurred_at: datetime
    recorded_at: datetime
    entry_hash: bytes = b""
    """SHA-256 chain hash over this entry and the previous one (ledger.chain)."""


def chained(entry: EntryRow) -> ChainedEntry:
    """What the chain hash of `entry` covers."""
    return ChainedEntry(
        member_id=entry.member_id,
        entry_seq=entry.entry_seq,
        entry_id=entry.entry_id,
        entry_type=entry.entry_type,
        points=entry.points,
        balance_after=entry.balance_after,
        channel=entry.channel,
        store_id=entry.store_id,
        source_type=entry.source_type,
        source_ref=entry.source_ref,
        reason=entry.reason,
        occurred_at=entry.occurred_at,
        recorded_at=entry.recorded_at,
        credential_id=entry.credential_id,
    )


_ACCOUNT_COLUMNS = (
    accounts.c.member_id,
    accounts.c.available,
    accounts.c.pending,
    accounts.c.lifetime_earned,
    accounts.c.entry_seq,
    accounts.c.last_entry_hash,
)
_LOT_COLUMNS = (
    lots.c.lot_id,
    lots.c.points,
    lots.c.remaining,
    lots.c.earned_at,
    lots.c.available_at,
    lots.c.expires_at,
    lots.c.released,
    lots.c.entry_id,
)
ENTRY_COLUMNS = tuple(ledger_entries.c)


async def lock_account(conn: AsyncConnection, member_id: str) -> AccountRow | None:
    """Lock the member's ledger head for this transaction; None if the member has no account."""
    row = (
        await conn.execute(
            select(*_ACCOUNT_COLUMNS).where(accounts.c.member_id == member_id).with_for_update()
        )
    ).one_or_none()
    return None if row is None else AccountRow(*row)


async def read_account(conn: AsyncConnection, member_id: str) -> AccountRow | None:
    row = (
        await conn.execute(select(*_ACCOUNT_COLUMNS).where(accounts.c.member_id == member_id))
    ).one_or_none()
    return None if row is None else AccountRow(*row)


def _stored_lot(row: Sequence[object]) -> StoredLot:
    lot_id, points, remaining, earned_at, available_at, expires_at, released, entry_id = row
    lot = Lot(
        lot_id=str(lot_id),
        points=int(points),  # type: ignore[call-overload]
        remaining=int(remaining),  # type: ignore[call-overload]
        earned_at=earned_at,  # type: ignore[arg-type]
        available_at=available_at,  # type: ignore[arg-type]
        expires_at=expires_at,  # type: ignore[arg-type]
    )
    return StoredLot(lot, bool(released), str(entry_id))


async def open_lots(conn: AsyncConnection, member_id: str) -> list[StoredLot]:
    """Lots still holding points or still waiting for their release, oldest first."""
    rows = await conn.execute(
        select(*_LOT_COLUMNS)
        .where(lots.c.member_id == member_id, or_(lots.c.remaining > 0, lots.c.released.is_(False)))
        .order_by(lots.c.earned_at, lots.c.lot_id)
    )
    return [_stored_lot(row) for row in rows.all()]


async def lots_by_id(conn: AsyncConnection, member_id: str, lot_ids: Iterable[str]) -> list[StoredLot]:
    rows = await conn.execute(
        select(*_LOT_COLUMNS).where(lots.c.member_id == member_id, lots.c.lot_id.in_(list(lot_ids)))
    )
    return [_stored_lot(row) for row in rows.all()]


async def insert_lot(conn: AsyncConnection, *, member_id: str, stored: StoredLot) -> None:
    lot = stored.lot
    await conn.execute(
        insert(lots).values(
            member_id=member_id,
            lot_id=lot.lot_id,
            points=lot.points,
            remaining=lot.remaining,
            earned_at=lot.earned_at,
            available_at=lot.available_at,
            expires_at=lot.expires_at,
            entry_id=stored.entry_id,
            released=stored.released,
        )
    )


async def save_lot(
    conn: AsyncConnection, *, member_id: str, lot_id: str, remaining: int, released: bool
) -> None:
    await conn.execute(
        update(lots)
        .where(lots.c.member_id == member_id, lots.c.lot_id == lot_id)
        .values(remaining=remaining, released=released)
    )


async def insert_takes(
    conn: AsyncConnection, *, member_id: str, entry_id: str, takes: Sequence[Take]
) -> None:
    """Remember which lots a debit took from, so that a cancellation puts the points back there."""
    if takes:
        await conn.execute(
            insert(lot_takes),
            [
                {"member_id": member_id, "entry_id": entry_id, "lot_id": t.lot_id, "points": t.points}
                for t in takes
            ],
        )


async def takes_of(conn: AsyncConnection, *, member_id: str, entry_id: str) -> list[Take]:
    rows = await conn.execute(
        select(lot_takes.c.lot_id, lot_takes.c.points)
        .where(lot_takes.c.member_id == member_id, lot_takes.c.entry_id == entry_id)
        .order_by(lot_takes.c.lot_id)
    )
    return [Take(str(lot_id), int(points)) for lot_id, points in rows.all()]


async def insert_entry(conn: AsyncConnection, entry: EntryRow) -> None:
    await conn.execute(
        insert(ledger_entries).values(
            member_id=entry.member_id,
            entry_seq=entry.entry_seq,
            entry_id=entry.entry_id,
            entry_type=entry.entry_type,
            points=entry.points,
            balance_after=entry.balance_after,
            channel=entry.channel,
            store_id=entry.store_id,
            source_type=entry.source_type,
            source_ref=entry.source_ref,
            reason=entry.reason,
            credential_id=entry.credential_id,
            occurred_at=entry.occurred_at,
            recorded_at=entry.recorded_at,
            entry_hash=entry.entry_hash,
        )
    )


async def save_account(
    conn: AsyncConnection,
    *,
    account: AccountRow,
    next_release_at: datetime | None,
    next_expiry_at: datetime | None,
    now: datetime,
) -> None:
    """Write the materialised balance and the times the maintenance job must look at the member again."""
    await conn.execute(
        update(accounts)
        .where(accounts.c.member_id == account.member_id)
        .values(
            available=account.available,
            pending=account.pending,
            lifetime_earned=account.lifetime_earned,
            entry_seq=account.entry_seq,
            last_entry_hash=account.last_entry_hash,
            next_release_at=next_release_at,
            next_expiry_at=next_expiry_at,
            updated_at=func.greatest(accounts.c.updated_at, now),
        )
    )


async def list_entries(
    conn: AsyncConnection,
    *,
    member_id: str,
    before_seq: int | None,
    types: Sequence[str],
    channels: Sequence[str],
    occurred_from: datetime | None,
    occurred_to: datetime | None,
    limit: int,
) -> list[EntryRow]:
    """Newest first, keyset-paged on entry_seq (stable while new entries arrive)."""
    query = select(*ENTRY_COLUMNS).where(ledger_entries.c.member_id == member_id)
    if before_seq is not None:
        query = query.where(ledger_entries.c.entry_seq < before_seq)
    if types:
        query = query.where(ledger_entries.c.entry_type.in_(list(types)))
    if channels:
        query = query.where(ledger_entries.c.channel.in_(list(channels)))
    if occurred_from is not None:
        query = query.where(ledger_entries.c.occurred_at >= occurred_from)
    if occurred_to is not None:
        query = query.where(ledger_entries.c.occurred_at < occurred_to)
    rows = await conn.execute(query.order_by(ledger_entries.c.entry_seq.desc()).limit(limit))
    return [EntryRow(**row._mapping) for row in rows.all()]
