"""Shared fixtures: one PostgreSQL per session, real gRPC servers on loopback ports.

- `test_db`: the session's PostgreSQL with a migrated template; `await test_db.new_database()` clones it.
- `service`: one server for the whole session (system clock) on its own database.
- `isolated_service`: a server on a fresh database with a FixedClock, for tests that change
  programme-wide state (settings, earning rules) or move time.
- `server_processes(n)`: n servers as OS processes on one fresh database (replicas).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from loyalty_service.app import start_service
from loyalty_service.config import Settings
from loyalty_service.kernel.clock import FixedClock
from tests.support.api import Running
from tests.support.database import TestDatabase
from tests.support.processes import TEST_SIGNING_KEY, ServerProcess, start_server_process

os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/loyalty-runtime-{os.getuid()}")
os.makedirs(os.environ["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)


@pytest.fixture(scope="session")
def test_db() -> Iterator[TestDatabase]:
    database = TestDatabase()
    yield database
    database.close()


def test_settings(url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=url,
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_port=0,
        migrate_on_start=False,
        token_signing_key=TEST_SIGNING_KEY,  # type: ignore[arg-type]
        data_dir=data_dir,
        grace_seconds=1.0,
        maintenance_interval_seconds=3600,
        db_pool_size=5,
    )


async def _running(url: str, data_dir: Path, clock: FixedClock | None) -> Running:
    service = await start_service(
        test_settings(url, data_dir), serve_metrics=False, now=clock.now if clock else None
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    return Running(service=service, channel=channel, clock=clock, url=url)


@pytest.fixture(scope="session")
async def service(test_db: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    url = await test_db.new_database()
    running = await _running(url, tmp_path_factory.mktemp("service"), None)
    yield running
    await running.channel.close()
    await running.service.stop(0)


@pytest.fixture
async def isolated_service(test_db: TestDatabase, tmp_path: Path) -> AsyncIterator[Running]:
    url = await test_db.new_database()
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    running = await _running(url, tmp_path, clock)
    yield running
    await running.channel.close()
    await running.service.stop(0)


@pytest.fixture
async def server_processes(
    test_db: TestDatabase, tmp_path: Path
) -> AsyncIterator[Callable[[int], Awaitable[tuple[str, list[ServerProcess]]]]]:
    started: list[ServerProcess] = []

    async def start(count: int) -> tuple[str, list[ServerProcess]]:
        url = await test_db.new_database()
        servers = [start_server_process(url, tmp_path) for _ in range(count)]
        started.extend(servers)
        return url, servers

    yield start
    for server in started:
        server.terminate()
