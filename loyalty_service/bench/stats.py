"""Latency percentiles and throughput, computed once in the parent from every generator's samples.

Nearest-rank percentiles on the merged raw samples, not averages of per-process percentiles (which
are not percentiles of anything).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["LatencySummary", "percentile", "summarize"]


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` in [0, 1]) of already sorted values; NaN when empty."""
    assert 0.0 <= fraction <= 1.0, fraction
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True)
class LatencySummary:
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def summarize(latencies_seconds: Iterable[float]) -> LatencySummary:
    ordered = sorted(latencies_seconds)
    if not ordered:
        return LatencySummary(count=0, p50_ms=math.nan, p99_ms=math.nan, max_ms=math.nan)
    return LatencySummary(
        count=len(ordered),
        p50_ms=percentile(ordered, 0.50) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        max_ms=ordered[-1] * 1000,
    )
