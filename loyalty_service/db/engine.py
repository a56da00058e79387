"""The async engine (SQLAlchemy Core over asyncpg), and a bounded wait for the database at start."""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["CONNECT_TIMEOUT_SECONDS", "async_url", "create_engine", "wait_for_database"]

_log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 3.0
"""How long opening one database connection may take before the call answers UNAVAILABLE."""


def async_url(url: str) -> str:
    """postgresql://... as the asyncpg dialect's URL."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("not a PostgreSQL URL")


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 5) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_timeout=10,
        # Statement timeout keeps a stuck query from holding a member's row lock for ever; the connect
        # timeout makes a call fail fast with UNAVAILABLE while the database is unreachable (asyncpg's
        # default is 60 s, longer than any client deadline).
        connect_args={
            "server_settings": {"application_name": "loyalty-service", "statement_timeout": "30000"},
            "timeout": CONNECT_TIMEOUT_SECONDS,
        },
    )


async def wait_for_database(engine: AsyncEngine, *, timeout_seconds: float) -> None:
    """Retry `select 1` until it works or the time is up (the database may start after us)."""
    deadline = time.monotonic() + timeout_seconds
    delay = 0.1
    while True:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("select 1"))
            return
        except Exception as error:  # any connection failure is retried until the deadline
            if time.monotonic() + delay > deadline:
                raise TimeoutError(f"database not reachable after {timeout_seconds:.0f}s: {error}") from error
            _log.warning("database not reachable yet (%s); retrying in %.1fs", type(error).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
