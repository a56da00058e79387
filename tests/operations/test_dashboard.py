"""The Grafana dashboard only queries metrics the service exports (a renamed metric breaks this test)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from loyalty_service import metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "loyalty.json"
_NAME = re.compile(r"\bloyalty_[a-z0-9_]+")
_POOL_GAUGES = frozenset({"loyalty_db_pool_connections", "loyalty_db_pool_size_connections"})


def exported_names() -> set[str]:
    """Every series name the service's metrics produce (counters' _total, histograms' _bucket, ...)."""
    names = set(_POOL_GAUGES)
    for metric in (
        metrics.CALLS,
        metrics.LATENCY,
        metrics.POINTS,
        metrics.REDEMPTIONS,
        metrics.PLAYS,
        metrics.CHECKINS_REFUSED,
    ):
        for family in metric.describe():
            names.update(
                {
                    family.name,
                    f"{family.name}_total",
                    f"{family.name}_bucket",
                    f"{family.name}_count",
                    f"{family.name}_sum",
                }
            )
    return names


def test_every_expression_references_an_exported_metric() -> None:
    """Goal: the dashboard loads, has the four views asked for, and every expr names real metrics."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert exprs
    known = exported_names()
    for expr in exprs:
        used = set(_NAME.findall(expr))
        assert used, f"no loyalty metric in {expr!r}"
        assert used <= known, f"{expr!r} uses unknown {sorted(used - known)}"
    joined = " ".join(exprs)
    for needed in (
        "loyalty_grpc_server_handled_total",
        "histogram_quantile(0.99",
        "loyalty_db_pool_connections",
        "loyalty_points_total",
    ):
        assert needed in joined
