"""Prometheus metrics, scraped over HTTP. Names follow the Prometheus conventions (unit suffixes)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["CALLS", "LATENCY", "POINTS", "MetricsServer", "register_pool_collector", "serve_metrics"]

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
POINTS = Counter("loyalty_points_total", "Points moved by the ledger, by entry type", ["entry_type"])


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
