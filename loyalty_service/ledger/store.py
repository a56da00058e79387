"""The ledger's rows in PostgreSQL: Core statements on a passed connection; never commits.

Every write to a member starts with `lock_account` (SELECT ... FOR UPDATE on the member's `accounts`
row): that one lock serialises all changes to the member, on every replica, so the open lots read
after it are the current ones and a spend can never overdraw them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db import fast
from loyalty_service.db.read_ahead import ReadAhead
from loyalty_service.db.tables import accounts, ledger_entries, lot_takes, lots
from loyalty_service.ledger.chain import ChainedEntry
from loyalty_service.ledger.lots import Lot, Take

__all__ = [
    "AccountRow",
    "BalanceSnapshot",
    "EntryRow",
    "StoredLot",
    "balance_snapshot",
    "chained",
    "insert_entry",
    "insert_lot",
    "insert_takes",
    "list_entries",
    "lock_account",
    "lock_accounts",
    "locked_account_with_lots",
    "lots_by_id",
    "open_lots",
    "read_account",
    "read_account_with_lots",
    "save_account",
    "save_lot",
    "set_available_at",
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

# The hot statements as SQL text, sent through `db.fast` (prepared once per connection by asyncpg).
_ACCOUNT_SQL = (
    "select member_id, available, pending, lifetime_earned, entry_seq, last_entry_hash from accounts"
)
_LOCK_ACCOUNT = f"{_ACCOUNT_SQL} where member_id = $1 for update"
_READ_ACCOUNT = f"{_ACCOUNT_SQL} where member_id = $1"
_LOT_SQL = (
    "select lot_id, points, remaining, earned_at, available_at, expires_at, released, entry_id from lots"
)
_OPEN_LOTS = (
    f"{_LOT_SQL} where member_id = $1 and (remaining > 0 or released is false) order by earned_at, lot_id"
)
_INSERT_LOT = (
    "insert into lots (member_id, lot_id, points, remaining, earned_at, available_at, expires_at, entry_id,"
    " released) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
_SAVE_LOT = "update lots set remaining = $3, released = $4 where member_id = $1 and lot_id = $2"
_INSERT_TAKE = "insert into lot_takes (member_id, entry_id, lot_id, points) values ($1, $2, $3, $4)"
_INSERT_ENTRY = (
    "insert into ledger_entries (member_id, entry_seq, entry_id, entry_type, points, balance_after, channel,"
    " store_id, source_type, source_ref, reason, credential_id, occurred_at, recorded_at, entry_hash)"
    " values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
)
_SAVE_ACCOUNT = (
    "update accounts set available = $2, pending = $3, lifetime_earned = $4, entry_seq = $5,"
    " last_entry_hash = $6, next_release_at = $7, next_expiry_at = $8,"
    " updated_at = greatest(updated_at, $9::timestamptz) where member_id = $1"
)


def _account(row: Any) -> AccountRow:
    member_id, available, pending, lifetime_earned, entry_seq, last_entry_hash = row
    return AccountRow(member_id, available, pending, lifetime_earned, entry_seq, bytes(last_entry_hash))


async def lock_account(conn: AsyncConnection, member_id: str) -> AccountRow | None:
    """Lock the member's ledger head for this transaction; None if the member has no account."""
    row = await fast.fetchrow(conn, _LOCK_ACCOUNT, member_id)
    return None if row is None else _account(row)


