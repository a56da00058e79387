"""Live latency benchmark: purchase acknowledged on replica B -> event arrives on a stream on replica A.

    python -m loyalty_service.events.bench_live [--streams 1000] [--rate 500] [--seconds 20]

Starts an embedded PostgreSQL in a temporary folder unless LOYALTY_DATABASE_URL is set, two server
processes on it, opens N WatchMember streams on A (one member each), records purchases at a fixed rate on
B for the members in turn, and prints p50/p95/p99 of (event arrival - purchase acknowledgement). A script,
not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from loyalty.v1 import (
    common_pb2,
    ledger_pb2,
    ledger_pb2_grpc,
    live_pb2,
    live_pb2_grpc,
    members_pb2,
    members_pb2_grpc,
    program_pb2,
    program_pb2_grpc,
)

from loyalty_service.auth import credentials
from loyalty_service.auth.principal import PrincipalKind
from loyalty_service.db.embedded import start_embedded
from loyalty_service.db.engine import create_engine
from loyalty_service.db.migrate import migrate
from loyalty_service.proto_time import to_timestamp

__all__ = ["main"]


async def _prepare(url: str) -> str:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            _row, key = await credentials.create(
                conn, kind=PrincipalKind.WEBSHOP, name="bench", store_id=None
            )
            _row, back = await credentials.create(
                conn, kind=PrincipalKind.BACKOFFICE, name="b", store_id=None
            )
        return key + " " + back
    finally:
        await engine.dispose()


async def _wait_serving(address: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    async with grpc.aio.insecure_channel(address) as channel:
        while True:
            try:
                stub: Any = health_pb2_grpc.HealthStub(channel)
                await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                return
            except grpc.aio.AioRpcError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


async def _run(url: str, streams: int, rate: float, seconds: float, work: Path) -> None:
    keys = (await _prepare(url)).split()
    ports = [50000 + secrets.randbelow(10000) for _ in range(2)]
    env = {
        **os.environ,
        "LOYALTY_DATABASE_URL": url,
        "LOYALTY_METRICS_PORT": "0",
        "LOYALTY_MIGRATE_ON_START": "false",
        "LOYALTY_TOKEN_SIGNING_KEY": "bench-signing-key-0123456789-0123456789",
        "LOYALTY_LOG_LEVEL": "WARNING",
    }
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "loyalty_service",
            "serve",
            env={**env, "LOYALTY_GRPC_PORT": str(p), "LOYALTY_DATA_DIR": str(work / str(p))},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=(work / f"{p}.log").open("wb"),
        )
        for p in ports
    ]
    try:
        for port in ports:
            await _wait_serving(f"127.0.0.1:{port}")
        meta = (("authorization", f"Bearer {keys[0]}"),)
        a, b = (grpc.aio.insecure_channel(f"127.0.0.1:{p}") for p in ports)
        spec = program_pb2.EarningRuleSpec(
            name="b", kind=program_pb2.EARNING_RULE_KIND_BASE_RATE, currency="EUR", points_per_unit="1"
        )
        await program_pb2_grpc.ProgramServiceStub(b).CreateEarningRule(
            program_pb2.CreateEarningRuleRequest(idempotency_key="rule", spec=spec),
            metadata=(("authorization", f"Bearer {keys[1]}"),),
        )
        member_stub = members_pb2_grpc.MemberServiceStub(b)
        members = [
            (
                await member_stub.EnrollMember(
                    members_pb2.EnrollMemberRequest(idempotency_key=f"m{i}", display_name="b"), metadata=meta
                )
            ).member.member_id
            for i in range(streams)
        ]
        acked: dict[str, float] = {}
        arrived: dict[str, float] = {}
        live = live_pb2_grpc.LiveServiceStub(a)

        async def watch(member_id: str) -> None:
            call = live.WatchMember(live_pb2.WatchMemberRequest(member_id=member_id), metadata=meta)
            async for message in call:
                if message.WhichOneof("item") == "event":
                    arrived[message.event.payload.points_changed.entry.entry_id] = time.monotonic()

        watchers = [asyncio.create_task(watch(m)) for m in members]
        await asyncio.sleep(3)
        ledger = ledger_pb2_grpc.LedgerServiceStub(b)

        async def buy(index: int) -> None:
            answer = await ledger.RecordPurchase(
                ledger_pb2.RecordPurchaseRequest(
                    idempotency_key=f"p{index}",
                    member=common_pb2.MemberRef(member_id=members[index % len(members)]),
                    channel=common_pb2.CHANNEL_WEBSHOP,
                    store_id="web",
                    order_id=f"o{index}",
                    amount=common_pb2.Money(amount_minor=1000, currency="EUR"),
                    occurred_at=to_timestamp(datetime.now(UTC) - timedelta(seconds=1)),
                ),
                metadata=meta,
            )
            acked[answer.entry_id] = time.monotonic()

        start, tasks = time.monotonic(), []
        for index in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
            tasks.append(asyncio.create_task(buy(index)))
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:
            print(f"{len(failed)} purchases failed, e.g. {failed[0]!r:.200}")
        elapsed = time.monotonic() - start
        await asyncio.sleep(3)
        for task in watchers:
            task.cancel()
        latencies = sorted((arrived[e] - t) * 1000 for e, t in acked.items() if e in arrived)
        q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
        print(
            f"streams={streams} target_rate={rate}/s achieved={len(acked) / elapsed:.0f}/s "
            f"acked={len(acked)} delivered={len(latencies)} "
            f"p50={q[49]:.1f}ms p95={q[94]:.1f}ms p99={q[98]:.1f}ms"
        )
    finally:
        for proc in procs:
            proc.terminate()
            await proc.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        url = os.environ.get("LOYALTY_DATABASE_URL")
        embedded = None
        if url is None:
            embedded = start_embedded(work / "db")
            url = embedded.url
        try:
            asyncio.run(_run(url, args.streams, args.rate, args.seconds, work))
        finally:
            if embedded is not None:
                embedded.stop()


if __name__ == "__main__":
    main()
