"""Leaderboard read benchmark: top N and one member's rank on a board of N members.

    python -m loyalty_service.games.bench_leaderboard [--members 1000000] [--reads 200] [--writers 8]

Starts an embedded PostgreSQL in a temporary folder unless LOYALTY_DATABASE_URL is set, migrates, fills one
board/period with `--members` scores (generate_series, skewed scores with many ties), then times the two
reads GetLeaderboard makes (leaderboard.top and leaderboard.rank_of) for random members and prints p50/p95/
p99 in milliseconds. With `--writers N` (N > 0), N connections then score `--writes` points at once on a
challenge board (leaderboard.add_score, one transaction each, as a check-in does) while the reads run
again; it prints the write rate and read latency under that load, and checks that no point was lost.
A script, not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_service.db.embedded import start_embedded
from loyalty_service.db.engine import create_engine
from loyalty_service.db.migrate import migrate
from loyalty_service.games import leaderboard

_BOARD = "game:game_bench"
_PERIOD = "all"


def _percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100)
    return f"p50 {cuts[49]:.2f} ms, p95 {cuts[94]:.2f} ms, p99 {cuts[98]:.2f} ms"


_CONCURRENT_BOARD = "challenge:chl_bench"
_WRITER_MEMBERS = 1000


async def _reads(
    conn: AsyncConnection, board: str, members: int, reads: int
) -> tuple[list[float], list[float]]:
    tops: list[float] = []
    ranks: list[float] = []
    for _ in range(reads):
        t0 = time.perf_counter()
        await leaderboard.top(conn, board=board, period=_PERIOD, limit=10)
        t1 = time.perf_counter()
        member = f"mem_bench_{random.randint(1, members)}"
        await leaderboard.rank_of(conn, board=board, period=_PERIOD, member_id=member)
        t2 = time.perf_counter()
        tops.append((t1 - t0) * 1000)
        ranks.append((t2 - t1) * 1000)
    await conn.rollback()
    return tops, ranks


async def _concurrent(engine: AsyncEngine, writers: int, writes: int, reads: int) -> None:
    """`writers` connections add `writes` points in all to one board while a reader times the reads."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for _ in range(writes):
        queue.put_nowait(f"mem_bench_{random.randint(1, _WRITER_MEMBERS)}")
    now = datetime.now(UTC)

    async def writer() -> None:
        while not queue.empty():
            member_id = queue.get_nowait()
            async with engine.begin() as conn:
                await leaderboard.add_score(
                    conn, member_id=member_id, board=_CONCURRENT_BOARD, points=1, now=now
                )

    async def reader() -> tuple[list[float], list[float]]:
        async with engine.connect() as conn:
            return await _reads(conn, _CONCURRENT_BOARD, _WRITER_MEMBERS, reads)

    started = time.perf_counter()
    read_task = asyncio.create_task(reader())
    await asyncio.gather(*(writer() for _ in range(writers)))
    elapsed = time.perf_counter() - started
    tops, ranks = await read_task
    async with engine.connect() as conn:
        total = (
            await conn.execute(
                text(
                    "select coalesce(sum(score), 0) from leaderboard_scores where board = :b and period = :p"
                ),
                {"b": _CONCURRENT_BOARD, "p": _PERIOD},
            )
        ).scalar_one()
    assert int(total) == writes, f"lost points: {writes} written, {total} counted"
    rate = writes / elapsed
    print(f"{writers} writers, {writes} scores on {_WRITER_MEMBERS} members: {rate:.0f} scores/s, none lost")
    print(f"top 10 while scoring:  {_percentiles(tops)}")
    print(f"rank while scoring:    {_percentiles(ranks)}")


async def _run(url: str, members: int, reads: int, writers: int = 0, writes: int = 0) -> None:
    engine = create_engine(url, pool_size=max(2, writers + 1), max_overflow=0)
    try:
        await migrate(engine)
        started = time.perf_counter()
        async with engine.begin() as conn:
            await conn.execute(text("delete from leaderboard_scores where board = :b"), {"b": _BOARD})
            await conn.execute(
                text(
                    "insert into leaderboard_scores (member_id, board, period, score, hidden, updated_at) "
                    "select 'mem_bench_' || g, :b, :p, (power(random(), 3) * 1000)::bigint, g % 50 = 0, "
                    "now() "
                    "from generate_series(1, :n) as g"
                ),
                {"b": _BOARD, "p": _PERIOD, "n": members},
            )
        async with engine.connect() as conn:  # autovacuum's job in production: index-only counts
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("vacuum analyze leaderboard_scores"))
        print(f"seeded {members} scores in {time.perf_counter() - started:.1f} s")
        now = datetime.now(UTC)
        async with engine.connect() as conn:
            tops, ranks = await _reads(conn, _BOARD, members, reads)
        print(f"top 10 of {members}: {_percentiles(tops)}")
        print(f"rank of one member:  {_percentiles(ranks)}  ({reads} reads, {now:%Y-%m-%d})")
        if writers > 0:
            async with engine.begin() as conn:
                await conn.execute(
                    text("delete from leaderboard_scores where board = :b"), {"b": _CONCURRENT_BOARD}
                )
            await _concurrent(engine, writers, writes, reads)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--writers", type=int, default=0, help="concurrent scoring connections (0: none)")
    parser.add_argument("--writes", type=int, default=5000, help="scores written in all by the writers")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = os.environ.get("LOYALTY_DATABASE_URL")
        embedded = None
        if url is None:
            embedded = start_embedded(Path(folder) / "db")
            url = embedded.url
        try:
            asyncio.run(_run(url, args.members, args.reads, args.writers, args.writes))
        finally:
            if embedded is not None:
                embedded.stop()


if __name__ == "__main__":
    main()