# The batch statements below look each member up through a LATERAL subquery that cannot be flattened
# (`offset 0`, or its own `for update`): a lookup per member by primary key is the only plan, so a generic
# plan cached while the tables were small and not yet analyzed (a new database's first minute) cannot turn
# into a hash join over a scan of the whole table as they grow (tests/ledger/test_batch_plans.py).
# The locks are taken in the order the lateral lookups run: the ids are sorted first.
_LOCK_ACCOUNTS = (
    "select a.member_id from ("
    " select distinct w.member_id from ("
    "  select unnest($1::text[])"
    "  union all select i.member_id from unnest($2::text[], $3::text[]) as k(kind, value)"
    "  cross join lateral (select i.member_id from member_identifiers i"
    "   where i.kind = k.kind and i.value = k.value offset 0) as i"
    " ) as w(member_id) order by w.member_id offset 0"
    ") as w cross join lateral"
    " (select a.member_id from accounts a where a.member_id = w.member_id for update) as a"
)
# Read in a statement of its own, after the locks are held: a locking statement that waited for another
# writer re-reads the row it locks, but not the lots it joins, which would be as they were before.
_ACCOUNTS_WITH_LOTS = (
    "select a.member_id, a.available, a.pending, a.lifetime_earned, a.entry_seq, a.last_entry_hash,"
    " l.lot_id, l.points, l.remaining, l.earned_at, l.available_at, l.expires_at, l.released, l.entry_id"
    " from unnest($1::text[]) as w(member_id)"
    " cross join lateral (select * from accounts a where a.member_id = w.member_id offset 0) as a"
    " left join lateral (select * from lots l where l.member_id = a.member_id"
    " and (l.remaining > 0 or l.released is false) offset 0) as l on true"
    " order by a.member_id, l.earned_at, l.lot_id"
)


_locked_by_batch: ContextVar[tuple[object, frozenset[str]] | None] = ContextVar(
    "locked_by_batch", default=None
)
"""The accounts `lock_accounts` locked, and the transaction holding the locks."""
_ledgers_read = ReadAhead[str, tuple[AccountRow, list[StoredLot]]]("ledgers_read_ahead")
"""The head and open lots of each account `lock_accounts` locked, as it read them."""


async def lock_accounts(conn: AsyncConnection, members: Sequence[Any]) -> frozenset[str]:
    """Lock the ledgers of several members (`members_api.MemberKey`s) in member id order, in one
    statement, then read their heads and open lots in another: a batch takes its locks as one ordered
    step, so two batches cannot deadlock. Unknown references are skipped (their purchase fails on its
    own). Returns the ids of the members locked.

    Call it outside any savepoint: the transaction then holds these locks to its end, and
    `locked_account_with_lots` reads such a member's ledger without locking it again."""
    ids = sorted({m.member_id for m in members if m.member_id is not None})
    identifiers = sorted({(str(m.kind.value), m.value) for m in members if m.member_id is None})
    locked_rows = await fast.fetch(
        conn, _LOCK_ACCOUNTS, ids, [kind for kind, _ in identifiers], [value for _, value in identifiers]
    )
    rows = await fast.fetch(conn, _ACCOUNTS_WITH_LOTS, [str(row[0]) for row in locked_rows])
    ledgers: dict[str, tuple[AccountRow, list[StoredLot]]] = {}
    for row in rows:
        values = tuple(row)
        member_id = str(values[0])
        if member_id not in ledgers:
            ledgers[member_id] = _account(values[:6]), []
        if values[6] is not None:
            ledgers[member_id][1].append(_stored_lot(values[6:]))
    locked = frozenset(ledgers)
    _locked_by_batch.set((await fast.transaction_of(conn), locked))
    await _ledgers_read.keep(conn, ledgers)
    return locked


async def locked_account_with_lots(
    conn: AsyncConnection, member_id: str
) -> tuple[AccountRow, list[StoredLot]] | None:
    """The account and open lots of a member whose ledger this transaction locked with `lock_accounts`:
    as that statement read them, the first time (every writer of a ledger holds its lock, so nothing
    changed them since), in one statement after that. None when the member was not locked that way
    (lock it with `lock_account`)."""
    read = await _ledgers_read.take(conn, member_id)
    if read is not None:
        return read
    locked = _locked_by_batch.get()
    if locked is None or member_id not in locked[1] or locked[0] is not await fast.transaction_of(conn):
        return None
    return await read_account_with_lots(conn, member_id)


_ACCOUNT_WITH_LOTS = (
    "select a.member_id, a.available, a.pending, a.lifetime_earned, a.entry_seq, a.last_entry_hash,"
    " l.lot_id, l.points, l.remaining, l.earned_at, l.available_at, l.expires_at, l.released, l.entry_id"
    " from accounts a left join lots l on l.member_id = a.member_id"
    " and (l.remaining > 0 or l.released is false)"
    " where a.member_id = $1 order by l.earned_at, l.lot_id"
)


