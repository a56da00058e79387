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

A member's notifications are also what its local streams read, and the hub reads for all of them at
once: each notification names the member's newest sequence number, and since a member's events commit in
sequence order (its ledger row is locked while one is numbered), everything up to it is committed when it
arrives. The hub gathers the notified members that have local subscribers, reads their announced ranges in
one statement on its listening connection (`feed.member_tails`) and hands each subscriber the events after
what it has (`Subscription.offer`). A round starts as soon as a notification arrives; notifications that
arrive while it reads wait for the next one, so a busy process reads once per burst, not once per stream
and event. Whenever the hub cannot hand events over (a gap, a full inbox, a failed read, a range longer
than one inbox), the subscriber is woken to read the outbox itself, as it does after a reconnection or a
poll: that path is always correct, the shared read only saves it.

Memory per subscriber is one small object, one future and one timer while it waits, and at most one inbox
of events; no database connection is held per stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import asyncpg

from loyalty_service.events.feed import StoredEvent, Tail, member_tails
from loyalty_service.events.subscription import Subscription

__all__ = ["CHANNEL", "PROGRAM", "EventHub"]

CHANNEL = "loyalty_events"
PROGRAM = "*"
"""Subscribe to this key to be woken by every member's events (the programme feed)."""

_log = logging.getLogger(__name__)


_POLL = (
    "select member_id, max(seq), max(event_id) from events"
    " where event_id > $1 and event_id <= (select max(event_id) from events) group by member_id"
)
"""The upper bound changes nothing but the cached generic plan: `event_id > $1` alone is estimated at a
third of the outbox and read whole (7 ms at 60,000 events, growing with it); a range uses the index."""
_HEAD = "select coalesce(max(event_id), 0) from events"
_ROUND_ROWS = 2_000
"""At most this many events per round; members beyond it read for themselves."""


class EventHub:
    def __init__(
        self,
        dsn: str,
        *,
        reconnect_max_seconds: float = 5.0,
        poll_seconds: float = 5.0,
        inbox_limit: int = 100,
    ) -> None:
        self._dsn = dsn
        self._reconnect_max = reconnect_max_seconds
        self._poll_seconds = poll_seconds
        self._inbox_limit = inbox_limit
        self._subscribers: dict[str, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._conn_busy = asyncio.Lock()
        """The listening connection runs one statement at a time: the poll's or a round's."""
        self._announced: dict[str, int] = {}
        """Members notified since the last round began, with the newest sequence announced."""
        self._round: asyncio.Task[None] | None = None
        self.notifications = 0
        self.reconnects = 0
        self.polls = 0
        self.rounds = 0
        self.handed_over = 0
        """Events read by the hub's rounds and handed to subscribers."""

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
        for task in (self._round, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._round = self._task = None
        self.wake_all()

    @contextlib.contextmanager
    def subscribe(self, key: str) -> Iterator[Subscription]:
        subscription = Subscription(key, inbox_limit=self._inbox_limit)
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
        member_id, _, seq = payload.partition(":")
        for subscription in self._subscribers.get(PROGRAM, ()):
            subscription.wake()
        if member_id not in self._subscribers:
            return
        try:
            announced = int(seq)
        except ValueError:  # not ours: let the subscribers look for themselves
            for subscription in self._subscribers[member_id]:
                subscription.wake()
            return
        self._announced[member_id] = max(announced, self._announced.get(member_id, 0))
        if self._round is None or self._round.done():
            self._round = asyncio.create_task(self._rounds(), name="event-hub-round")

    async def _rounds(self) -> None:
        while self._announced:
            announced, self._announced = self._announced, {}
            try:
                await self._hand_over(announced)
            except Exception as error:  # whatever failed, the streams read for themselves
                _log.warning("event hub round failed (%s); streams read for themselves", type(error).__name__)
                for member_id in announced:
                    for subscription in self._subscribers.get(member_id, ()):
                        subscription.wake()

    async def _hand_over(self, announced: dict[str, int]) -> None:
        """Read the announced ranges once for all local subscribers and offer them; whoever is not
        served that way is woken to read for itself."""
        tails: list[Tail] = []
        rows = 0
        for member_id, upto in announced.items():
            subscriptions = self._subscribers.get(member_id, ())
            after = min((s.has for s in subscriptions), default=upto)
            if after >= upto:
                continue
            if upto - after > self._inbox_limit or rows >= _ROUND_ROWS:
                for subscription in subscriptions:
                    subscription.wake()
                continue
            tails.append(Tail(member_id, after, upto))
            rows += upto - after
        if not tails:
            return
        found = await self._read_tails(tails)
        self.rounds += 1
        for tail in tails:
            events = found.get(tail.member_id, [])
            complete = bool(events) and events[-1].seq == tail.upto
            for subscription in self._subscribers.get(tail.member_id, ()):
                if complete:
                    subscription.offer(events)
                else:
                    subscription.wake()
            if complete:
                self.handed_over += len(events)

    async def _read_tails(self, tails: list[Tail]) -> dict[str, list[StoredEvent]]:
        async with self._conn_busy:
            if self._conn is None or self._conn.is_closed():
                return {}
            return await member_tails(self._conn, tails, seconds=self._poll_seconds)

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
                if subscription.has < int(seq):
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
        self._conn = conn
        self._connected.set()
        self.wake_all()  # events may have committed between a subscriber's read and our LISTEN
        try:
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._poll_seconds)
                if lost.is_set():
                    break
                async with self._conn_busy:
                    rows = await conn.fetch(_POLL, floors[0], timeout=self._poll_seconds)
                self.polls += 1
                self._wake_behind(rows)
                floors.append(max([floors[-1], *(int(row[2]) for row in rows)]))
                floors.popleft()
        finally:
            self._conn = None
        raise ConnectionResetError("listening connection terminated")
