"""The till's durable queue of purchases made while the service was unreachable (stdlib sqlite3, WAL).

One row per purchase holds the complete request as sent (idempotency key, member, order, amount,
occurred_at, lines), in insertion order. A row leaves the queue only when the service answered for it:
credited (or a duplicate of an earlier upload) rows are deleted; rows the service refused move to
`dead_letters` with the error (code, message, field violations, and the machine-readable reason and
metadata of the service's ItemError), for someone to look at. Each operation opens its own short
connection, so a new till process, or a second client on the same file, picks up where the last one
stopped. A file written by an older client (no reason/metadata columns) gains them when opened.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from loyalty.v1 import common_pb2, ledger_pb2

__all__ = ["DeadLetter", "OfflineQueue", "QueuedPurchase", "QueuedRow"]

_SCHEMA = """
create table if not exists queued_purchases (
    position integer primary key autoincrement,
    idempotency_key text not null unique,
    order_id text not null,
    amount_minor integer not null,
    currency text not null,
    occurred_at text not null,
    queued_at text not null,
    request blob not null
);
create table if not exists dead_letters (
    position integer primary key,
    idempotency_key text not null,
    order_id text not null,
    request blob not null,
    queued_at text not null,
    failed_at text not null,
    error_code integer not null,
    error_message text not null,
    field_violations text not null,
    reason text not null default '',
    metadata text not null default '{}'
);
"""
_DEAD_LETTER_COLUMNS_ADDED = (
    ("reason", "alter table dead_letters add column reason text not null default ''"),
    ("metadata", "alter table dead_letters add column metadata text not null default '{}'"),
)
"""Columns a queue file made by an older client lacks, and how each is added (old rows get the default)."""


@dataclass(frozen=True, slots=True)
class QueuedPurchase:
    """A purchase kept in the till's queue because the service was unreachable; `sync()` uploads it."""

    idempotency_key: str
    order_id: str
    position: int
    queued_at: datetime


@dataclass(frozen=True, slots=True)
class QueuedRow:
    position: int
    request: ledger_pb2.RecordPurchaseRequest


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A queued purchase the service refused (e.g. too old): kept with the service's reason."""

    position: int
    idempotency_key: str
    order_id: str
    error_code: int
    """The google.rpc.Code of the refusal, e.g. 9 for FAILED_PRECONDITION."""
    error_message: str
    field_violations: tuple[tuple[str, str], ...]
    """(field, description) pairs of an INVALID_ARGUMENT refusal."""
    failed_at: datetime
    reason: str = ""
    """Machine-readable cause, as the service's ErrorInfo would say for the purchase sent alone, e.g.
    "OFFLINE_PURCHASE_TOO_OLD", "DUPLICATE_ORDER", "NOT_FOUND", "INVALID_ARGUMENT"; "" for a letter
    stored by an older client."""
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    """Details of `reason` (read-only), e.g. {"max_age_days": "30"} for OFFLINE_PURCHASE_TOO_OLD,
    {"channel": ..., "store_id": ..., "order_id": ...} for DUPLICATE_ORDER; empty for an older letter."""


class OfflineQueue:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with self._connect() as conn:
            conn.execute("pragma journal_mode=wal")
            conn.executescript(_SCHEMA)
            _add_missing_columns(conn)

    def __repr__(self) -> str:
        return f"OfflineQueue({str(self.path)!r})"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as conn:
            conn.execute("pragma synchronous=full")
            conn.execute("pragma busy_timeout=30000")
            yield conn

    def put(self, request: ledger_pb2.RecordPurchaseRequest) -> QueuedPurchase:
        """Store one purchase durably (committed before this returns); the same key twice is stored once."""
        now = datetime.now(UTC)
        with self._connect() as conn:
            conn.execute(
                "insert into queued_purchases (idempotency_key, order_id, amount_minor, currency,"
                " occurred_at, queued_at, request) values (?, ?, ?, ?, ?, ?, ?)"
                " on conflict (idempotency_key) do nothing",
                (
                    request.idempotency_key,
                    request.order_id,
                    request.amount.amount_minor,
                    request.amount.currency,
                    request.occurred_at.ToDatetime(tzinfo=UTC).isoformat(),
                    now.isoformat(),
                    request.SerializeToString(deterministic=True),
                ),
            )
            row = conn.execute(
                "select position, queued_at from queued_purchases where idempotency_key = ?",
                (request.idempotency_key,),
            ).fetchone()
        return QueuedPurchase(
            idempotency_key=request.idempotency_key,
            order_id=request.order_id,
            position=int(row[0]),
            queued_at=datetime.fromisoformat(row[1]),
        )

    def count(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("select count(*) from queued_purchases").fetchone()[0])

    def head(self, limit: int) -> list[QueuedRow]:
        """The oldest `limit` purchases, in the order they were queued."""
        with self._connect() as conn:
            rows = conn.execute(
                "select position, request from queued_purchases order by position limit ?", (limit,)
            ).fetchall()
        return [QueuedRow(int(p), ledger_pb2.RecordPurchaseRequest.FromString(r)) for p, r in rows]

    def settle(self, *, done: list[int], failed: list[tuple[int, common_pb2.ItemError]]) -> None:
        """Delete answered rows and move refused ones to `dead_letters`, in one transaction."""
        now = datetime.now(UTC).isoformat()
        with self._connect() as conn:
            conn.execute("begin immediate")
            for position, error in failed:
                violations = json.dumps([[v.field, v.description] for v in error.field_violations])
                metadata = json.dumps(dict(error.metadata), sort_keys=True)
                conn.execute(
                    "insert or replace into dead_letters (position, idempotency_key, order_id, request,"
                    " queued_at, failed_at, error_code, error_message, field_violations, reason, metadata)"
                    " select position, idempotency_key, order_id, request, queued_at, ?, ?, ?, ?, ?, ?"
                    " from queued_purchases where position = ?",
                    (now, error.code, error.message, violations, error.reason, metadata, position),
                )
            conn.executemany(
                "delete from queued_purchases where position = ?",
                [(p,) for p in [*done, *(f[0] for f in failed)]],
            )
            conn.execute("commit")

    def dead_letters(self) -> list[DeadLetter]:
        with self._connect() as conn:
            rows = conn.execute(
                "select position, idempotency_key, order_id, error_code, error_message, field_violations,"
                " failed_at, reason, metadata from dead_letters order by position"
            ).fetchall()
        return [
            DeadLetter(
                position=int(r[0]),
                idempotency_key=r[1],
                order_id=r[2],
                error_code=int(r[3]),
                error_message=r[4],
                field_violations=tuple((f, d) for f, d in json.loads(r[5])),
                failed_at=datetime.fromisoformat(r[6]),
                reason=r[7],
                metadata=MappingProxyType({str(k): str(v) for k, v in json.loads(r[8]).items()}),
            )
            for r in rows
        ]


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring a queue file made by an older client up to the current `dead_letters` columns.

    Rechecked and altered inside one write transaction, so two clients opening the same old file at
    once add each column once (the second finds it added); a current file takes no write lock."""

    def missing() -> list[str]:
        present = {row[1] for row in conn.execute("pragma table_info(dead_letters)")}
        return [statement for column, statement in _DEAD_LETTER_COLUMNS_ADDED if column not in present]

    if not missing():
        return
    conn.execute("begin immediate")
    try:
        for statement in missing():
            conn.execute(statement)
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
