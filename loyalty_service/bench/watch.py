"""Open WatchMember streams for the memory figure, if the service has that RPC yet.

The live-events work adds WatchMember; the bench finds it in the generated descriptors instead of
importing it, so it runs before and after that lands.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from loyalty.v1 import common_pb2, events_pb2, ledger_pb2, members_pb2

from loyalty_service.bench.programme import card_number, member_id

__all__ = ["open_watch_streams", "watch_method"]

_CHANNELS = 10
_SETTLE_SECONDS = 1.0


def watch_method() -> tuple[str, Any, Any] | None:
    """(path, request class, response class) of WatchMember, or None while no service has it."""
    for module in (members_pb2, events_pb2, ledger_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            method = service.methods_by_name.get("WatchMember")
            if method is not None:
                path = f"/{service.full_name}/{method.name}"
                return path, GetMessageClass(method.input_type), GetMessageClass(method.output_type)
    return None


def _request(request_class: Any, index: int) -> Message:
    request: Message = request_class()
    fields = request.DESCRIPTOR.fields_by_name
    if "member_id" in fields:
        request.member_id = member_id(index)  # type: ignore[attr-defined]
    elif "member" in fields:
        card = common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_CARD, value=card_number(index))
        request.member.CopyFrom(common_pb2.MemberRef(identifier=card))  # type: ignore[attr-defined]
    return request


@contextlib.asynccontextmanager
async def open_watch_streams(address: str, api_key: str, *, count: int, members: int) -> AsyncIterator[str]:
    """Hold `count` streams open while the body runs; yields a note ("" when all are open)."""
    found = watch_method()
    if found is None:
        yield "skipped: no WatchMember RPC in this build"
        return
    path, request_class, response_class = found
    metadata = (("authorization", f"Bearer {api_key}"),)
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.aio.insecure_channel(address, options=options) for _ in range(_CHANNELS)]
    calls: list[Any] = []
    try:
        for index in range(count):
            open_stream = channels[index % _CHANNELS].unary_stream(
                path,
                request_serializer=request_class.SerializeToString,
                response_deserializer=response_class.FromString,
            )
            calls.append(open_stream(_request(request_class, index % members), metadata=metadata))
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
