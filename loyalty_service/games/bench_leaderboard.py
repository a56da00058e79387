"""Leaderboard read benchmark: top N and one member's rank on a board of N members.

    python -m loyalty_service.games.bench_leaderboard [--members 1000000] [--reads 200]

Starts an embedded PostgreSQL in a temporary folder unless LOYALTY_DATABASE_URL is set, migrates, fills one
board/period with `--members` scores (generate_series, skewed scores with many ties), then times the two
reads GetLeaderboard makes (leaderboard.top and leaderboard.rank_of) for random members and prints p50/p95/
p99 in milliseconds. A script, not a test: the numbers depend on the machine.
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

from loyalty_service.db.embedded import start_embedded
from loyalty_service.db.engine import create_engine
from loyalty_service.db.migrate import migrate
from loyalty_service.games import leaderboard

_BOARD = "game:game_bench"
_PERIOD = "all"


def _percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100)
    return f"p50 {cuts[49]:.2f} ms, p95 {cuts[94]:.2f} ms, p99 {cuts[98]:.2f} ms"


async def _run(url: str, members: int, reads: int) -> None:
    engine = create_engine(url, pool_size=2, max_overflow=0)
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
        tops: list[float] = []
        ranks: list[float] = []
        now = datetime.now(UTC)
        async with engine.connect() as conn:
            for _ in range(reads):
                t0 = time.perf_counter()
                await leaderboard.top(conn, board=_BOARD, period=_PERIOD, limit=10)
                t1 = time.perf_counter()
                member = f"mem_bench_{random.randint(1, members)}"
                await leaderboard.rank_of(conn, board=_BOARD, period=_PERIOD, member_id=member)
                t2 = time.perf_counter()
                tops.append((t1 - t0) * 1000)
                ranks.append((t2 - t1) * 1000)
            await conn.rollback()
        print(f"top 10 of {members}: {_percentiles(tops)}")
        print(f"rank of one member:  {_percentiles(ranks)}  ({reads} reads, {now:%Y-%m-%d})")
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = os.environ.get("LOYALTY_DATABASE_URL")
        embedded = None
        if url is None:
            embedded = start_embedded(Path(folder) / "db")
            url = embedded.url
        try:
            asyncio.run(_run(url, args.members, args.reads))
        finally:
            if embedded is not None:
                embedded.stop()


if __name__ == "__main__":
    main()
