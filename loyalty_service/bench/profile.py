"""Server CPU and database statements per request on the hot paths: a figure a shared machine cannot blur.

    python -m loyalty_service.bench.profile [--requests N] [--concurrency C] [--batch B] [--members M]

Starts an embedded PostgreSQL, seeds members, starts `loyalty-service serve --workers 1` and sends
RecordPurchase, GetBalance, SpendPoints and SyncOfflinePurchases over gRPC. For each it prints the CPU
time the server process used (user + system from `/proc/<pid>/stat`) divided by the requests (purchases
for SyncOfflinePurchases), and the statements and transactions PostgreSQL executed per request
(`log_statement = all` during a short counting pass; `xacts` counts BEGINs, so a pool ping shows
as a transaction), and the CPU time of all PostgreSQL processes per request (`db ms`). CPU time is not
wall-clock time, so other work on the machine barely moves it; wall-clock is printed for reference.
Statements of the service's background loops (passports, live feed) are left out of the count.
With `LOYALTY_PROFILE_PY_SPY=folder` (and `pip install py-spy`), each measured phase is also sampled
by py-spy into `folder/<rpc>.txt` (collapsed stacks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from loyalty_service.bench import database, seed
from loyalty_service.bench.calls import Refused, TillCalls
from loyalty_service.bench.servers import start_service_processes

__all__ = ["main"]

_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def _database_pids(pgdata: Path) -> list[int]:
    """The postmaster (first line of postmaster.pid) and its children: backends, WAL writer, ..."""
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    found = [postmaster]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
                found.append(int(entry.name))
    return found


def _database_cpu_seconds(pgdata: Path) -> float:
    total = 0.0
    for pid in _database_pids(pgdata):
        try:
            total += _cpu_seconds(pid)
        except (OSError, IndexError):
            continue  # a backend that ended in between
    return total


@dataclass
class Figure:
    name: str
    requests: int
    cpu_ms: float
    wall_s: float
    db_cpu_ms: float = 0.0
    statements: float = 0.0
    transactions: float = 0.0
    sample: tuple[str, ...] = ()


async def _admin(url: str) -> Any:
    import asyncpg

    return await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))


async def _set_logging(url: str, on: bool) -> None:
    conn = await _admin(url)
    try:
        if on:
            await conn.execute("alter system set log_statement = 'all'")
            await conn.execute("alter system set log_line_prefix = '[%p] '")
        else:
            await conn.execute("alter system reset log_statement")
            await conn.execute("alter system reset log_line_prefix")
        await conn.execute("select pg_reload_conf()")
    finally:
        await conn.close()
    await asyncio.sleep(0.3)


_BACKGROUND = ("passport_cursors", "pg_current_snapshot")
"""Statements of the service's background loops (passport stamps, live-event feed), not of a request."""


def _size(path: Path) -> int:
    return path.stat().st_size


def _logged_statements(log: Path, start: int) -> list[str]:
    """The statements PostgreSQL logged since `start`, without the background loops' transactions."""
    text = log.read_bytes()[start:].decode(errors="replace")
    kept: list[str] = []
    open_transactions: dict[str, list[str]] = {}  # per server process (one connection each)
    for line in text.splitlines():
        for marker in ("LOG:  statement: ", "LOG:  execute "):
            if marker not in line or not line.startswith("["):
                continue
            backend = line[1 : line.index("]")]
            statement = line.split(marker, 1)[1]
            if "alter system" in statement or "pg_reload_conf" in statement:
                continue
            if backend not in open_transactions and not statement.upper().startswith("BEGIN"):
                if not any(pattern in statement for pattern in _BACKGROUND):
                    kept.append(statement)  # a statement outside any transaction
                continue
            current = open_transactions.setdefault(backend, [])
            current.append(statement)
            if statement.upper().startswith(("COMMIT", "ROLLBACK")):
                if not any(pattern in text for text in current for pattern in _BACKGROUND):
                    kept.extend(current)
                del open_transactions[backend]
    return kept


def _py_spy(pid: int, name: str) -> subprocess.Popen[bytes]:
    """py-spy (not a dependency: `pip install py-spy`) sampling the server into collapsed stacks."""
    folder = Path(os.environ["LOYALTY_PROFILE_PY_SPY"])
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name.split()[0]}.txt"
    beside = Path(sys.executable).parent / "py-spy"
    binary = str(beside) if beside.exists() else "py-spy"
    command = [binary, "record", "-p", str(pid), "-r", "200", "-f", "raw", "-o", str(out)]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attach before the measured calls start
    return spy