_BALANCE_COLUMNS = (
    "select m.member_id, m.status, m.merged_into,"
    " a.member_id, a.available, a.pending, a.lifetime_earned, a.entry_seq, a.last_entry_hash,"
    " l.lot_id, l.points, l.remaining, l.earned_at, l.available_at, l.expires_at, l.released, l.entry_id"
)
_BALANCE_JOINS = (
    " left join accounts a on a.member_id = m.member_id"
    " left join lots l on l.member_id = m.member_id and (l.remaining > 0 or l.released is false)"
)
_BALANCE_BY_ID = (
    f"{_BALANCE_COLUMNS} from members m{_BALANCE_JOINS} where m.member_id = $1 order by l.earned_at, l.lot_id"
)
_BALANCE_BY_IDENTIFIER = (
    f"{_BALANCE_COLUMNS} from member_identifiers i"
    f" join members m on m.member_id = i.member_id{_BALANCE_JOINS}"
    " where i.kind = $1 and i.value = $2 order by l.earned_at, l.lot_id"
)


@dataclass(frozen=True, slots=True)
class BalanceSnapshot:
    """A member, its ledger head and open lots, read by one statement (one consistent snapshot)."""

    member: tuple[str, str, str | None]
    """(member_id, status, merged_into), as `members_api.usable_member` takes it."""
    account: AccountRow | None
    lots: list[StoredLot]


async def balance_snapshot(
    conn: AsyncConnection, *, member_id: str | None, kind: str | None, value: str | None
) -> BalanceSnapshot | None:
    """The member named by id (or by identifier kind and value), its head and open lots; None when
    there is no such member. One statement outside any transaction: a read-only call needs no
    BEGIN/ROLLBACK round trips, and a single statement sees one snapshot."""
    if member_id is not None:
        rows = await fast.fetch_alone(conn, _BALANCE_BY_ID, member_id)
    else:
        rows = await fast.fetch_alone(conn, _BALANCE_BY_IDENTIFIER, kind, value)
    if not rows:
        return None
    values = [tuple(row) for row in rows]
    first = values[0]
    account = None if first[3] is None else _account(first[3:9])
    lots = [_stored_lot(row[9:]) for row in values if row[9] is not None]
    return BalanceSnapshot((str(first[0]), str(first[1]), first[2]), account, lots)


async def read_account_with_lots(
    conn: AsyncConnection, member_id: str
) -> tuple[AccountRow, list[StoredLot]] | None:
    """`read_account` and `open_lots` in one statement (one snapshot, one round trip); no lock."""
    rows = await fast.fetch(conn, _ACCOUNT_WITH_LOTS, member_id)
    if not rows:
        return None
    values = [tuple(row) for row in rows]
    return _account(values[0][:6]), [_stored_lot(row[6:]) for row in values if row[6] is not None]


async def read_account(conn: AsyncConnection, member_id: str) -> AccountRow | None:
    row = await fast.fetchrow(conn, _READ_ACCOUNT, member_id)
    return None if row is None else _account(row)


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
    return [_stored_lot(row) for row in await fast.fetch(conn, _OPEN_LOTS, member_id)]


async def lots_by_id(conn: AsyncConnection, member_id: str, lot_ids: Iterable[str]) -> list[StoredLot]:
    rows = await conn.execute(
        select(*_LOT_COLUMNS).where(lots.c.member_id == member_id, lots.c.lot_id.in_(list(lot_ids)))
    )
    return [_stored_lot(row) for row in rows.all()]


def lot_insert(*, member_id: str, stored: StoredLot) -> fast.Write:
    lot = stored.lot
    args = (
        member_id,
        lot.lot_id,
        lot.points,
        lot.remaining,
        lot.earned_at,
        lot.available_at,
        lot.expires_at,
        stored.entry_id,
        stored.released,
    )
    return _INSERT_LOT, args


