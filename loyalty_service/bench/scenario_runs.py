"""`bench live` and `bench stats`: the single-figure scenarios, printed like the main table."""

from __future__ import annotations

import argparse
import sys

from loyalty_service.bench.options import core_count
from loyalty_service.bench.report import Report, render_json, render_table
from loyalty_service.bench.servers import group_commit_setting

__all__ = ["run_live", "run_stats"]


def _print(report: Report, *, as_json: bool) -> int:
    print(render_json(report) if as_json else render_table(report), flush=True)
    return 0


def run_live(args: argparse.Namespace) -> int:
    from loyalty_service.bench.live import LiveOptions, measure_live

    options = LiveOptions(
        streams=args.streams or (100 if args.quick else 1000),
        rate=args.rate or (50.0 if args.quick else 500.0),
        seconds=args.duration or (3.0 if args.quick else 10.0),
        database_url=args.database_url,
    )
    settings: dict[str, object] = {
        "scenario": "live",
        "streams": options.streams,
        "rate": options.rate,
        "seconds": options.seconds,
        "replicas": 2,
        "database_url": "given" if options.database_url else "embedded",
        "group_commit_transactions": group_commit_setting(),
    }
    report = Report(cores=core_count(), settings=settings)
    try:
        report.rows = [measure_live(options)]
    except Exception as error:
        print(f"loyalty-service bench live: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return _print(report, as_json=args.json)


def run_stats(args: argparse.Namespace) -> int:
    from loyalty_service.bench.program_stats import StatsOptions, measure_program_stats

    entries = args.entries or (50_000 if args.quick else 1_000_000)
    options = StatsOptions(
        entries=entries,
        members=args.members or max(1, entries // 10),
        database_url=args.database_url,
    )
    report = Report(
        cores=core_count(),
        settings={"scenario": "stats", "entries": entries, "members": options.members},
    )
    try:
        seeded, report.rows = measure_program_stats(options)
    except Exception as error:
        print(f"loyalty-service bench stats: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    report.settings["entries seeded"] = seeded
    return _print(report, as_json=args.json)
