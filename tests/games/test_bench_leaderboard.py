"""The leaderboard benchmark runs, and its concurrent scoring loses no point (the numbers are the bench's)."""

from __future__ import annotations

import pytest

from loyalty_service.games import bench_leaderboard
from tests.support.database import TestDatabase


async def test_the_bench_runs_and_concurrent_scores_all_count(
    test_db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    """Goal: a small run of the bench reads a seeded board, then 4 writers score 300 points at once on a
    challenge board and every point is counted (the bench asserts the sum)."""
    url = await test_db.new_database()
    await bench_leaderboard._run(url, 2000, 5, 4, 300)
    printed = capsys.readouterr().out
    assert "top 10 of 2000" in printed
    assert "4 writers, 300 scores on 1000 members" in printed
    assert "none lost" in printed
