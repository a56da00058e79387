"""A load-generator process: its own event loop, channels and concurrency, driving one scenario.

Generators are separate processes because a Python client is CPU-bound too; one process could not
offer the server more load than one core can build and parse. They are plain subprocesses
(`python -m loyalty_service.bench.load`, spec as JSON on stdin, result as JSON on stdout) rather than
multiprocessing workers: spawn would re-run `python -m loyalty_service`'s main module in every child.
Every loop is bounded by a deadline and every in-flight set by a count.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

import grpc

from loyalty_service.bench.calls import Refused, TillCalls
from loyalty_service.bench.programme import HOT_MEMBERS

__all__ = ["LoadResult", "LoadSpec", "Scenario", "run_load"]

Scenario = Literal["earn", "hot", "offline", "mixed"]
_INFLIGHT_MAX = 2000
_DRAIN_SECONDS = 20.0


@dataclass(frozen=True, kw_only=True)
class LoadSpec:
    address: str
    api_key: str
    scenario: Scenario
    members: int
    concurrency: int
    """Closed loop: calls in flight in this process. Open loop (rate > 0): unused."""
    duration_seconds: float
    seed: int
    start_at_epoch: float
    """Wall-clock start shared by all generators, so that their process start-up is not measured."""
    rate_per_second: float = 0.0
    """Open loop: calls started per second by this process on a fixed schedule, whatever the answers."""
    batch_size: int = 1000
    channels: int = 4
    """Separate TCP connections, so that SO_REUSEPORT can spread them over the server's workers."""


@dataclass(kw_only=True)
class LoadResult:
    ok: int = 0
    refused: int = 0
    dropped: int = 0
    """Open loop: calls not started because `_INFLIGHT_MAX` were already waiting."""
    items: int = 0
    """Successful units of work: calls, or credited purchases for offline uploads."""
    errors: dict[str, int] = field(default_factory=dict)
    latencies_seconds: list[float] = field(default_factory=list)
    elapsed_seconds: float = 0.0


class _Driver:
    def __init__(self, spec: LoadSpec, calls: TillCalls, rng: random.Random) -> None:
        self.spec, self.calls, self.rng = spec, calls, rng
        self.result = LoadResult()
        self.errors: Counter[str] = Counter()

    def _member(self) -> int:
        if self.spec.scenario == "hot" and self.rng.random() < 0.2:
            return self.rng.randrange(min(HOT_MEMBERS, self.spec.members))
        return self.rng.randrange(self.spec.members)

    def _spend_target(self) -> int | None:
        if self.spec.scenario == "hot" and self.rng.random() < 0.2:
            return self.rng.randrange(min(HOT_MEMBERS, self.spec.members))
        earners = self.calls.recent_earners
        return earners[self.rng.randrange(len(earners))] if earners else None

    def next_call(self) -> Callable[[], Awaitable[None]]:
        """Earn: purchases only. Hot: 90% purchases, 10% spends. Mixed: 60/30/10 purchase/balance/spend."""
        draw = self.rng.random()
        if self.spec.scenario == "mixed" and draw < 0.3:
            index = self._member()
            return lambda: self.calls.balance(index)
        spend_share = {"hot": 0.1, "mixed": 0.4}.get(self.spec.scenario, 0.0)
        if draw < spend_share and (target := self._spend_target()) is not None:
            return lambda: self.calls.spend(target)
        index = self._member()
        return lambda: self.calls.purchase(index)

    async def timed(self, call: Callable[[], Awaitable[None]], started: float) -> None:
        try:
            await call()
        except Refused:
            self.result.refused += 1
        except grpc.aio.AioRpcError as error:
            self.errors[error.code().name] += 1
            return
        else:
            self.result.ok += 1
        self.result.latencies_seconds.append(time.perf_counter() - started)

    async def closed_loop(self, deadline: float) -> None:
        while time.perf_counter() < deadline:
            await self.timed(self.next_call(), time.perf_counter())

    async def open_loop(self, deadline: float) -> None:
        """Start calls on a fixed schedule; latency counts from the scheduled start (no coordinated
        omission: a slow answer cannot delay the next call and hide its own cost)."""
        interval = 1.0 / self.spec.rate_per_second
        start = time.perf_counter()
        inflight: set[asyncio.Task[None]] = set()
        for step in range(int((deadline - start) / interval)):
            scheduled = start + step * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(inflight) >= _INFLIGHT_MAX:
                self.result.dropped += 1
                continue
            task = asyncio.create_task(self.timed(self.next_call(), scheduled))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        if inflight:
            await asyncio.wait(inflight, timeout=_DRAIN_SECONDS)

    async def uploads(self, deadline: float) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                credited, refused = await self.calls.offline_batch(
                    members=self.spec.members, size=self.spec.batch_size
                )
            except grpc.aio.AioRpcError as error:
                self.errors[error.code().name] += 1
                continue
            self.result.ok += 1
            self.result.items += credited
            self.result.refused += refused
            self.result.latencies_seconds.append(time.perf_counter() - started)


async def _drive(spec: LoadSpec) -> LoadResult:
    options = [("grpc.use_local_subchannel_pool", 1)]  # one TCP connection per channel, really
    channels = [grpc.aio.insecure_channel(spec.address, options=options) for _ in range(spec.channels)]
    try:
        rng = random.Random(spec.seed)
        driver = _Driver(spec, TillCalls(channels, spec.api_key, rng), rng)
        # Every connection made before the start: each call picks a channel at random, so calls spread
        # over the workers as the connections do, from the first call (a channel connects on first use).
        await asyncio.gather(*(channel.channel_ready() for channel in channels))
        await asyncio.sleep(max(0.0, spec.start_at_epoch - time.time()))
        started = time.perf_counter()
        deadline = started + spec.duration_seconds
        if spec.scenario == "offline":
            await asyncio.gather(*(driver.uploads(deadline) for _ in range(spec.concurrency)))
        elif spec.rate_per_second > 0:
            await driver.open_loop(deadline)
        else:
            await asyncio.gather(*(driver.closed_loop(deadline) for _ in range(spec.concurrency)))
        driver.result.elapsed_seconds = time.perf_counter() - started
        if spec.scenario != "offline":
            driver.result.items = driver.result.ok + driver.result.refused
        driver.result.errors = dict(driver.errors)
        return driver.result
    finally:
        for channel in channels:
            await channel.close()


def run_load(spec: LoadSpec) -> LoadResult:
    return asyncio.run(_drive(spec))


def main() -> None:
    """Read a LoadSpec as JSON from stdin, drive it, write the LoadResult as JSON to stdout."""
    spec = LoadSpec(**json.loads(sys.stdin.read()))
    json.dump(asdict(run_load(spec)), sys.stdout)


if __name__ == "__main__":
    main()
