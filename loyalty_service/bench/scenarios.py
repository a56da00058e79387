"""The measured phases, each turned into one report row with the issue's target beside it."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from loyalty_service.bench.generators import run_generators, split
from loyalty_service.bench.load import LoadResult, LoadSpec, Scenario
from loyalty_service.bench.options import BenchOptions
from loyalty_service.bench.report import Row
from loyalty_service.bench.seed import Keys
from loyalty_service.bench.servers import ServiceUnderTest, resident_mb
from loyalty_service.bench.stats import summarize
from loyalty_service.bench.watch import open_watch_streams

__all__ = ["Phases"]

_WARM_UP_SECONDS = 1.0
_QUICK_WARM_UP_SECONDS = 0.5
_STREAM_HOLD_SECONDS = 2.0
_CHANNELS_PER_GENERATOR = 16
"""TCP connections per load generator. SO_REUSEPORT spreads connections over the workers, not calls: with
two per generator, all four offline uploads sometimes went to one worker (80% of a core against 8%)."""


def _failure_note(result: LoadResult) -> str:
    errors = ", ".join(f"{code} x{count}" for code, count in sorted(result.errors.items()))
    parts = [f"errors: {errors}"] if errors else []
    if result.refused:
        parts.append(f"{result.refused} refused")
    if result.dropped:
        parts.append(f"{result.dropped} not started (client saturated)")
    return "; ".join(parts)


def _rate(result: LoadResult) -> float:
    return result.items / result.elapsed_seconds if result.elapsed_seconds > 0 else 0.0


@dataclass
class Phases:
    """Everything the phases share: the options, the running service, the keys, and memory peaks."""

    options: BenchOptions
    service: ServiceUnderTest
    keys: Keys
    log_dir: Path
    peak_mb: dict[int, float] = field(default_factory=dict)
    earn_rate: float = 0.0

    async def _run(
        self, scenario: Scenario, *, duration: float, concurrency: int, rate: float = 0.0
    ) -> LoadResult:
        processes = self.options.load_processes
        specs = [
            LoadSpec(
                address=self.service.address,
                api_key=self.keys.pos,
                scenario=scenario,
                members=self.options.members,
                concurrency=share,
                duration_seconds=duration,
                seed=index * 7919 + len(scenario),
                start_at_epoch=0.0,
                rate_per_second=rate / processes,
                batch_size=self.options.offline_batch_size,
                channels=max(self.options.workers, _CHANNELS_PER_GENERATOR),
            )
            for index, share in enumerate(split(concurrency, processes))
        ]
        return await run_generators(specs, service=self.service, log_dir=self.log_dir, peak_mb=self.peak_mb)

    async def warm_up(self) -> None:
        """Connections, caches and the rules cache warm before anything is measured."""
        seconds = _QUICK_WARM_UP_SECONDS if self.options.quick else _WARM_UP_SECONDS
        await self._run("earn", duration=seconds, concurrency=self.options.clients)
        self.peak_mb.clear()

    def _closed_loop_row(self, name: str, result: LoadResult) -> Row:
        latency = summarize(result.latencies_seconds)
        return Row(
            name=name,
            value=_rate(result) if result.items else None,
            unit="req/s",
            p50_ms=latency.p50_ms if latency.count else None,
            p99_ms=latency.p99_ms if latency.count else None,
            note=_failure_note(result),
        )

    async def earn(self, pgbench_tps: float | None) -> Row:
        result = await self._run(
            "earn", duration=self.options.duration_seconds, concurrency=self.options.clients
        )
        row = self._closed_loop_row("earn (uniform)", result)
        self.earn_rate = row.value or 0.0
        ratio = self.earn_rate / pgbench_tps if pgbench_tps and row.value else None
        return replace(row, ratio=ratio, ratio_to="pgbench", target=">= 0.8x pgbench")

    async def hot(self) -> Row:
        result = await self._run(
            "hot", duration=self.options.duration_seconds, concurrency=self.options.clients
        )
        row = self._closed_loop_row("hot member", result)
        ratio = row.value / self.earn_rate if row.value and self.earn_rate else None
        extra = "20% of calls on 10 members, 10% spends"
        note = f"{extra}; {row.note}" if row.note else extra
        return replace(row, ratio=ratio, ratio_to="uniform", target=">= 0.5x uniform", note=note)

    async def offline(self) -> Row:
        uploads = 2 * self.options.workers
        result = await self._run("offline", duration=self.options.duration_seconds, concurrency=uploads)
        note = f"batches of {self.options.offline_batch_size}, {uploads} uploads in flight"
        failures = _failure_note(result)
        return Row(
            name="offline upload",
            value=_rate(result) if result.items else None,
            unit="purchases/s",
            p50_ms=None,
            target=">= 10,000/s",
            note=f"{note}; {failures}" if failures else note,
        )

    async def mixed(self) -> Row:
        rate = self.options.mixed_rate or self.earn_rate / 2
        if rate < 1:
            return Row(name="mixed @ half peak", target="p99 < 25 ms", note="skipped: no earn rate measured")
        processes = self.options.load_processes  # open loop: every generator takes its share of the rate
        result = await self._run(
            "mixed", duration=self.options.duration_seconds, concurrency=processes, rate=rate
        )
        row = self._closed_loop_row("mixed @ half peak", result)
        given = " (given)" if self.options.mixed_rate else ""
        note = f"open loop at {rate:,.0f}/s{given}, 60% earn / 30% balance / 10% spend"
        return replace(row, target="p99 < 25 ms", note=f"{note}; {row.note}" if row.note else note)

    def memory_at_peak(self) -> Row:
        if not self.peak_mb:
            return Row(name="memory at peak", target="< 200 MB/process", note="no samples")
        per_process = ", ".join(f"{mb:.0f}" for _, mb in sorted(self.peak_mb.items()))
        return Row(
            name="memory at peak",
            value=max(self.peak_mb.values()),
            unit="MB max",
            target="< 200 MB/process",
            note=f"RSS per server process: {per_process} MB",
        )

    async def memory_with_streams(self) -> Row:
        count = self.options.watch_streams
        name, target = "memory with streams", "< 200 MB/process with 1000 streams"
        async with open_watch_streams(
            self.service.address, self.keys.webshop, count=count, members=self.options.members
        ) as note:
            if note.startswith("skipped"):
                return Row(name=name, target=target, note=note)
            await asyncio.sleep(_STREAM_HOLD_SECONDS)
            sizes = [mb for pid in self.service.server_pids() if (mb := resident_mb(pid)) is not None]
        value = max(sizes) if sizes else math.nan
        detail = f"{count} streams; RSS per process: " + ", ".join(f"{mb:.0f}" for mb in sizes) + " MB"
        return Row(
            name=name, value=value, unit="MB max", target=target, note=f"{detail}; {note}" if note else detail
        )
