"""LiveService: WatchMember and WatchProgram, pull-based streams over the outbox.

A stream never buffers: it reads one bounded batch from the outbox, writes it message by message (each
write bounded by `watch_write_timeout_seconds`, so a consumer that stops reading ends the stream with
RESOURCE_EXHAUSTED while gRPC's flow control keeps the pending bytes bounded), and then waits on the hub
for a wake-up (a notification, or the hub's safety poll finding events the stream has not delivered) or
its heartbeat, holding no database connection. Delivery order and completeness come from the outbox
(per-member `seq`, the programme's `event_id` cursor); notifications are only wake-ups.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

from google.protobuf.message import Message
from loyalty.v1 import live_pb2, live_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.auth.principal import current_principal
from loyalty_service.errors import FailedPrecondition, ResourceExhausted, Unavailable
from loyalty_service.events import feed
from loyalty_service.events.cursor import FeedCursor
from loyalty_service.events.figures import program_stats
from loyalty_service.events.hub import PROGRAM
from loyalty_service.events.live import LiveEvents
from loyalty_service.events.retention import CAUGHT_UP, StreamPosition
from loyalty_service.events.subscription import Subscription
from loyalty_service.grpc_types import Context
from loyalty_service.ledger.snapshot import balance_and_head
from loyalty_service.proto_time import to_timestamp
from loyalty_service.validation import Checks

__all__ = ["LiveServicer"]

_MAX_SEQUENCE = 2**62
_DEFAULT_FIGURES_SECONDS = 5
_GAP_RECHECK_SECONDS = 0.05


async def _as_stream(work: Awaitable[None]) -> AsyncIterator[Message]:
    """Run `work`, which writes with `context.write` under a time bound, as the generator gRPC iterates.

    A generator that yields would leave the write to gRPC, where it cannot be bounded.
    """
    await work
    return
    yield  # makes this an async generator


class _Stream:
    """One open stream: bounded writes, heartbeats, the lag check."""

    def __init__(
        self, live: LiveEvents, context: Context, wake: Subscription, position: StreamPosition
    ) -> None:
        self.live, self.context, self.wake, self.position = live, context, wake, position
        self.settings = live.runtime.settings
        # A random phase, so that streams opened together (a replica's restart sends every app back at
        # once) do not all send their heartbeats in the same instant.
        self.last_sent = time.monotonic() - random.random() * self.settings.watch_heartbeat_seconds / 2

    async def send(self, message: Message) -> None:
        try:
            async with asyncio.timeout(self.settings.watch_write_timeout_seconds):  # no task per write
                await self.context.write(message)
        except TimeoutError:
            raise ResourceExhausted(
                "the consumer does not keep up with its stream; reconnect and resume",
                retry_after_seconds=1.0,
                reason="CONSUMER_TOO_SLOW",
            ) from None
        self.last_sent = time.monotonic()

    def check_lag(self, event: feed.StoredEvent) -> None:
        if event.age_seconds > self.settings.watch_max_lag_seconds:
            raise ResourceExhausted(
                f"the stream is {event.age_seconds:.0f}s behind; reconnect and resume",
                retry_after_seconds=1.0,
                reason="CONSUMER_TOO_SLOW",
            )

    async def idle(self, heartbeat: Callable[[], Message], *, max_wait: float | None = None) -> None:
        """Wait for a wake-up (at most `max_wait`); send a heartbeat when one is due."""
        if self.live.closing:
            raise Unavailable("the server is stopping; resume on another replica")
        due_in = self.settings.watch_heartbeat_seconds - (time.monotonic() - self.last_sent)
        if due_in > 0:
            await self.wake.wait(min(due_in, max_wait or due_in))
        if time.monotonic() - self.last_sent >= self.settings.watch_heartbeat_seconds:
            await self.send(heartbeat())
        if self.live.closing:
            raise Unavailable("the server is stopping; resume on another replica")


def _heartbeat() -> live_pb2.Heartbeat:
    return live_pb2.Heartbeat(sent_at=to_timestamp(datetime.now(UTC)))


def _member_heartbeat() -> Message:
    return live_pb2.WatchMemberResponse(heartbeat=_heartbeat())


def _program_heartbeat() -> Message:
    return live_pb2.WatchProgramResponse(heartbeat=_heartbeat())


class LiveServicer(live_pb2_grpc.LiveServiceServicer):
    def __init__(self, live: LiveEvents) -> None:
        self._live = live

    def WatchMember(  # type: ignore[override]
        self, request: live_pb2.WatchMemberRequest, context: Context
    ) -> AsyncIterator[Message]:
        checks = Checks()
        member_id = checks.entity_id("member_id", request.member_id, "mem")
        after = checks.count("from_sequence", request.from_sequence, minimum=0, maximum=_MAX_SEQUENCE)
        checks.done()
        current_principal().require_member(member_id)
        return _as_stream(self._watch_member(member_id, after, context))

    async def _watch_member(self, member_id: str, from_sequence: int, context: Context) -> None:
        live = self._live
        batch = live.runtime.settings.watch_batch_size
        with live.open_stream(), live.hub.subscribe(member_id) as wake, live.positions.track() as position:
            read = functools.partial(balance_and_head, member_id=member_id, now=live.runtime.now())
            balance, head = await live.read(read)
            if from_sequence > head:
                raise FailedPrecondition(
                    f"from_sequence {from_sequence} is ahead of the member's last event {head}",
                    reason="SEQUENCE_AHEAD",
                    metadata={"head": head},
                )
            after = wake.delivered = from_sequence or head
            stream = _Stream(live, context, wake, position)
            await stream.send(live_pb2.WatchMemberResponse(snapshot=balance))
            first = True
            # What the hub read for us, if anything. A stream that starts at the head has nothing to read
            # yet: it subscribed before the snapshot's statement, so whatever commits after that reaches
            # it through the hub (half the reads of a burst of streams opening together).
            handed: list[feed.StoredEvent] | None = [] if after == head else None
            while True:
                events = handed
                if events is None:
                    events = await live.read(
                        functools.partial(feed.member_events, member_id=member_id, after=after, limit=batch)
                    )
                if first and after < head and (not events or events[0].seq != after + 1):
                    raise FailedPrecondition(
                        f"events after {after} are no longer kept; start again from a snapshot",
                        reason="EVENTS_PRUNED",
                    )
                first = False
                position.needed = events[0].event_id if events else CAUGHT_UP
                for event in events:
                    if event.seq > head:
                        stream.check_lag(event)
                    await stream.send(live_pb2.WatchMemberResponse(event=event.message()))
                    after = wake.delivered = event.seq
                    position.needed = event.event_id + 1
                if handed is None and len(events) == batch:
                    continue
                position.needed = CAUGHT_UP
                del events, handed  # an idle stream holds nothing it has sent
                await stream.idle(_member_heartbeat)
                handed = wake.take(after)

    def WatchProgram(  # type: ignore[override]
        self, request: live_pb2.WatchProgramRequest, context: Context
    ) -> AsyncIterator[Message]:
        checks = Checks()
        after = checks.count("from_position", request.from_position, minimum=0, maximum=2**63 - 1)
        seconds = request.figures_interval_seconds or _DEFAULT_FIGURES_SECONDS
        checks.count("figures_interval_seconds", seconds, minimum=1, maximum=3600)
        checks.done()
        return _as_stream(self._watch_program(after, float(seconds), context))

    async def _figures(self) -> live_pb2.WatchProgramResponse:
        now = self._live.runtime.now()
        start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

        async def read(conn: AsyncConnection) -> live_pb2.WatchProgramResponse:
            stats = await program_stats(
                conn, occurred_from=start, occurred_to=now + timedelta(microseconds=1)
            )
            return live_pb2.WatchProgramResponse(figures=stats)

        return await self._live.read(read)

    async def _watch_program(self, after: int, figures_seconds: float, context: Context) -> None:
        live = self._live
        batch = live.runtime.settings.watch_batch_size
        with live.open_stream(), live.hub.subscribe(PROGRAM) as wake, live.positions.track() as position:
            cursor = FeedCursor(after or await live.read(feed.head_position))
            wake.delivered = cursor.position
            stream = _Stream(live, context, wake, position)
            await stream.send(await self._figures())
            figures_at = time.monotonic()
            while True:
                read = functools.partial(feed.program_events, after=cursor.position, limit=batch)
                events, snapshot = await live.read(read)
                position.needed = cursor.position + 1
                ready = cursor.take(
                    [e.event_id for e in events], snapshot_xmin=snapshot.xmin, snapshot_xmax=snapshot.xmax
                )
                for event in events[:ready]:
                    message = live_pb2.ProgramEvent(position=event.event_id, event=event.message())
                    await stream.send(live_pb2.WatchProgramResponse(event=message))
                    wake.delivered = event.event_id
                if time.monotonic() - figures_at >= figures_seconds:
                    await stream.send(await self._figures())
                    figures_at = time.monotonic()
                if ready == batch:
                    continue
                gap = ready < len(events)
                position.needed = cursor.position + 1 if gap else CAUGHT_UP
                # A gap settles when older transactions end, maybe silently (a rollback): look again soon.
                figures_due = figures_seconds - (time.monotonic() - figures_at)
                await stream.idle(
                    _program_heartbeat,
                    max_wait=_GAP_RECHECK_SECONDS if gap else max(figures_due, 0.01),
                )
