"""`loyalty-service bench`: the service against pgbench on the same machine, in the same run.

See docs/performance.md for what each phase measures and why.
"""

from __future__ import annotations

import argparse

__all__ = ["run_from_arguments"]


def run_from_arguments(args: argparse.Namespace) -> int:
    from loyalty_service.bench.options import options_from_arguments

    if args.scenario == "live":
        from loyalty_service.bench.scenario_runs import run_live

        return run_live(args)
    if args.scenario == "stats":
        from loyalty_service.bench.scenario_runs import run_stats

        return run_stats(args)
    from loyalty_service.bench.runner import run

    return run(options_from_arguments(args))