def lot_save(*, member_id: str, lot_id: str, remaining: int, released: bool) -> fast.Write:
    return _SAVE_LOT, (member_id, lot_id, remaining, released)


def takes_insert(*, member_id: str, entry_id: str, takes: Sequence[Take]) -> fast.Write:
    """One multi-row insert of a debit's takes (at least one)."""
    assert takes
    rows = ", ".join(f"(${4 * i + 1}, ${4 * i + 2}, ${4 * i + 3}, ${4 * i + 4})" for i in range(len(takes)))
    args = tuple(value for t in takes for value in (member_id, entry_id, t.lot_id, t.points))
    return f"insert into lot_takes (member_id, entry_id, lot_id, points) values {rows}", args


def entry_insert(entry: EntryRow) -> fast.Write:
    args = (
        entry.member_id,
        entry.entry_seq,
        entry.entry_id,
        entry.entry_type,
        entry.points,
        entry.balance_after,
        entry.channel,
        entry.store_id,
        entry.source_type,
        entry.source_ref,
        entry.reason,
        entry.credential_id,
        entry.occurred_at,
        entry.recorded_at,
        entry.entry_hash,
    )
    return _INSERT_ENTRY, args


async def run_writes(conn: AsyncConnection, writes: Sequence[fast.Write], *, member_id: str) -> None:
    """Several writes of the member's rows in one statement (`fast.combine`), sent with `fast.send`;
    nothing to do for none."""
    if writes:
        await fast.send(conn, fast.combine(writes[:-1], writes[-1]), key=member_id)


async def insert_lot(conn: AsyncConnection, *, member_id: str, stored: StoredLot) -> None:
    await run_writes(conn, [lot_insert(member_id=member_id, stored=stored)], member_id=member_id)


async def save_lot(
    conn: AsyncConnection, *, member_id: str, lot_id: str, remaining: int, released: bool
) -> None:
    await fast.execute(conn, _SAVE_LOT, member_id, lot_id, remaining, released)


async def set_available_at(conn: AsyncConnection, *, member_id: str, lot_id: str, at: datetime) -> None:
    """Move a pending lot's release time (a click-and-collect pickup releases it at once)."""
    await conn.execute(
        update(lots).where(lots.c.member_id == member_id, lots.c.lot_id == lot_id).values(available_at=at)
    )


async def insert_takes(
    conn: AsyncConnection, *, member_id: str, entry_id: str, takes: Sequence[Take]
) -> None:
    """Remember which lots a debit took from, so that a cancellation puts the points back there."""
    if len(takes) == 1:
        await fast.execute(conn, _INSERT_TAKE, member_id, entry_id, takes[0].lot_id, takes[0].points)
    elif takes:
        await fast.executemany(conn, _INSERT_TAKE, [(member_id, entry_id, t.lot_id, t.points) for t in takes])


async def takes_of(conn: AsyncConnection, *, member_id: str, entry_id: str) -> list[Take]:
    rows = await conn.execute(
        select(lot_takes.c.lot_id, lot_takes.c.points)
        .where(lot_takes.c.member_id == member_id, lot_takes.c.entry_id == entry_id)
        .order_by(lot_takes.c.lot_id)
    )
    return [Take(str(lot_id), int(points)) for lot_id, points in rows.all()]


async def insert_entry(conn: AsyncConnection, entry: EntryRow) -> None:
    await run_writes(conn, [entry_insert(entry)], member_id=entry.member_id)


async def save_account(
    conn: AsyncConnection,
    *,
    account: AccountRow,
    next_release_at: datetime | None,
    next_expiry_at: datetime | None,
    now: datetime,
    together_with: Sequence[fast.Write] = (),
) -> None:
    """Write the materialised balance and the times the maintenance job must look at the member again
    (with `together_with`, writes of the caller in the same statement)."""
    args = (
        account.member_id,
        account.available,
        account.pending,
        account.lifetime_earned,
        account.entry_seq,
        account.last_entry_hash,
        next_release_at,
        next_expiry_at,
        now,
    )
    await run_writes(conn, [*together_with, (_SAVE_ACCOUNT, args)], member_id=account.member_id)


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
