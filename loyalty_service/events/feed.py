"""Reading the outbox: a member's events by sequence, and the programme's by `event_id`.

Reads are short statements on a pooled connection, returned at once: no connection is held while a
stream waits. Every read is bounded by `limit`, so a stream holds at most one batch in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from loyalty.v1 import events_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db import fast
from loyalty_service.proto_time import to_timestamp

__all__ = [
    "Snapshot",
    "StoredEvent",
    "Tail",
    "head_position",
    "member_events",
    "member_tails",
    "program_events",
]

_COLUMNS = (
    "member_id, seq, event_id, event_type, payload, occurred_at, "
    "extract(epoch from statement_timestamp() - created_at)::float8 as age_seconds"
)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    member_id: str
    seq: int
    event_id: int
    event_type: str
    payload: bytes
    occurred_at: datetime
    age_seconds: float
    """How long ago its transaction started, by the database's clock (the lag check uses it)."""

    def message(self) -> events_pb2.MemberEvent:
        return events_pb2.MemberEvent(
            member_id=self.member_id,
            sequence=self.seq,
            type=self.event_type,
            occurred_at=to_timestamp(self.occurred_at),
            payload=events_pb2.EventPayload.FromString(self.payload),
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    xmin: int
    xmax: int


def _stored(row: Sequence[Any]) -> StoredEvent:
    return StoredEvent(
        member_id=str(row[0]),
        seq=int(row[1]),
        event_id=int(row[2]),
        event_type=str(row[3]),
        payload=bytes(row[4]),
        occurred_at=row[5],
        age_seconds=float(row[6]),
    )


_MEMBER_EVENTS = f"select {_COLUMNS} from events where member_id = $1 and seq > $2 order by seq limit $3"


async def member_events(
    conn: AsyncConnection, member_id: str, *, after: int, limit: int
) -> list[StoredEvent]:
    """The member's events after sequence `after`, oldest first (the primary key serves it).

    Read on every wake-up of every stream: one prepared statement without a transaction around it
    (a statement is its own snapshot), instead of BEGIN, SELECT and ROLLBACK."""
    rows = await fast.fetch_alone(conn, _MEMBER_EVENTS, member_id, after, limit)
    return [_stored(row) for row in rows]


@dataclass(frozen=True, slots=True)
class Tail:
    """A member's events with `after < seq <= upto`: the range a notification announced."""

    member_id: str
    after: int
    upto: int


_MEMBER_TAILS = (
    "select e.* from unnest($1::text[], $2::bigint[], $3::bigint[]) as w(member_id, after, upto)"
    f" cross join lateral (select {_COLUMNS} from events"
    " where member_id = w.member_id and seq > w.after and seq <= w.upto order by seq limit $4) as e"
)
"""One primary-key range scan per member, whatever the statistics: the LIMIT keeps the planner from
flattening the subquery into a join, whose cached generic plan, chosen while the outbox was still nearly
empty, read more of it the more it grew (the hub's connection went from 5% to 18% of a core in 30 s)."""


async def member_tails(
    conn: asyncpg.Connection, tails: Sequence[Tail], *, seconds: float
) -> dict[str, list[StoredEvent]]:
    """Several members' announced events in one statement, by member, oldest first.

    The hub's read for every stream of its process at once; on its own asyncpg connection, since one
    statement per wake-up round replaces a pooled read per stream and event."""
    rows = await conn.fetch(
        _MEMBER_TAILS,
        [t.member_id for t in tails],
        [t.after for t in tails],
        [t.upto for t in tails],
        max(t.upto - t.after for t in tails),
        timeout=seconds,
    )
    found: dict[str, list[StoredEvent]] = {}
    for row in rows:
        event = _stored(row)
        found.setdefault(event.member_id, []).append(event)
    return found


async def program_events(
    conn: AsyncConnection, *, after: int, limit: int
) -> tuple[list[StoredEvent], Snapshot]:
    """Events after `after` by event_id, and the snapshot they were read in (for `FeedCursor`).

    Both statements run in one REPEATABLE READ transaction, so they share one snapshot.
    """
    await conn.execution_options(isolation_level="REPEATABLE READ")
    snap = (
        await conn.execute(
            text(
                "select pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint "
                "from pg_current_snapshot() as s"
            )
        )
    ).one()
    rows = await conn.execute(
        text(f"select {_COLUMNS} from events where event_id > :after order by event_id limit :limit"),
        {"after": after, "limit": limit},
    )
    return [_stored(row) for row in rows], Snapshot(int(snap[0]), int(snap[1]))


async def head_position(conn: AsyncConnection) -> int:
    """The highest event_id taken so far (a live programme feed starts after it)."""
    value = (await conn.execute(text("select coalesce(max(event_id), 0) from events"))).scalar_one()
    return int(value)
