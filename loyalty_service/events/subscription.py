"""One subscriber of the event hub: its wake-up and the inbox of events the hub read for it.

A wake-up without events tells the subscriber to read the outbox itself (`wake`: after a reconnection, a
poll, or whenever the hub cannot hand events over); the hub's shared read fills the inbox instead
(`offer`), and the stream takes it (`take`). The inbox is bounded by one read batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from loyalty_service.events.feed import StoredEvent

__all__ = ["Subscription"]


class Subscription:
    __slots__ = ("_event", "_inbox", "_reread", "delivered", "inbox_limit", "key")

    def __init__(self, key: str, *, inbox_limit: int = 100) -> None:
        self.key = key
        self.delivered = 0
        """What the subscriber has delivered: a member's sequence, or the programme feed's event_id."""
        self.inbox_limit = inbox_limit
        self._event = asyncio.Event()
        self._inbox: list[StoredEvent] = []
        self._reread = False

    def wake(self) -> None:
        """Wake the subscriber to read the outbox itself."""
        self._reread = True
        self._inbox = []
        self._event.set()

    def offer(self, events: Sequence[StoredEvent]) -> None:
        """Hand over a member's events in sequence order; those it already has are skipped. Anything
        that would not continue its inbox without a gap, or would overfill it, makes it read instead."""
        have = self.has
        fresh = [event for event in events if event.seq > have]
        if not fresh or self._reread:
            return
        if fresh[0].seq != have + 1 or len(self._inbox) + len(fresh) > self.inbox_limit:
            self.wake()
            return
        self._inbox.extend(fresh)
        self._event.set()

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
        try:
            await asyncio.wait_for(self._event.wait(), seconds)
            woken = True
        except TimeoutError:
            woken = False
        self._event.clear()
        return woken
