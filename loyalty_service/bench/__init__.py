"""`loyalty-service bench`: the service against pgbench on the same machine, in the same run.

See docs/performance.md for what each phase measures and why.
"""

from __future__ import annotations

import argparse

__all__ = ["run_from_arguments"]


def run_from_arguments(args: argparse.Namespace) -> int:
    from loyalty_service.bench.options import options_from_arguments
    from loyalty_service.bench.runner import run

    return run(options_from_arguments(args))
