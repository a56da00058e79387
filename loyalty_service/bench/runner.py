"""One bench run from start to table: database, seed, pgbench, service, phases, clean-up.

Every resource is released in `finally` blocks (generators, service processes, the embedded
database and its temporary folder), also when a phase fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable

from loyalty_service.bench import database, seed
from loyalty_service.bench.options import BenchOptions, core_count
from loyalty_service.bench.report import Report, Row, ordered, render_json, render_table
from loyalty_service.bench.scenarios import Phases
from loyalty_service.bench.servers import group_commit_setting, start_service_processes

__all__ = ["run"]


def _progress(message: str, started: float) -> None:
    print(f"bench [{time.monotonic() - started:5.1f}s] {message}", file=sys.stderr, flush=True)


async def _pgbench_row(url: str, options: BenchOptions) -> Row:
    try:
        tps = await database.pgbench_tps(
            url,
            clients=options.clients,
            duration_seconds=options.duration_seconds,
            scale=options.pgbench_scale,
        )
    except Exception as error:  # the baseline is one row; the service rows are still worth printing
        return Row(name="pgbench TPC-B", target="the ceiling", note=f"failed: {error}"[:200])
    return Row(
        name="pgbench TPC-B",
        value=tps,
        unit="tps",
        target="the ceiling",
        note=f"scale {options.pgbench_scale}, -c {options.clients} -j {options.clients}",
    )


async def _guarded(name: str, phase: Callable[[], Awaitable[Row]], started: float) -> Row:
    """One phase; a failure becomes that row's note so that the other rows are still measured."""
    _progress(name, started)
    try:
        return await phase()
    except Exception as error:  # a broken phase must not hide the others (CI prints the table)
        return Row(name=name, note=f"failed: {type(error).__name__}: {error}"[:300])


async def _phases(phases: Phases, pgbench: Row, started: float) -> list[Row]:
    rows = [pgbench]
    _progress("warming up", started)
    with contextlib.suppress(Exception):  # a failing warm-up shows again, with its reason, in Earn
        await phases.warm_up()
    rows.append(await _guarded("earn (uniform)", lambda: phases.earn(pgbench.value), started))
    rows.append(phases.memory_at_peak())
    rows.append(await _guarded("hot member", phases.hot, started))
    rows.append(await _guarded("offline upload", phases.offline, started))
    rows.append(await _guarded("mixed @ half peak", phases.mixed, started))
    rows.append(await _guarded("memory with streams", phases.memory_with_streams, started))
    return rows


async def _run(options: BenchOptions, report: Report) -> None:
    started = time.monotonic()
    with database.bench_database(options.database_url) as db:
        _progress(f"database ready; migrating and seeding {options.members} members", started)
        await seed.migrate(db.url)
        await database.seed_members(db.url, count=options.members)
        keys = await seed.create_keys(db.url)
        _progress("pgbench baseline", started)
        pgbench = await _pgbench_row(db.url, options)
        _progress(f"starting the service with {options.workers} workers", started)
        service = start_service_processes(database_url=db.url, workers=options.workers, work_dir=db.work_dir)
        try:
            report.settings["rules"] = await seed.create_rules(service.address, keys)
            report.settings["group_commit_transactions"] = group_commit_setting()
            log_dir = db.work_dir / "logs"
            log_dir.mkdir(exist_ok=True)
            phases = Phases(options=options, service=service, keys=keys, log_dir=log_dir)
            report.rows = ordered(await _phases(phases, pgbench, started))
        finally:
            code = service.stop()
            if code not in (0, None):
                _progress(f"service exited with {code}:\n{service.log_tail()}", started)
    _progress("done", started)


def run(options: BenchOptions) -> int:
    """Run the bench and print its table (or JSON); 1 if the harness itself failed."""
    report = Report(cores=core_count(), settings=options.settings())
    try:
        asyncio.run(_run(options, report))
    except Exception as error:
        print(f"loyalty-service bench: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(render_json(report) if options.json else render_table(report), flush=True)
    return 0
