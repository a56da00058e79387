"""One transaction per request, retried on serialisation failures and deadlocks.

Driver errors become ours here: a lost connection is `Unavailable` (the caller retries with the same
idempotency key); a serialisation failure or deadlock is retried a bounded number of times.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_service import metrics
from loyalty_service.db import fast
from loyalty_service.errors import Unavailable

__all__ = ["RETRYABLE_SQLSTATES", "as_unavailable", "in_transaction", "sqlstate"]

T = TypeVar("T")

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
_CONNECTION_SQLSTATES_PREFIXES = ("08", "57P")  # connection exception, operator intervention (shutdown)
_ATTEMPTS = 8


def sqlstate(error: BaseException) -> str | None:
    orig = getattr(error, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None), error):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def _is_connection_error(error: DBAPIError) -> bool:
    if error.connection_invalidated or isinstance(error, InterfaceError):
        return True
    state = sqlstate(error)
    if state is not None:
        return state.startswith(_CONNECTION_SQLSTATES_PREFIXES)
    return isinstance(error, OperationalError)


def as_unavailable(error: BaseException) -> Unavailable | None:
    """The Unavailable that a lost or refused database connection means; None for other errors."""
    if (isinstance(error, DBAPIError) and _is_connection_error(error)) or isinstance(
        error, OSError | ConnectionError
    ):
        return Unavailable("the database is not reachable; retry with the same idempotency key")
    return None


async def in_transaction(engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `work` in a new transaction; commit if it returns, roll back if it raises."""
    for attempt in range(_ATTEMPTS):
        try:
            async with engine.begin() as conn:
                pending = metrics.pending_points(conn)
                try:
                    result = await work(conn)
                    await fast.flush(conn)  # writes a batch kept (fast.defer_writes) go before the commit
                finally:
                    fast.forget_deferred(conn)
            metrics.observe_committed(pending)  # the commit succeeded
            return result
        except DBAPIError as error:
            if sqlstate(error) in RETRYABLE_SQLSTATES and attempt + 1 < _ATTEMPTS:
                await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
                continue
            unavailable = as_unavailable(error)
            if unavailable is not None:
                raise unavailable from error
            raise
        except (OSError, ConnectionError) as error:
            raise Unavailable("the database is not reachable; retry with the same idempotency key") from error
    raise AssertionError("unreachable")
