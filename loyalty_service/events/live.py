"""The live-events runtime of one process: the hub, the local streams' positions, bounded reads, pruning.

Built and started by `app.start_service`, stopped by `Service.stop`: streams are told to end first (they
answer UNAVAILABLE, and clients resume on another replica with their last sequence), then the hub closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_service.db.transaction import in_transaction
from loyalty_service.errors import ResourceExhausted, Unavailable
from loyalty_service.events.hub import EventHub
from loyalty_service.events.retention import Positions, prune
from loyalty_service.runtime import Runtime

__all__ = ["LiveEvents", "listen_dsn"]

T = TypeVar("T")
_log = logging.getLogger(__name__)
_PRUNE_BATCH = 5_000
_PRUNE_BATCHES_PER_RUN = 200


def listen_dsn(engine: AsyncEngine) -> str:
    """The engine's URL as a plain libpq DSN for asyncpg (the hub's one listening connection)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class LiveEvents:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.hub = EventHub(
            listen_dsn(runtime.engine),
            poll_seconds=settings.watch_reread_seconds,
            inbox_limit=settings.watch_batch_size,
        )
        self.positions = Positions()
        self.streams = 0
        self._reads = asyncio.Semaphore(runtime.settings.watch_read_concurrency)
        self._closing = False
        self._prune_task: asyncio.Task[None] | None = None

    @property
    def closing(self) -> bool:
        return self._closing

    async def start(self) -> None:
        await self.hub.start()
        self._prune_task = asyncio.create_task(self._prune_loop(), name="events-prune")

    def end_streams(self) -> None:
        """Make every stream end (UNAVAILABLE: resume elsewhere); new ones are refused."""
        self._closing = True
        self.hub.wake_all()

    async def stop(self) -> None:
        self.end_streams()
        if self._prune_task is not None:
            self._prune_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prune_task
        await self.hub.stop()

    @contextlib.contextmanager
    def open_stream(self) -> Iterator[None]:
        """Count a stream for its lifetime; refuse one beyond `watch_max_streams` or while stopping."""
        if self._closing:
            raise Unavailable("the server is stopping; connect to another replica")
        if self.streams >= self.runtime.settings.watch_max_streams:
            raise ResourceExhausted(
                "too many live streams on this server", retry_after_seconds=5.0, reason="TOO_MANY_STREAMS"
            )
        self.streams += 1
        try:
            yield
        finally:
            self.streams -= 1

    async def read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run a read on a pooled connection, at most `watch_read_concurrency` at once."""
        async with self._reads, self.runtime.engine.connect() as conn:
            return await work(conn)

    async def prune_once(self) -> int:
        """Delete old events below every local stream's position; returns how many."""
        settings = self.runtime.settings
        retention = timedelta(days=settings.events_retention_days)
        total = 0
        for _ in range(_PRUNE_BATCHES_PER_RUN):

            async def batch(conn: AsyncConnection) -> int:
                return await prune(
                    conn,
                    now=self.runtime.now(),
                    retention=retention,
                    below_event_id=self.positions.low_watermark(),
                    limit=_PRUNE_BATCH,
                )

            deleted = await in_transaction(self.runtime.engine, batch)
            total += deleted
            if deleted < _PRUNE_BATCH:
                break
        return total

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(self.runtime.settings.events_prune_interval_seconds)
            try:
                pruned = await self.prune_once()
                if pruned:
                    _log.info("outbox pruned", extra={"fields": {"events": pruned}})
            except Exception:
                _log.exception("outbox pruning failed")
