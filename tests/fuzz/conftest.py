"""One in-process server for the fuzz tests, on its own event loop in a thread, so hypothesis (synchronous)
can drive it through a blocking channel while the server keeps answering.

Hypothesis profiles: `ci` (default; enough examples for 10 000 requests per RPC family) and `dev`
(a quick tenth of that). Choose with LOYALTY_FUZZ_PROFILE.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import text

from loyalty_service.app import Service, start_service
from tests.support.database import TestDatabase

T = TypeVar("T")

_COMMON = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
    "print_blob": True,
}
settings.register_profile("fuzz-ci", max_examples=250, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("fuzz-dev", max_examples=25, **_COMMON)  # type: ignore[arg-type]
# Applied to the fuzz tests only (not loaded globally: the other property tests keep their own settings).
FUZZ_SETTINGS = settings.get_profile("fuzz-" + os.environ.get("LOYALTY_FUZZ_PROFILE", "ci"))


@dataclass
class FuzzServer:
    service: Service
    loop: asyncio.AbstractEventLoop
    channel: grpc.Channel
    tables: list[str]

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def row_counts(self) -> dict[str, int]:
        """Rows in every table of the database (one round trip)."""

        async def count() -> dict[str, int]:
            selects = ", ".join(f'(select count(*) from "{name}")' for name in self.tables)
            async with self.service.engine.connect() as conn:
                row = (await conn.execute(text(f"select {selects}"))).one()
            return dict(zip(self.tables, (int(v) for v in row), strict=True))

        return self.run(count())


async def _tables(service: Service) -> list[str]:
    async with service.engine.connect() as conn:
        rows = await conn.execute(
            text("select tablename from pg_tables where schemaname = 'public' order by tablename")
        )
        return [name for (name,) in rows if name != "alembic_version"]


@pytest.fixture(scope="module")
def fuzz_server(test_db: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    from tests.conftest import test_settings

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzz-server", daemon=True)
    thread.start()

    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(60)

    url = run(test_db.new_database())
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    service = run(start_service(test_settings(url, data_dir), serve_metrics=False))
    channel = grpc.insecure_channel(f"127.0.0.1:{service.port}")
    try:
        yield FuzzServer(service=service, loop=loop, channel=channel, tables=run(_tables(service)))
    finally:
        channel.close()
        run(service.stop(0))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
