"""The bench harness: its pure parts as unit tests, and one tiny end-to-end smoke run.

Goal: `loyalty-service bench --quick` (which CI runs) keeps working and keeps printing every row.
No test here asserts a speed: timings come from `bench`, not from test asserts.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys

import pytest

from loyalty_service.bench.generators import merge, split
from loyalty_service.bench.load import LoadResult
from loyalty_service.bench.options import add_arguments, options_from_arguments
from loyalty_service.bench.programme import card_number, member_id
from loyalty_service.bench.report import ROW_NAMES, Report, Row, ordered, render_json, render_table
from loyalty_service.bench.stats import percentile, summarize
from loyalty_service.supervisor import core_count


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile(values, 0.0) == 1.0
    assert percentile([7.0], 0.99) == 7.0
    assert math.isnan(percentile([], 0.5))


def test_percentile_refuses_a_fraction_outside_zero_to_one() -> None:
    with pytest.raises(AssertionError):
        percentile([1.0], 1.5)


def test_summary_is_in_milliseconds_and_handles_no_samples() -> None:
    summary = summarize([0.003, 0.001, 0.002, 0.100])
    assert (summary.count, summary.p50_ms, summary.p99_ms, summary.max_ms) == (4, 2.0, 100.0, 100.0)
    empty = summarize([])
    assert empty.count == 0
    assert math.isnan(empty.p99_ms)


def test_split_spreads_evenly_and_never_makes_empty_parts() -> None:
    assert split(8, 2) == [4, 4]
    assert split(9, 2) == [5, 4]
    assert split(1, 4) == [1]
    assert sum(split(17, 5)) == 17


def test_merge_adds_counts_and_keeps_every_latency() -> None:
    first = LoadResult(
        ok=2, items=2, errors={"UNAVAILABLE": 1}, latencies_seconds=[0.1, 0.2], elapsed_seconds=1.0
    )
    second = LoadResult(
        ok=1, items=1, errors={"UNAVAILABLE": 2}, latencies_seconds=[0.3], elapsed_seconds=2.0
    )
    merged = merge([first, second])
    assert (merged.ok, merged.items, merged.errors) == (3, 3, {"UNAVAILABLE": 3})
    assert sorted(merged.latencies_seconds) == [0.1, 0.2, 0.3]
    assert merged.elapsed_seconds == 2.0


def test_quick_and_full_profiles() -> None:
    quick = options_from_arguments(_parse("--quick"))
    assert (quick.members, quick.clients, quick.workers) == (10_000, 8, core_count())
    full = options_from_arguments(_parse("--clients", "32", "--workers", "3", "--duration", "5"))
    assert (full.members, full.clients, full.workers, full.duration_seconds) == (100_000, 32, 3, 5.0)
    assert full.offline_batch_size == 1000
    assert options_from_arguments(_parse("--workers", "auto")).workers == core_count()
    assert full.settings()["database_url"] == "embedded"
    assert full.mixed_rate is None  # half of the measured earn rate
    assert options_from_arguments(_parse("--mixed-rate", "250")).mixed_rate == 250.0


@pytest.mark.parametrize(
    "argv", [["--duration", "0"], ["--duration", "9999"], ["--clients", "0"], ["--workers", "x"]]
)
def test_out_of_range_arguments_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse(*argv)
    assert "error" in capsys.readouterr().err


def test_seeded_names_follow_the_id_and_card_formats() -> None:
    assert re.fullmatch(r"mem_[0-9A-HJKMNP-TV-Z]{26}", member_id(99_999))
    assert member_id(1) != member_id(2)
    assert re.fullmatch(r"[0-9A-Z]{6,32}", card_number(0))


def test_table_has_every_row_and_target_even_when_scenarios_did_not_run() -> None:
    rows = ordered(
        [Row(name="earn (uniform)", value=1234.5, unit="req/s", p50_ms=3.2, p99_ms=9.87, ratio=0.5)]
    )
    report = Report(cores=2, settings={"quick": True}, rows=rows)
    table = render_table(report)
    for name in ROW_NAMES:
        assert name in table
    assert "1,234 req/s" in table
    assert "3.2 / 9.9" in table
    assert "cores=2" in table
    assert table.count("not run") == len(ROW_NAMES) - 1


def test_json_is_valid_and_has_no_nan() -> None:
    report = Report(cores=2, settings={}, rows=[Row(name="memory at peak", value=math.nan)])
    document = json.loads(render_json(report))
    assert document["rows"][0]["value"] is None
    assert document["cores"] == 2


@pytest.mark.slow
def test_quick_bench_prints_every_row() -> None:
    """One tiny end-to-end run: own embedded database, two workers, every phase, the table printed.

    It keeps the system temporary folder: as root, the embedded server runs as its own user, which
    cannot enter pytest's private tmp_path.
    """
    argv = ["--quick", "--duration", "0.5", "--members", "500", "--watch-streams", "10", "--clients", "4"]
    done = subprocess.run(
        [sys.executable, "-m", "loyalty_service", "bench", *argv],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ROW_NAMES:
        assert name in done.stdout, done.stdout
    assert "pgbench TPC-B" in done.stdout
    assert "cores=" in done.stdout
