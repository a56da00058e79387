"""Live wake-ups across replicas: one LISTEN connection per process, many subscribers.

Every outbox insert sends `NOTIFY loyalty_events, '<member_id>:<seq>'`, delivered when its transaction
commits, on every replica. The notification is only a wake-up: subscribers read the events themselves from the
outbox table after the last sequence number they delivered, so a lost notification (a dropped listening
connection, a restarted database) loses nothing. When the listening connection is lost, every subscriber is
woken to re-read.

The safety net for a notification lost any other way is one poll per process, not a timer per stream:
every `poll_seconds` the listening connection asks which members have events newer than the last two
polls saw, and wakes only the subscribers that have not delivered them. (A timer per stream made every
stream read the outbox every few seconds: with a thousand streams opened together, a burst of a thousand
reads that delayed real wake-ups by hundreds of milliseconds; docs/performance.md.) The poll doubles as the
listening connection's liveness check. It looks back one poll interval, so only a notification lost from a
transaction that stayed open longer than that is left to the listener's reconnection wake-up.

Memory per subscriber is one small object and one asyncio.Event; no database connection is held per stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import asyncpg

__all__ = ["CHANNEL", "PROGRAM", "EventHub", "Subscription"]

CHANNEL = "loyalty_events"
PROGRAM = "*"
"""Subscribe to this key to be woken by every member's events (the programme feed)."""

_log = logging.getLogger(__name__)


_POLL = "select member_id, max(seq), max(event_id) from events where event_id > $1 group by member_id"
_HEAD = "select coalesce(max(event_id), 0) from events"


class Subscription:
    __slots__ = ("_event", "delivered", "key")

    def __init__(self, key: str) -> None:
        self.key = key
        self.delivered = 0
        """What the subscriber has delivered: a member's sequence, or the programme feed's event_id."""
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """Wait for a wake-up or `seconds`; True if woken. Clears the wake-up for the next wait."""
        try:
            await asyncio.wait_for(self._event.wait(), seconds)
            woken = True
        except TimeoutError:
            woken = False
        self._event.clear()
        return woken


class EventHub:
    def __init__(self, dsn: str, *, reconnect_max_seconds: float = 5.0, poll_seconds: float = 5.0) -> None:
        self._dsn = dsn
        self._reconnect_max = reconnect_max_seconds
        self._poll_seconds = poll_seconds
        self._subscribers: dict[str, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.notifications = 0
        self.reconnects = 0
        self.polls = 0

    @property
    def listening(self) -> bool:
        return self._connected.is_set()

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    async def start(self, *, wait_seconds: float = 10.0) -> None:
        self._task = asyncio.create_task(self._run(), name="event-hub")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), wait_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.wake_all()

    @contextlib.contextmanager
    def subscribe(self, key: str) -> Iterator[Subscription]:
        subscription = Subscription(key)
        self._subscribers.setdefault(key, set()).add(subscription)
        try:
            yield subscription
        finally:
            members = self._subscribers.get(key)
            if members is not None:
                members.discard(subscription)
                if not members:
                    del self._subscribers[key]

    def wake_all(self) -> None:
        for subscriptions in self._subscribers.values():
            for subscription in subscriptions:
                subscription.wake()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.notifications += 1
        member_id = payload.partition(":")[0]
        for key in (member_id, PROGRAM):
            for subscription in self._subscribers.get(key, ()):
                subscription.wake()

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                conn = await asyncpg.connect(
                    self._dsn, timeout=10, server_settings={"application_name": "loyalty-events"}
                )
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                _log.warning("event listener cannot connect (%s); retrying", type(error).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reconnect_max)
                continue
            delay = 0.1
            try:
                await self._listen(conn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
                _log.warning("event listener lost its connection (%s); reconnecting", type(error).__name__)
            finally:
                self._connected.clear()
                with contextlib.suppress(Exception):
                    conn.terminate()
                self.reconnects += 1
                # Anything may have committed while we were not listening: everyone re-reads.
                self.wake_all()

    def _wake_behind(self, rows: Sequence[Sequence[int | str]]) -> None:
        """Wake the subscribers that have not delivered the newest events the poll found."""
        newest = 0
        for member_id, seq, event_id in rows:
            newest = max(newest, int(event_id))
            for subscription in self._subscribers.get(str(member_id), ()):
                if subscription.delivered < int(seq):
                    subscription.wake()
        for subscription in self._subscribers.get(PROGRAM, ()):
            if subscription.delivered < newest:
                subscription.wake()

    async def _listen(self, conn: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c: lost.set())
        await conn.add_listener(CHANNEL, self._on_notify)
        head = int(await conn.fetchval(_HEAD, timeout=self._poll_seconds))
        floors = deque([head, head])  # the newest event_id of the last two polls
        self._connected.set()
        self.wake_all()  # events may have committed between a subscriber's read and our LISTEN
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._poll_seconds)
            if lost.is_set():
                break
            rows = await conn.fetch(_POLL, floors[0], timeout=self._poll_seconds)
            self.polls += 1
            self._wake_behind(rows)
            floors.append(max([floors[-1], *(int(row[2]) for row in rows)]))
            floors.popleft()
        raise ConnectionResetError("listening connection terminated")
