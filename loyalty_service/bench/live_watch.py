"""The stream side of `bench live`, in a process of its own: N WatchMember streams and their arrival times.

Run as `python -m loyalty_service.bench.live_watch`. Protocol on stdin/stdout, one JSON line each way:
  1. reads the spec `{"address", "api_key", "streams"}`, opens the streams, lets them settle, prints
     `{"ready": true, "closed": n}`;
  2. reads `{"expect": [entry ids], "drain_seconds": s}` once the purchases are done, waits until every
     expected entry arrived or the drain time is over, prints `{"arrived": {entry_id: time}, "ended":
     {status: streams}}` (streams the server ended meanwhile, by status) and exits.
Times are `time.monotonic()`, the system-wide CLOCK_MONOTONIC on Linux, so the driving process can
compare them with its own. With the streams in one process and the purchases in another, neither side's
event loop delays the other's timestamps (in one process, an acknowledgement could be stamped after its
event had already arrived).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import json
import sys
import time
from typing import Any

import grpc

from loyalty_service.bench.programme import member_id
from loyalty_service.bench.watch import watch_member

__all__ = ["main"]

_CHANNELS = 10
_SETTLE_SECONDS = 2.0
_LINE_LIMIT = 64 * 1024 * 1024


async def _watch(
    call: Any, arrived: dict[str, float], changed: asyncio.Event, ended: collections.Counter[str]
) -> None:
    try:
        async for message in call:
            if message.WhichOneof("item") == "event":
                payload = message.event.payload
                if payload.WhichOneof("event") == "points_changed":
                    arrived.setdefault(payload.points_changed.entry.entry_id, time.monotonic())
                    changed.set()
        ended["OK"] += 1
    except grpc.aio.AioRpcError as error:
        ended[f"{error.code().name}: {error.details()}"[:160]] += 1
        changed.set()
    except asyncio.CancelledError:
        pass


async def _line(reader: asyncio.StreamReader) -> dict[str, Any]:
    line = await reader.readline()
    if not line:
        raise EOFError("the driving process closed stdin")
    data: dict[str, Any] = json.loads(line)
    return data


async def _run() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_LINE_LIMIT)  # the expected ids come as one line
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    spec = await _line(reader)
    metadata = (("authorization", f"Bearer {spec['api_key']}"),)
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.aio.insecure_channel(spec["address"], options=options) for _ in range(_CHANNELS)]
    arrived: dict[str, float] = {}
    changed = asyncio.Event()
    calls = [
        watch_member(channels[index % _CHANNELS], member_id(index), metadata)
        for index in range(spec["streams"])
    ]
    ended: collections.Counter[str] = collections.Counter()
    watchers = [asyncio.create_task(_watch(call, arrived, changed, ended)) for call in calls]
    try:
        await asyncio.sleep(_SETTLE_SECONDS)
        gc.freeze()  # the open streams are long-lived: no full collection walks them while measuring
        print(json.dumps({"ready": True, "closed": sum(call.done() for call in calls)}), flush=True)
        done = await _line(reader)
        expected = set(done["expect"])
        deadline = time.monotonic() + float(done["drain_seconds"])
        while not expected <= arrived.keys() and time.monotonic() < deadline:
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), deadline - time.monotonic())
        print(json.dumps({"arrived": arrived, "ended": ended}), flush=True)
    finally:
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        for channel in channels:
            await channel.close()


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()
