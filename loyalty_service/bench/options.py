"""The settings of one `loyalty-service bench` run, from its command line.

Kept free of heavy imports: the CLI builds this parser on every start.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass

from loyalty_service.supervisor import core_count

__all__ = ["BenchOptions", "add_arguments", "core_count", "options_from_arguments"]

CLIENTS_MAX = 256
DURATION_SECONDS_MAX = 120.0
LOAD_PROCESSES_MAX = 16


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    quick: bool
    """CI smoke mode: fewer members, short phases, under a minute in all."""
    json: bool
    """Print the results as one JSON document instead of a table."""
    workers: int
    """Server processes (`serve --workers`); the issue's default is the core count."""
    clients: int
    """Requests in flight in the closed-loop scenarios, and pgbench's `-c`/`-j`."""
    database_url: str | None
    """An existing database; unset starts an embedded PostgreSQL in a temporary folder."""
    duration_seconds: float
    """Length of each measured phase (pgbench, earn, hot, offline, mixed)."""
    members: int
    """Members seeded, each with an account and a card."""
    load_processes: int
    """Load-generator processes; each runs its share of the clients on its own channels."""
    watch_streams: int
    """WatchMember streams held open for the memory figure."""
    pgbench_scale: int
    """`pgbench -i -s`: 10 as in the issue."""
    offline_batch_size: int
    """Purchases per SyncOfflinePurchases call: 1000 (the API's maximum) as in the issue; 100 in quick
    mode, so that the last batch, which always runs to its end, cannot stretch a CI run."""
    mixed_rate: float | None = None
    """The mixed phase's requests per second; unset, half the rate the earn phase measured. A fixed rate
    compares two trees (or settings) at the same load, which half of each one's own peak does not."""

    def settings(self) -> dict[str, object]:
        """What the report prints beside the figures."""
        shown = asdict(self)
        shown.pop("json")
        shown["database_url"] = "given" if self.database_url else "embedded"
        return shown


def _positive_int(limit: int) -> type[int]:
    def parse(text: str) -> int:
        value = int(text)
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"must be between 1 and {limit}")
        return value

    return parse  # type: ignore[return-value]


def _duration(text: str) -> float:
    value = float(text)
    if not 0.2 <= value <= DURATION_SECONDS_MAX:
        raise argparse.ArgumentTypeError(f"must be between 0.2 and {DURATION_SECONDS_MAX:.0f} seconds")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError("must be between 1 and 10000 per second")
    return value


def _workers(text: str) -> int:
    if text.strip().lower() in ("0", "auto"):
        return core_count()
    return _positive_int(64)(text)


SCENARIOS = ("service", "live", "stats")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario",
        nargs="?",
        choices=SCENARIOS,
        default="service",
        help="service: the issue-12 table against pgbench (default); live: purchase-to-event latency "
        "across two replicas; stats: GetProgramStats on a million ledger entries",
    )
    parser.add_argument("--quick", action="store_true", help="CI smoke run: small and under a minute")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--workers", type=_workers, help="server processes; 0/auto = core count (default)")
    parser.add_argument(
        "--clients", type=_positive_int(CLIENTS_MAX), help="concurrency (default 16, quick 8)"
    )
    parser.add_argument("--database-url", help="use this database instead of an embedded one")
    parser.add_argument("--duration", type=_duration, help="seconds per phase (default 20, quick 2.5)")
    parser.add_argument("--members", type=_positive_int(1_000_000), help="default 100000, quick 10000")
    parser.add_argument(
        "--load-processes", type=_positive_int(LOAD_PROCESSES_MAX), help="load generators (default 2)"
    )
    parser.add_argument("--watch-streams", type=_positive_int(10_000), help="default 1000, quick 100")
    parser.add_argument(
        "--streams", type=_positive_int(10_000), help="live: WatchMember streams (default 1000, quick 100)"
    )
    parser.add_argument("--rate", type=_rate, help="live: purchases per second (default 500, quick 50)")
    parser.add_argument(
        "--mixed-rate", type=_rate, help="mixed: requests per second (default half the measured earn rate)"
    )
    parser.add_argument(
        "--entries", type=_positive_int(10_000_000), help="stats: ledger entries (default 1e6, quick 50000)"
    )


def options_from_arguments(args: argparse.Namespace) -> BenchOptions:
    """Fill what was not given from the quick or the full profile."""
    quick = bool(args.quick)
    clients = args.clients or (8 if quick else 16)
    load_processes = min(args.load_processes or 2, clients)
    return BenchOptions(
        quick=quick,
        json=bool(args.json),
        workers=args.workers or core_count(),
        clients=clients,
        database_url=args.database_url,
        duration_seconds=args.duration or (2.5 if quick else 20.0),
        members=args.members or (10_000 if quick else 100_000),
        load_processes=load_processes,
        watch_streams=args.watch_streams or (100 if quick else 1000),
        pgbench_scale=10,
        offline_batch_size=100 if quick else 1000,
        mixed_rate=args.mixed_rate,
    )
