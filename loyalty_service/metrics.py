"""Prometheus metrics, scraped over HTTP. Names follow the Prometheus conventions (unit suffixes, `_total`
on counters); `tests/operations/test_metrics_names.py` checks them with promtool.

Business metrics (docs/operations.md lists every metric):
- `loyalty_points_total{entry_type, direction}`: points issued (direction="issued") and spent or removed
  (direction="spent") by the ledger, counted after the transaction commits;
- `loyalty_redemptions_total{channel}`: rewards redeemed for points;
- `loyalty_game_plays_total{outcome}`: games played (outcome "win" or "lose");
- `loyalty_checkins_refused_total{reason}`: challenge check-ins refused, by reason (UPPER_SNAKE).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = [
    "CALLS",
    "CHECKINS_REFUSED",
    "GROUP_CALLS",
    "GROUP_TRANSACTIONS",
    "LATENCY",
    "PLAYS",
    "POINTS",
    "REDEMPTIONS",
    "MetricsServer",
    "count_points",
    "observe_committed",
    "pending_points",
    "register_pool_collector",
    "serve_metrics",
]

CALLS = Counter(
    "loyalty_grpc_server_handled_total",
    "RPCs completed, by method and status code",
    ["grpc_method", "grpc_code"],
)
LATENCY = Histogram(
    "loyalty_grpc_server_handling_seconds",
    "RPC latency from the first byte to the answer, by method",
    ["grpc_method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
POINTS = Counter(
    "loyalty_points_total",
    "Points moved by committed ledger entries, by entry type and direction (issued or spent)",
    ["entry_type", "direction"],
)
REDEMPTIONS = Counter("loyalty_redemptions_total", "Rewards redeemed for points, by channel", ["channel"])
PLAYS = Counter("loyalty_game_plays_total", "Instant-win games played, by outcome (win or lose)", ["outcome"])
GROUP_TRANSACTIONS = Counter(
    "loyalty_group_commit_transactions",
    "Group-commit transactions written, by method (calls divided by this: the mean group size)",
    ["grpc_method"],
)
GROUP_CALLS = Counter(
    "loyalty_group_commit_calls", "Calls written by group commit, by method", ["grpc_method"]
)
CHECKINS_REFUSED = Counter(
    "loyalty_checkins_refused_total", "Challenge check-ins refused, by reason", ["reason"]
)

_PENDING_KEY = "loyalty_metrics_pending_points"


def pending_points(conn: AsyncConnection) -> list[tuple[str, int]]:
    """A fresh list of the points this transaction will have moved; `in_transaction` counts it on commit."""
    pending: list[tuple[str, int]] = []
    conn.info[_PENDING_KEY] = pending
    return pending


def count_points(conn: AsyncConnection, entry_type: str, points: int) -> None:
    """Note an entry of `conn`'s transaction; counted only if it commits (a retry does not count twice)."""
    pending = conn.info.get(_PENDING_KEY)
    if pending is not None:
        pending.append((entry_type, points))


def observe_committed(pending: list[tuple[str, int]]) -> None:
    for entry_type, points in pending:
        POINTS.labels(entry_type, "issued" if points > 0 else "spent").inc(abs(points))
    pending.clear()


class _PoolCollector(Collector):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self._engine.pool
        gauge = GaugeMetricFamily(
            "loyalty_db_pool_connections", "Database pool connections by state", labels=["state"]
        )
        checked_out = int(getattr(pool, "checkedout", lambda: 0)())
        idle = int(getattr(pool, "checkedin", lambda: 0)())
        gauge.add_metric(["checked_out"], checked_out)
        gauge.add_metric(["idle"], idle)
        yield gauge
        size = GaugeMetricFamily("loyalty_db_pool_size_connections", "Configured database pool size")
        size.add_metric([], int(getattr(pool, "size", lambda: 0)()))
        yield size


_pool_collector: _PoolCollector | None = None


def register_pool_collector(engine: AsyncEngine, registry: CollectorRegistry = REGISTRY) -> None:
    """Report the pool of `engine` (the latest one registered, if a process builds several servers)."""
    global _pool_collector
    if _pool_collector is not None:
        registry.unregister(_pool_collector)
    _pool_collector = _PoolCollector(engine)
    registry.register(_pool_collector)


class MetricsServer:
    """The scrape endpoint, served from a thread; `port` is the bound one (useful with 0)."""

    def __init__(self, host: str, port: int) -> None:
        self._server, self._thread = start_http_server(port, addr=host)
        self.port = int(self._server.server_port)

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(host: str, port: int) -> MetricsServer:
    return MetricsServer(host, port)
