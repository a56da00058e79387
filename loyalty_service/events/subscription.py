"""One subscriber of the event hub: its wake-up and the inbox of events the hub read for it.

A wake-up without events tells the subscriber to read the outbox itself (`wake`: after a reconnection, a
poll, or whenever the hub cannot hand events over); the hub's shared read fills the inbox instead
(`offer`), and the stream takes it (`take`). The inbox is bounded by one read batch.

A process holds thousands of waiting subscribers, so a wait allocates as little as it can: one future and
one timer, not `asyncio.wait_for`'s task, coroutines and context copies. Every waiting object is young
garbage-collector work: with `wait_for`, 1000 idle streams kept ~20,000 objects in the young generations,
and each generation-1 collection held the event loop for 8-10 ms of CPU (docs/performance.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from loyalty_service.events.feed import StoredEvent

__all__ = ["Subscription"]


class Subscription:
    __slots__ = ("_inbox", "_reread", "_waiter", "_woken", "delivered", "inbox_limit", "key")

    def __init__(self, key: str, *, inbox_limit: int = 100) -> None:
        self.key = key
        self.delivered = 0
        """What the subscriber has delivered: a member's sequence, or the programme feed's event_id."""
        self.inbox_limit = inbox_limit
        self._woken = False
        self._waiter: asyncio.Future[None] | None = None
        self._inbox: list[StoredEvent] = []
        self._reread = False

    def _signal(self) -> None:
        self._woken = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def wake(self) -> None:
        """Wake the subscriber to read the outbox itself."""
        self._reread = True
        self._inbox = []
        self._signal()

    def offer(self, events: Sequence[StoredEvent]) -> None:
        """Hand over a member's events in sequence order; those it already has are skipped. Anything
        that would not continue its inbox without a gap, or would overfill it, makes it read instead."""
        if self._reread:
            return  # it reads the outbox anyway
        have = self.has
        fresh = [event for event in events if event.seq > have]
        if not fresh:
            return
        if fresh[0].seq != have + 1 or len(self._inbox) + len(fresh) > self.inbox_limit:
            self.wake()
            return
        self._inbox.extend(fresh)
        self._signal()

    @property
    def has(self) -> int:
        """The last sequence delivered or waiting in the inbox."""
        return self._inbox[-1].seq if self._inbox else self.delivered

    def take(self, after: int) -> list[StoredEvent] | None:
        """The handed-over events after `after` (maybe none), or None: read the outbox yourself.

        No gap check is needed: the inbox starts right after what was delivered when it was first
        filled (`offer`), and `after` only grows from there (tests/events/test_inbox_model.py)."""
        inbox, self._inbox = self._inbox, []
        if self._reread:
            self._reread = False
            return None
        return [event for event in inbox if event.seq > after]

    async def wait(self, seconds: float) -> bool:
        """Wait for a wake-up or `seconds`; True if woken. Clears the wake-up for the next wait."""
        if not self._woken:
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = loop.call_later(seconds, _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        woken, self._woken = self._woken, False
        return woken


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
