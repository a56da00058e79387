"""The stream side of `bench live`, in a process of its own: N WatchMember streams and their arrival times.

Run as `python -m loyalty_service.bench.live_watch`. Protocol on stdin/stdout, one JSON line each way:
  1. reads the spec `{"address", "api_key", "streams"}`, opens the streams, waits until each has its
     snapshot (or ended), prints `{"ready": true, "closed": n}` (streams without a snapshot);
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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from loyalty_service.bench.programme import member_id
from loyalty_service.bench.watch import watch_member

__all__ = ["main"]

_CHANNELS = 10
_SETTLE_SECONDS = 0.5
"""After the last snapshot: lets the server finish what the opening burst left behind."""
_LINE_LIMIT = 64 * 1024 * 1024


@dataclass
class _Tally:
    arrived: dict[str, float] = field(default_factory=dict)
    opened: int = 0
    """Streams whose snapshot came."""
    ended: collections.Counter[str] = field(default_factory=collections.Counter)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


async def _watch(call: Any, tally: _Tally) -> None:
    try:
        async for message in call:
            item = message.WhichOneof("item")
            if item == "snapshot":
                tally.opened += 1
                tally.changed.set()
            elif item == "event":
                payload = message.event.payload
                if payload.WhichOneof("event") == "points_changed":
                    tally.arrived.setdefault(payload.points_changed.entry.entry_id, time.monotonic())
                    tally.changed.set()
        tally.ended["OK"] += 1
    except grpc.aio.AioRpcError as error:
        tally.ended[f"{error.code().name}: {error.details()}"[:160]] += 1
        tally.changed.set()
    except asyncio.CancelledError:
        pass


async def _until(tally: _Tally, done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        tally.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tally.changed.wait(), deadline - time.monotonic())


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
    tally = _Tally()
    streams = int(spec["streams"])
    calls = [watch_member(channels[i % _CHANNELS], member_id(i), metadata) for i in range(streams)]
    watchers = [asyncio.create_task(_watch(call, tally)) for call in calls]
    try:
        # Ready once every stream has its snapshot: a purchase made before a stream opened is in its
        # snapshot, not in its events, and would count as lost.
        await _until(tally, lambda: tally.opened + sum(tally.ended.values()) >= streams, 20 + streams / 100)
        await asyncio.sleep(_SETTLE_SECONDS)
        gc.freeze()  # the open streams are long-lived: no full collection walks them while measuring
        pending = max(0, streams - tally.opened - sum(tally.ended.values()))  # not open in time
        closed = sum(call.done() for call in calls) + pending
        tally.ended.clear()  # from here on: streams that end during the run
        print(json.dumps({"ready": True, "closed": closed}), flush=True)
        done = await _line(reader)
        expected = set(done["expect"])
        await _until(tally, lambda: expected <= tally.arrived.keys(), float(done["drain_seconds"]))
        print(json.dumps({"arrived": tally.arrived, "ended": tally.ended}), flush=True)
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
