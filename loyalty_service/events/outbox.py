"""Append member events to the outbox table, with a per-member sequence number without gaps.

The sequence comes from the member's `accounts` row, updated in the same transaction: the row lock
orders a member's events by commit, and a rollback takes its number back with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from loyalty.v1 import events_pb2
from sqlalchemy import Text, cast, func, insert, literal, select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db import fast
from loyalty_service.db.tables import events
from loyalty_service.events.hub import CHANNEL

__all__ = ["append", "append_with_seq", "event_type"]


def event_type(payload: events_pb2.EventPayload) -> str:
    kind = payload.WhichOneof("event")
    assert kind is not None, "an event has a payload"
    return kind


# Number, write and NOTIFY in one round trip: the sequence update, the insert and pg_notify as one
# statement (data-modifying CTEs), sent as prepared text through `db.fast`.
_APPEND = (
    "with numbered as (update accounts set event_seq = event_seq + 1 where member_id = $1"
    " returning event_seq),"
    " inserted as (insert into events (member_id, seq, event_type, payload, occurred_at)"
    " select $1, event_seq, $2, $3, $4 from numbered returning member_id, seq)"
    " select seq, pg_notify($5, member_id || ':' || seq::text) from inserted"
)


# Several events of one member at once: numbered in the order given.
_APPEND_MANY = (
    "with numbered as (update accounts set event_seq = event_seq + $6 where member_id = $1"
    " returning event_seq),"
    " inserted as (insert into events (member_id, seq, event_type, payload, occurred_at)"
    " select $1, n.event_seq - $6 + e.ord, e.event_type, e.payload, $4 from numbered as n,"
    " unnest($2::text[], $3::bytea[]) with ordinality as e(event_type, payload, ord)"
    " returning member_id, seq)"
    " select max(seq), pg_notify($5, $1 || ':' || max(seq)::text) from inserted having count(*) > 0"
)


async def append(
    conn: AsyncConnection,
    *,
    member_id: str,
    payload: events_pb2.EventPayload,
    occurred_at: datetime,
    together_with: Sequence[fast.Write] = (),
    preceded_by: Sequence[events_pb2.EventPayload] = (),
) -> None:
    """Take the member's next sequence number and write the event (kept with the transaction's other
    writes while it defers them: `fast.send`).

    `together_with`: writes of the caller sent in the same statement (`fast.combine`), such as the
    ledger entry the event reports: one round trip for all of them. `preceded_by`: events of the same
    change numbered just before this one, in the same statement.
    """
    if preceded_by:
        payloads = [*preceded_by, payload]
        args: tuple[object, ...] = (
            member_id,
            [event_type(p) for p in payloads],
            [p.SerializeToString() for p in payloads],
            occurred_at,
            CHANNEL,
            len(payloads),
        )
        sql, combined_args = fast.combine(together_with, (_APPEND_MANY, args))
    else:
        args = (member_id, event_type(payload), payload.SerializeToString(), occurred_at, CHANNEL)
        sql, combined_args = fast.combine(together_with, (_APPEND, args))
    status = await fast.send(conn, (sql, combined_args), key=member_id)
    if status == "SELECT 0":  # sent at once, and numbered nothing
        raise NoResultFound(f"no account for member {member_id}")


async def append_with_seq(
    conn: AsyncConnection,
    *,
    member_id: str,
    seq: int,
    payload: events_pb2.EventPayload,
    occurred_at: datetime,
) -> None:
    """Write an event whose number the caller already took (in the same update as its balance change).

    The same statement queues a NOTIFY that PostgreSQL delivers to every replica's listener at commit
    (events.hub): one round trip for both.
    """
    inserted = (
        insert(events)
        .values(
            member_id=member_id,
            seq=seq,
            event_type=event_type(payload),
            payload=payload.SerializeToString(),
            occurred_at=occurred_at,
        )
        .returning(events.c.member_id, events.c.seq)
        .cte("inserted")
    )
    notify = func.pg_notify(CHANNEL, inserted.c.member_id + literal(":") + cast(inserted.c.seq, Text))
    await conn.execute(select(notify).select_from(inserted))
