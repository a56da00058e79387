"""`loyalty-service bench live`: from a purchase's acknowledgement on replica B to its event on replica A.

Two server processes on one database (the bench's embedded PostgreSQL unless a URL is given). N
WatchMember streams are opened on A, one member each, by a child process (`bench.live_watch`); purchases
for those members are recorded on B from this process at a fixed rate (open loop: a slow answer does not
slow the schedule); each purchase's EARN entry id is matched with the event that arrives on A's stream. The
latency printed is arrival - acknowledgement, both on the system-wide monotonic clock.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from loyalty.v1 import ledger_pb2_grpc

from loyalty_service.bench import database, seed
from loyalty_service.bench.calls import TillCalls
from loyalty_service.bench.report import Row
from loyalty_service.bench.servers import ServiceUnderTest, start_service_processes
from loyalty_service.bench.stats import percentile

__all__ = ["LiveOptions", "measure_live"]

_DRAIN_SECONDS = 5.0
_LINE_LIMIT = 64 * 1024 * 1024
"""The arrivals come back as one JSON line (about 60 bytes per purchase)."""
_OPEN_SECONDS = 30.0
"""Bound on the stream process's start-up (plus 10 ms per stream) and exit."""


@dataclass(frozen=True, kw_only=True)
class LiveOptions:
    streams: int
    rate: float
    """Purchases per second recorded on replica B."""
    seconds: float
    database_url: str | None


@dataclass
class _Timings:
    acknowledged: dict[str, float]
    arrived: dict[str, float]
    elapsed: float = 0.0
    failed: int = 0
    first_failure: str = ""
    closed_streams: int = 0
    """Streams the server had already ended when the purchases began."""
    ended: dict[str, int] = field(default_factory=dict)
    """Streams the server ended during the purchases or the drain, by status and message."""


async def _send(process: asyncio.subprocess.Process, message: dict[str, Any]) -> None:
    assert process.stdin is not None
    process.stdin.write(json.dumps(message).encode() + b"\n")
    await process.stdin.drain()


async def _receive(process: asyncio.subprocess.Process, *, within: float) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), within)
    if not line:
        raise RuntimeError(f"the stream process ended (exit status {await process.wait()})")
    answer: dict[str, Any] = json.loads(line)
    return answer


async def _drive(a: ServiceUnderTest, b: ServiceUnderTest, keys: seed.Keys, options: LiveOptions) -> _Timings:
    """Streams in a child process (`bench.live_watch`), purchases here: neither event loop delays the
    other's timestamps, taken on the one system-wide monotonic clock."""
    timings = _Timings(acknowledged={}, arrived={})
    watcher = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "loyalty_service.bench.live_watch",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=_LINE_LIMIT,
    )
    till_channel = grpc.aio.insecure_channel(b.address)
    try:
        await _send(watcher, {"address": a.address, "api_key": keys.webshop, "streams": options.streams})
        ready = await _receive(watcher, within=_OPEN_SECONDS + options.streams / 100)
        timings.closed_streams = int(ready["closed"])
        till = TillCalls([till_channel], keys.pos, random.Random(7))
        stub: Any = ledger_pb2_grpc.LedgerServiceStub(till_channel)
        till_metadata = (("authorization", f"Bearer {keys.pos}"),)

        async def buy(index: int) -> None:
            request = till.purchase_request(
                index % options.streams, occurred_at=datetime.now(UTC) - timedelta(seconds=1)
            )
            try:
                answer = await stub.RecordPurchase(request, metadata=till_metadata, timeout=30)
            except grpc.aio.AioRpcError as error:
                timings.failed += 1
                timings.first_failure = timings.first_failure or f"{error.code().name}: {error.details()}"
                return
            if answer.entry_id:
                timings.acknowledged[answer.entry_id] = time.monotonic()

        # What start-up made stays out of the collector's way, and finished purchases are not kept: a
        # full collection of this loop (71 ms once) stalled the schedule, whose catch-up then sent a
        # burst that the servers' figures paid for.
        gc.freeze()
        started, in_flight = time.monotonic(), set[asyncio.Task[None]]()
        for index in range(int(options.rate * options.seconds)):
            await asyncio.sleep(max(0.0, started + index / options.rate - time.monotonic()))
            purchase = asyncio.create_task(buy(index))
            in_flight.add(purchase)
            purchase.add_done_callback(in_flight.discard)
        await asyncio.gather(*in_flight)
        timings.elapsed = time.monotonic() - started
        await _send(watcher, {"expect": list(timings.acknowledged), "drain_seconds": _DRAIN_SECONDS})
        arrived = await _receive(watcher, within=_DRAIN_SECONDS + _OPEN_SECONDS)
        timings.arrived = {str(entry): float(at) for entry, at in arrived["arrived"].items()}
        timings.ended = {str(status): int(count) for status, count in arrived["ended"].items()}
        await asyncio.wait_for(watcher.wait(), _OPEN_SECONDS)
        return timings
    finally:
        if watcher.returncode is None:
            watcher.kill()
            await watcher.wait()
        await till_channel.close()


def _row(options: LiveOptions, timings: _Timings) -> Row:
    latencies = sorted(
        (timings.arrived[entry] - acked) * 1000
        for entry, acked in timings.acknowledged.items()
        if entry in timings.arrived
    )
    lost = len(timings.acknowledged) - len(latencies)
    notes = [
        f"{len(timings.acknowledged) / max(timings.elapsed, 1e-9):.0f} purchases/s acknowledged "
        f"of {options.rate:.0f}/s asked",
        f"{options.streams} streams",
    ]
    if latencies:
        notes.append(f"p95 {percentile(latencies, 0.95):.1f} ms")
    if lost:
        notes.append(f"{lost} acknowledged events not seen within {_DRAIN_SECONDS:.0f}s")
    if timings.ended:
        notes.append(
            "streams ended during the run: " + ", ".join(f"{n} {why}" for why, n in timings.ended.items())
        )
    if timings.closed_streams:
        notes.append(f"{timings.closed_streams} streams closed by the server before the purchases")
    if timings.failed:
        notes.append(f"{timings.failed} purchases failed ({timings.first_failure[:120]})")
    return Row(
        name="live: purchase on B -> event on A",
        value=percentile(latencies, 0.99) if latencies else None,
        unit="ms p99",
        p50_ms=percentile(latencies, 0.50) if latencies else None,
        p99_ms=percentile(latencies, 0.99) if latencies else None,
        target="p99 < 50 ms at 500/s with 1000 streams",
        note="; ".join(notes),
    )


async def _measure(options: LiveOptions) -> Row:
    with database.bench_database(options.database_url) as db:
        await seed.migrate(db.url)
        await database.seed_members(db.url, count=options.streams)
        keys = await seed.create_keys(db.url)
        a = start_service_processes(database_url=db.url, workers=1, work_dir=db.work_dir, name="replica-a")
        try:
            b = start_service_processes(
                database_url=db.url, workers=1, work_dir=db.work_dir, name="replica-b"
            )
            try:
                await seed.create_rules(b.address, keys)
                return _row(options, await _drive(a, b, keys, options))
            finally:
                b.stop()
        finally:
            a.stop()


def measure_live(options: LiveOptions) -> Row:
    """Run the live-latency scenario and return its row."""
    return asyncio.run(_measure(options))