async def _closed_loop(n: int, concurrency: int, call: Callable[[int], Awaitable[None]]) -> None:
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await call(i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _measure(
    name: str,
    *,
    pid: int,
    url: str,
    log: Path,
    n: int,
    units: int,
    concurrency: int,
    call: Callable[[int], Awaitable[None]],
    count_n: int,
) -> Figure:
    await _closed_loop(max(2, n // 10), concurrency, call)  # warm-up: caches, prepared statements
    spy = _py_spy(pid, name) if os.environ.get("LOYALTY_PROFILE_PY_SPY") else None
    pgdata = log.parent
    before_cpu, before_wall = _cpu_seconds(pid), time.perf_counter()
    before_db = _database_cpu_seconds(pgdata)
    await _closed_loop(n, concurrency, call)
    cpu, wall = _cpu_seconds(pid) - before_cpu, time.perf_counter() - before_wall
    db_cpu = _database_cpu_seconds(pgdata) - before_db
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)
    figure = Figure(name, n * units, cpu * 1000 / (n * units), wall, db_cpu * 1000 / (n * units))
    # Counting pass, sequential so that nothing else runs in between.
    await _set_logging(url, True)
    start = _size(log)
    await _closed_loop(count_n, 1, call)
    await asyncio.sleep(0.2)
    await _set_logging(url, False)
    logged = _logged_statements(log, start)
    figure.statements = len(logged) / (count_n * units)
    figure.transactions = sum(1 for s in logged if s.upper().startswith("BEGIN")) / (count_n * units)
    figure.sample = tuple(logged[-round(figure.statements) :]) if units == 1 else tuple(logged[:40])
    return figure


async def _commit_latency_ms(url: str, count: int = 200) -> float:
    """Median time of one tiny durable transaction (BEGIN, insert, COMMIT) from a single client: the
    fsync a commit waits for, on this machine, with nothing else in flight."""
    conn = await _admin(url)
    try:
        await conn.execute("create temporary table commit_probe (n int)")
        times = []
        for i in range(count):
            started = time.perf_counter()
            async with conn.transaction():
                await conn.execute("insert into commit_probe values ($1)", i)
            times.append(time.perf_counter() - started)
        return sorted(times)[count // 2] * 1000
    finally:
        await conn.close()


async def _run(options: argparse.Namespace) -> tuple[list[Figure], float]:
    with database.bench_database(None) as db:
        await seed.migrate(db.url)
        await database.seed_members(db.url, count=options.members)
        keys = await seed.create_keys(db.url)
        service = start_service_processes(database_url=db.url, workers=1, work_dir=db.work_dir)
        try:
            await seed.create_rules(service.address, keys)
            pid = service.server_pids()[0]
            log = db.work_dir / "database" / "pgdata" / "log"
            rng = random.Random(12)
            channels = [grpc.aio.insecure_channel(service.address) for _ in range(2)]
            till = TillCalls(channels, keys.pos, rng)
            members = options.members

            async def earn(_: int) -> None:
                await till.purchase(rng.randrange(members))

            async def balance(_: int) -> None:
                await till.balance(rng.randrange(members))

            async def spend(_: int) -> None:
                with contextlib.suppress(Refused):  # two spends in flight on one member's last points
                    await till.spend(rng.choice(till.recent_earners))

            async def offline(_: int) -> None:
                await till.offline_batch(members=members, size=options.batch)

            common = {"pid": pid, "url": db.url, "log": log, "concurrency": options.concurrency}
            n = options.requests
            figures = [
                await _measure("RecordPurchase", n=n, units=1, call=earn, count_n=20, **common),
                await _measure("GetBalance", n=n, units=1, call=balance, count_n=20, **common),
                await _measure("SpendPoints", n=n, units=1, call=spend, count_n=20, **common),
                await _measure(
                    f"SyncOfflinePurchases (per purchase, batches of {options.batch})",
                    n=max(1, n // options.batch),
                    units=options.batch,
                    call=offline,
                    count_n=1,
                    **{**common, "concurrency": min(2, options.concurrency)},
                ),
            ]
            for channel in channels:
                await channel.close()
            return figures, await _commit_latency_ms(db.url)
        finally:
            service.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loyalty_service.bench.profile", description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="measured requests per RPC")
    parser.add_argument("--concurrency", type=int, default=4, help="calls in flight")
    parser.add_argument("--batch", type=int, default=200, help="SyncOfflinePurchases batch size")
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--show", action="store_true", help="print the statements of the last request")
    options = parser.parse_args(argv)
    started = datetime.now(UTC)
    figures, commit_ms = asyncio.run(_run(options))
    print(f"server CPU per request, 1 worker, {options.concurrency} in flight, {started:%Y-%m-%d %H:%M} UTC")
    print(f"{'rpc':<52} {'n':>6} {'cpu ms':>8} {'db ms':>7} {'stmts':>7} {'xacts':>6} {'wall s':>7}")
    for f in figures:
        print(
            f"{f.name:<52} {f.requests:>6} {f.cpu_ms:>8.2f} {f.db_cpu_ms:>7.2f} {f.statements:>7.1f} "
            f"{f.transactions:>6.2f} {f.wall_s:>7.1f}"
        )
    print(f"durable commit, one client alone: {commit_ms:.2f} ms (median of 200)")
    if options.show:
        for f in figures:
            print(f"\n{f.name}:")
            for statement in f.sample:
                print(f"  {statement[:160]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
