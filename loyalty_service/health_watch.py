"""Health follows the database: NOT_SERVING while it is unreachable, SERVING again when it answers.

A load balancer then stops sending calls to a replica that can only answer UNAVAILABLE, and sends them
again within one interval of the database's return, without a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from grpc_health.v1 import health, health_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["INTERVAL_SECONDS", "database_reachable", "watch_database"]

_log = logging.getLogger(__name__)

INTERVAL_SECONDS = 2.0
"""Time between two pings of the database."""
PING_TIMEOUT_SECONDS = 3.0
"""A ping slower than this counts as unreachable."""

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def database_reachable(engine: AsyncEngine, *, timeout_seconds: float = PING_TIMEOUT_SECONDS) -> bool:
    """True iff `select 1` succeeds within the timeout."""

    async def ping() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("select 1"))

    try:
        await asyncio.wait_for(ping(), timeout_seconds)
    except Exception:  # any failure (refused, reset, timeout) means "not reachable now"
        return False
    return True


async def watch_database(
    engine: AsyncEngine,
    servicer: health.aio.HealthServicer,
    services: Iterable[str],
    *,
    interval_seconds: float = INTERVAL_SECONDS,
) -> None:
    """Ping for ever (until cancelled) and set every service's status when reachability changes."""
    names = tuple(services)
    serving = True
    while True:
        await asyncio.sleep(interval_seconds)
        reachable = await database_reachable(engine)
        if reachable == serving:
            continue
        serving = reachable
        _log.warning("database %s", "reachable again: SERVING" if serving else "unreachable: NOT_SERVING")
        for name in names:
            await servicer.set(name, _SERVING if serving else _NOT_SERVING)
