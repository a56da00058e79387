"""Run one scenario on several load-generator processes at once and merge what they measured.

While they run, the parent samples the resident memory of every server process, so the memory figure
is taken at peak load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from loyalty_service.bench.load import LoadResult, LoadSpec
from loyalty_service.bench.servers import ServiceUnderTest, resident_mb

__all__ = ["merge", "run_generators", "split"]

_START_DELAY_SECONDS = 1.0
"""Time for the generators to import grpc and connect before the shared start."""
_OVERRUN_SECONDS = 150.0
"""How long past its duration a generator may take (a last offline batch) before it is killed."""
_SAMPLE_SECONDS = 0.25


def split(total: int, parts: int) -> list[int]:
    """`total` spread over `parts` as evenly as integers allow, none of them zero."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def merge(results: list[LoadResult]) -> LoadResult:
    errors: Counter[str] = Counter()
    for result in results:
        errors.update(result.errors)
    return LoadResult(
        ok=sum(r.ok for r in results),
        refused=sum(r.refused for r in results),
        dropped=sum(r.dropped for r in results),
        items=sum(r.items for r in results),
        errors=dict(errors),
        latencies_seconds=[latency for r in results for latency in r.latencies_seconds],
        elapsed_seconds=max((r.elapsed_seconds for r in results), default=0.0),
    )


def _sample(service: ServiceUnderTest, peak_mb: dict[int, float]) -> None:
    for pid in service.server_pids():
        rss = resident_mb(pid)
        if rss is not None:
            peak_mb[pid] = max(peak_mb.get(pid, 0.0), rss)


async def run_generators(
    specs: list[LoadSpec], *, service: ServiceUnderTest, log_dir: Path, peak_mb: dict[int, float]
) -> LoadResult:
    """Start one process per spec with a shared start time; kill them all on error or overrun."""
    start_at = time.time() + _START_DELAY_SECONDS
    processes: list[Any] = []
    try:
        for index, spec in enumerate(specs):
            timed = replace(spec, start_at_epoch=start_at)
            log = (log_dir / f"generator-{spec.scenario}-{index}.log").open("wb")
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "loyalty_service.bench.load",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            log.close()
            processes.append(
                (process, asyncio.create_task(process.communicate(json.dumps(asdict(timed)).encode())))
            )
        deadline = start_at + max(spec.duration_seconds for spec in specs) + _OVERRUN_SECONDS
        while not all(task.done() for _, task in processes):
            if time.time() > deadline:
                raise TimeoutError("load generators overran their duration")
            if time.time() > start_at:
                _sample(service, peak_mb)
            await asyncio.sleep(_SAMPLE_SECONDS)
        results = []
        for index, (process, task) in enumerate(processes):
            stdout, _ = task.result()
            if process.returncode != 0:
                log_text = (log_dir / f"generator-{specs[index].scenario}-{index}.log").read_text()[-2000:]
                raise RuntimeError(f"load generator exited with {process.returncode}:\n{log_text}")
            results.append(LoadResult(**json.loads(stdout)))
        return merge(results)
    finally:
        for process, task in processes:
            if process.returncode is None:
                process.kill()
            task.cancel()
            with contextlib.suppress(ProcessLookupError):
                await process.wait()
