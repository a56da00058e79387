"""Live streams for the channel clients: a member's events (the app, the app back end, the web shop) and the
programme feed and figures (the back office).

`watch()` survives the network: when the stream breaks it reconnects with backoff and resumes after the last
sequence number it delivered, so the caller sees every event once, in order. Events come as the generated
`loyalty.v1.events_pb2.MemberEvent` (its `payload` oneof is typed by the `.pyi` stubs; every feature adds
kinds to it, so it is the one answer not mirrored as dataclasses); the balance snapshot that opens every
(re)connection as a `Balance`, programme figures as `ProgramStats`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from loyalty.v1 import events_pb2, live_pb2, stats_pb2

from loyalty_clients import _convert as convert
from loyalty_clients._base import ClientBase
from loyalty_clients._errors import LoyaltyClientError
from loyalty_clients._models import Balance
from loyalty_clients._stats_models import ProgramStats
from loyalty_clients._transport import is_retryable

__all__ = ["BalanceSnapshot", "MemberWatching", "ProgramFeedEvent", "ProgramWatching", "WatchItem"]

LIVE = "/loyalty.v1.LiveService/"
PROGRAM = "/loyalty.v1.ProgramService/"


@dataclass(frozen=True, slots=True)
class BalanceSnapshot:
    """The member's balance when the stream (re)connected; events follow it."""

    balance: Balance


WatchItem = BalanceSnapshot | events_pb2.MemberEvent


class MemberWatching(ClientBase):
    async def _watch(
        self, member_id: str, *, from_sequence: int, max_reconnects: int | None
    ) -> AsyncIterator[WatchItem]:
        last = from_sequence
        failures = 0
        while True:
            request = live_pb2.WatchMemberRequest(member_id=member_id, from_sequence=last)
            try:
                async for item in self._transport.stream(
                    LIVE + "WatchMember", request, live_pb2.WatchMemberResponse
                ):
                    failures = 0
                    kind = item.WhichOneof("item")
                    if kind == "snapshot":
                        yield BalanceSnapshot(convert.balance(item.snapshot))
                    elif kind == "event" and item.event.sequence > last:
                        last = item.event.sequence
                        yield item.event
            except LoyaltyClientError as error:
                if not is_retryable(error) and error.reason != "CONSUMER_TOO_SLOW":
                    raise
                failures += 1
                if max_reconnects is not None and failures > max_reconnects:
                    raise
                await asyncio.sleep(self._transport.retry.backoff_seconds(failures))
                continue
            # The server ended the stream (a restart): resume from where we are.
            failures += 1
            if max_reconnects is not None and failures > max_reconnects:
                return
            await asyncio.sleep(self._transport.retry.backoff_seconds(failures))

    def watch_member(
        self, *, member_id: str, from_sequence: int = 0, max_reconnects: int | None = None
    ) -> AsyncIterator[WatchItem]:
        """The member's balance, then each of their events as it commits, on any replica, resumed across
        reconnections (`from_sequence`: 0 = from now, N = every event after N).

        >>> async for item in client.watch_member(member_id=member.member_id):
        ...     print(item)
        """
        return self._watch(member_id, from_sequence=from_sequence, max_reconnects=max_reconnects)


@dataclass(frozen=True, slots=True)
class ProgramFeedEvent:
    position: int
    event: events_pb2.MemberEvent


class ProgramWatching(ClientBase):
    async def watch_program(
        self, *, from_position: int = 0, figures_interval_seconds: int = 5
    ) -> AsyncIterator[ProgramFeedEvent | ProgramStats]:
        """Every member's events in commit order, and today's figures every few seconds.

        >>> async for item in office.watch_program():
        ...     print(item)
        """
        request = live_pb2.WatchProgramRequest(
            from_position=from_position, figures_interval_seconds=figures_interval_seconds
        )
        async for item in self._transport.stream(
            LIVE + "WatchProgram", request, live_pb2.WatchProgramResponse
        ):
            kind = item.WhichOneof("item")
            if kind == "event":
                yield ProgramFeedEvent(position=item.event.position, event=item.event.event)
            elif kind == "figures":
                yield convert.program_stats(item.figures)

    async def program_stats(
        self, *, start: datetime | None = None, end: datetime | None = None
    ) -> ProgramStats:
        """Programme figures over [start, end): members, points issued/spent/expired/outstanding, revenue by
        channel and store, multi-channel share and spend.

        >>> stats = await office.program_stats()
        """
        request = stats_pb2.GetProgramStatsRequest()
        if start is not None:
            request.occurred_from.CopyFrom(convert.timestamp(start))
        if end is not None:
            request.occurred_to.CopyFrom(convert.timestamp(end))
        answer = await self._transport.call(
            PROGRAM + "GetProgramStats", request, stats_pb2.GetProgramStatsResponse
        )
        return convert.program_stats(answer.stats)
