"""Live wake-ups across replicas: one LISTEN connection per process, many subscribers.

Every outbox insert sends `NOTIFY loyalty_events, '<member_id>:<seq>'`, delivered when its transaction
commits, on every replica. The notification is only a wake-up: subscribers read the events themselves from the
outbox table after the last sequence number they delivered, so a lost notification (a dropped listening
connection, a restarted database) loses nothing. When the listening connection is lost, every subscriber is
woken to re-read, and a safety timer wakes them periodically anyway.

Memory per subscriber is one small object and one asyncio.Event; no database connection is held per stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import asyncpg

__all__ = ["CHANNEL", "PROGRAM", "EventHub", "Subscription"]

CHANNEL = "loyalty_events"
PROGRAM = "*"
"""Subscribe to this key to be woken by every member's events (the programme feed)."""

_log = logging.getLogger(__name__)


class Subscription:
    __slots__ = ("_event", "key")

    def __init__(self, key: str) -> None:
        self.key = key
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
    def __init__(self, dsn: str, *, reconnect_max_seconds: float = 5.0, ping_seconds: float = 5.0) -> None:
        self._dsn = dsn
        self._reconnect_max = reconnect_max_seconds
        self._ping_seconds = ping_seconds
        self._subscribers: dict[str, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.notifications = 0
        self.reconnects = 0

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

    async def _listen(self, conn: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c: lost.set())
        await conn.add_listener(CHANNEL, self._on_notify)
        self._connected.set()
        self.wake_all()  # events may have committed between a subscriber's read and our LISTEN
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._ping_seconds)
            if not lost.is_set():
                await conn.fetchval("select 1", timeout=self._ping_seconds)
        raise ConnectionResetError("listening connection terminated")
