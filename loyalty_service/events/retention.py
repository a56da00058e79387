"""Outbox retention: old events are deleted, never before every local live stream has passed them.

Each stream of this process registers a `StreamPosition`: the lowest `event_id` it may still need to
read. A stream that has caught up needs nothing already written (newer events get higher ids), so it
stops holding pruning back; a stream with a backlog holds back everything from its next event on. Streams
on other replicas are not visible here: for them the guarantee is the retention itself, which must be at
least the longest disconnection a client may resume from (a resume past pruned events is refused with
EVENTS_PRUNED, and the client starts again from a snapshot).

Durable consumers of the programme feed (the passport stamp processor) keep their position in a table;
they register a query for the lowest event_id they still need (`register_durable_consumer`), and pruning
stays below it too, however long the consumer has been stopped.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["CAUGHT_UP", "Positions", "StreamPosition", "prune", "register_durable_consumer"]

_log = logging.getLogger(__name__)

CAUGHT_UP = 2**63 - 1
"""The position of a stream with no backlog: it holds nothing back."""


class StreamPosition:
    __slots__ = ("needed",)

    def __init__(self) -> None:
        self.needed = 0
        """The lowest event_id this stream may still read; 0 until its first read (holds back everything)."""


class Positions:
    """The local streams' positions; `low_watermark` is what pruning must stay below."""

    def __init__(self) -> None:
        self._streams: set[StreamPosition] = set()

    def __len__(self) -> int:
        return len(self._streams)

    @contextlib.contextmanager
    def track(self) -> Iterator[StreamPosition]:
        position = StreamPosition()
        self._streams.add(position)
        try:
            yield position
        finally:
            self._streams.discard(position)

    def low_watermark(self) -> int:
        return min((p.needed for p in self._streams), default=CAUGHT_UP)


_DURABLE_CONSUMERS: dict[str, str] = {}


def register_durable_consumer(name: str, needed_sql: str) -> None:
    """`needed_sql` selects the lowest event_id the consumer may still read (NULL: nothing held back)."""
    _DURABLE_CONSUMERS[name] = needed_sql


async def durable_low_watermark(conn: AsyncConnection) -> int:
    """The lowest event_id any registered durable consumer still needs."""
    low = CAUGHT_UP
    for needed_sql in _DURABLE_CONSUMERS.values():
        needed = (await conn.execute(text(needed_sql))).scalar()
        if needed is not None:
            low = min(low, int(needed))
    return low


async def prune(
    conn: AsyncConnection, *, now: datetime, retention: timedelta, below_event_id: int, limit: int
) -> int:
    """Delete up to `limit` events older than `retention`, below `below_event_id` and below what every
    durable consumer still needs; returns the count."""
    below_event_id = min(below_event_id, await durable_low_watermark(conn))
    result = await conn.execute(
        text(
            "delete from events where (member_id, seq) in ("
            " select member_id, seq from events"
            " where created_at < :cutoff and event_id < :below limit :limit)"
        ),
        {"cutoff": now - retention, "below": below_event_id, "limit": limit},
    )
    return int(result.rowcount)
