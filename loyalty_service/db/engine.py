"""The async engine (SQLAlchemy Core over asyncpg), and a bounded wait for the database at start."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any

from sqlalchemy import event, exc, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["CONNECT_TIMEOUT_SECONDS", "async_url", "create_engine", "wait_for_database"]

_log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 3.0
"""How long opening one database connection may take before the call answers UNAVAILABLE."""
PING_AFTER_IDLE_SECONDS = 1.0
"""A pooled connection idle longer than this is pinged before use (a restart may have dropped it)."""


def async_url(url: str) -> str:
    """postgresql://... as the asyncpg dialect's URL."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("not a PostgreSQL URL")


def _cancelling(driver: Any) -> bool:
    """Whether the asyncpg connection is still cancelling a statement of a cancelled call (asyncpg
    keeps no public flag for it: a pending cancel request, or the protocol waiting for its answer)."""
    protocol = getattr(driver, "_protocol", None)
    is_cancelling = getattr(protocol, "_is_cancelling", None)
    return bool(getattr(driver, "_cancellations", None)) or (is_cancelling is not None and is_cancelling())


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # checked out outside a running loop: there is no task to watch
        return None


def _user_was_cancelled(record: Any) -> bool:
    """Whether the task that checked the connection out is being cancelled. SQLAlchemy gives a
    connection back from a task of its own (`_run_to_completion`), so the user's task is the one
    recorded at checkout, not the current one."""
    user = record.info.pop("user_task", None)
    task = user() if user is not None else None
    return task is not None and (task.cancelled() or task.cancelling() > 0)


def _check_out_clean_connections(engine: AsyncEngine) -> None:
    """`pool_pre_ping`, but only for connections that sat idle: a ping is two round trips (BEGIN;
    ROLLBACK around `;`), a fifth of a purchase, and a connection that served a call a moment ago is
    alive. A failed ping discards the connection and the pool tries another (as pre-ping does); so do
    a connection still in a transaction and one a cancelled call gave back."""

    @event.listens_for(engine.sync_engine, "checkin")
    def checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()  # (dbapi_connection is None after an invalidation)
        if dbapi_connection is None:
            return
        if _user_was_cancelled(record) or _cancelling(dbapi_connection.driver_connection):
            # A call cancelled while it held the connection (a client hanging up on a stream, a
            # deadline) can leave the server inside a transaction that neither asyncpg's nor
            # SQLAlchemy's state shows: asyncpg prepares a statement with Parse, Describe and Flush,
            # no Sync, and a task cancelled after the prepare's answer but before its execute leaves
            # the implicit transaction (with its snapshot) open. The pool's reset does not end it and
            # the next user's BEGIN fails ("SET TRANSACTION ISOLATION LEVEL must be called before any
            # query"). Not worth a guess: discard the connection.
            record.info["cancelled_user"] = True

    @event.listens_for(engine.sync_engine, "checkout")
    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        if record.info.pop("cancelled_user", False) or _cancelling(driver):
            raise exc.DisconnectionError("a cancelled call gave this connection back")
        user = _current_task()
        record.info["user_task"] = weakref.ref(user) if user is not None else None
        if driver.is_in_transaction() or getattr(driver, "_top_xact", None) is not None:
            # A call cancelled while its transaction began can leave asyncpg's transaction behind,
            # unknown to SQLAlchemy, so the pool's reset did not end it; the next user's BEGIN would
            # fail as a nested transaction. Discard the connection.
            raise exc.DisconnectionError("a cancelled call left a transaction on this connection")
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # new, or just used
        try:
            dbapi_connection.ping()
        except Exception as error:  # any failure: let the pool open a fresh connection
            raise exc.DisconnectionError(str(error)) from error


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 5) -> AsyncEngine:
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=10,
        # Statement timeout keeps a stuck query from holding a member's row lock for ever; the connect
        # timeout makes a call fail fast with UNAVAILABLE while the database is unreachable (asyncpg's
        # default is 60 s, longer than any client deadline).
        connect_args={
            "server_settings": {"application_name": "loyalty-service", "statement_timeout": "30000"},
            "timeout": CONNECT_TIMEOUT_SECONDS,
        },
    )
    _check_out_clean_connections(engine)
    return engine


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
