"""Append member events to the outbox table, with a per-member sequence number without gaps.

The sequence comes from the member's `accounts` row, updated in the same transaction: the row lock
orders a member's events by commit, and a rollback takes its number back with it.
"""

from __future__ import annotations

from datetime import datetime

from loyalty.v1 import events_pb2
from sqlalchemy import Text, cast, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables import accounts, events
from loyalty_service.events.hub import CHANNEL

__all__ = ["append", "append_with_seq", "event_type"]


def event_type(payload: events_pb2.EventPayload) -> str:
    kind = payload.WhichOneof("event")
    assert kind is not None, "an event has a payload"
    return kind


async def append(
    conn: AsyncConnection, *, member_id: str, payload: events_pb2.EventPayload, occurred_at: datetime
) -> int:
    """Take the member's next sequence number and write the event; returns the number."""
    seq = (
        await conn.execute(
            update(accounts)
            .where(accounts.c.member_id == member_id)
            .values(event_seq=accounts.c.event_seq + 1)
            .returning(accounts.c.event_seq)
        )
    ).scalar_one()
    await append_with_seq(conn, member_id=member_id, seq=seq, payload=payload, occurred_at=occurred_at)
    return int(seq)


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
