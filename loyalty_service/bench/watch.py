"""Open WatchMember streams (LiveService) for the memory figure: many idle live views on one server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
from loyalty.v1 import live_pb2

from loyalty_service.bench.programme import member_id

__all__ = ["WATCH_MEMBER", "open_watch_streams", "watch_member"]

WATCH_MEMBER = "/loyalty.v1.LiveService/WatchMember"
_CHANNELS = 10
_SETTLE_SECONDS = 1.0


def watch_member(channel: grpc.aio.Channel, member: str, metadata: tuple[tuple[str, str], ...]) -> Any:
    """One WatchMember call on `channel` (the bench holds thousands: no stub object per call)."""
    open_stream = channel.unary_stream(
        WATCH_MEMBER,
        request_serializer=live_pb2.WatchMemberRequest.SerializeToString,
        response_deserializer=live_pb2.WatchMemberResponse.FromString,
    )
    return open_stream(live_pb2.WatchMemberRequest(member_id=member), metadata=metadata)


@contextlib.asynccontextmanager
async def open_watch_streams(address: str, api_key: str, *, count: int, members: int) -> AsyncIterator[str]:
    """Hold `count` streams open while the body runs; yields a note ("" when all are open)."""
    metadata = (("authorization", f"Bearer {api_key}"),)
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.aio.insecure_channel(address, options=options) for _ in range(_CHANNELS)]
    calls: list[Any] = []
    try:
        for index in range(count):
            calls.append(watch_member(channels[index % _CHANNELS], member_id(index % members), metadata))
        await asyncio.sleep(_SETTLE_SECONDS)
        failed = [call for call in calls if call.done()]
        note = ""
        if failed:
            code = (await failed[0].code()).name
            note = f"{len(failed)} of {count} streams closed ({code})"
        yield note
    finally:
        for call in calls:
            call.cancel()
        for channel in channels:
            await channel.close()
