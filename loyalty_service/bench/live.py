"""`loyalty-service bench live`: from a purchase's acknowledgement on replica B to its event on replica A.

Two server processes on one database (the bench's embedded PostgreSQL unless a URL is given). N
WatchMember streams are opened on A, one member each; purchases for those members are recorded on B at a
fixed rate (open loop: a slow answer does not slow the schedule); each purchase's EARN entry id is matched
with the event that arrives on A's stream. The latency printed is arrival - acknowledgement, both taken
in this one process on the monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from loyalty.v1 import ledger_pb2_grpc

from loyalty_service.bench import database, seed
from loyalty_service.bench.calls import TillCalls
from loyalty_service.bench.programme import member_id
from loyalty_service.bench.report import Row
from loyalty_service.bench.servers import ServiceUnderTest, start_service_processes
from loyalty_service.bench.stats import percentile
from loyalty_service.bench.watch import watch_member

__all__ = ["LiveOptions", "measure_live"]

_CHANNELS = 10
_SETTLE_SECONDS = 2.0
_DRAIN_SECONDS = 5.0


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


async def _watch(call: Any, arrived: dict[str, float]) -> None:
    with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
        async for message in call:
            if message.WhichOneof("item") == "event":
                payload = message.event.payload
                if payload.WhichOneof("event") == "points_changed":
                    arrived.setdefault(payload.points_changed.entry.entry_id, time.monotonic())


async def _drive(a: ServiceUnderTest, b: ServiceUnderTest, keys: seed.Keys, options: LiveOptions) -> _Timings:
    timings = _Timings(acknowledged={}, arrived={})
    metadata = (("authorization", f"Bearer {keys.webshop}"),)
    watch_channels = [
        grpc.aio.insecure_channel(a.address, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(_CHANNELS)
    ]
    till_channel = grpc.aio.insecure_channel(b.address)
    watchers: list[asyncio.Task[None]] = []
    try:
        for index in range(options.streams):
            call = watch_member(watch_channels[index % _CHANNELS], member_id(index), metadata)
            watchers.append(asyncio.create_task(_watch(call, timings.arrived)))
        await asyncio.sleep(_SETTLE_SECONDS)
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

        started, purchases = time.monotonic(), []
        for index in range(int(options.rate * options.seconds)):
            await asyncio.sleep(max(0.0, started + index / options.rate - time.monotonic()))
            purchases.append(asyncio.create_task(buy(index)))
        await asyncio.gather(*purchases)
        timings.elapsed = time.monotonic() - started
        deadline = time.monotonic() + _DRAIN_SECONDS
        # Polls two dicts that the stream tasks fill; an Event per entry would cost more than it saves.
        while time.monotonic() < deadline and not timings.acknowledged.keys() <= timings.arrived.keys():  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        return timings
    finally:
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        for channel in [*watch_channels, till_channel]:
            await channel.close()


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
