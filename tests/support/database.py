"""The test PostgreSQL: embedded (once per session) or the one named by LOYALTY_TEST_DATABASE_URL.

Each test session migrates a template database once; `new_database()` clones it in a fraction of a
second, so a test that needs a programme of its own gets a fresh, migrated database.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from loyalty_service.db.embedded import EmbeddedPostgres, start_embedded
from loyalty_service.db.engine import create_engine
from loyalty_service.db.migrate import migrate

__all__ = ["TestDatabase"]


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _asyncpg_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class TestDatabase:
    """A server, a migrated template and the databases cloned from it during the session."""

    __test__ = False

    def __init__(self) -> None:
        self._embedded: EmbeddedPostgres | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        given = os.environ.get("LOYALTY_TEST_DATABASE_URL")
        if given:
            self.server_url = given
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="loyalty-test-pg-")
            self._embedded = start_embedded(Path(self._tmp.name), cleanup_mode="delete")
            self.server_url = self._embedded.url
        self.prefix = f"loyalty_test_{secrets.token_hex(3)}"
        self.template = f"{self.prefix}_template"
        self.created: list[str] = []
        asyncio.run(self._make_template())

    @property
    def embedded(self) -> EmbeddedPostgres | None:
        return self._embedded

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(_asyncpg_url(self.server_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def _make_template(self) -> None:
        await self._admin(f'create database "{self.template}"')
        engine = create_engine(_with_database(self.server_url, self.template), pool_size=1, max_overflow=0)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    async def new_database(self) -> str:
        """A fresh, migrated database; returns its URL."""
        name = f"{self.prefix}_{len(self.created)}"
        await self._admin(f'create database "{name}" template "{self.template}"')
        self.created.append(name)
        return _with_database(self.server_url, name)

    def close(self) -> None:
        async def drop_all() -> None:
            for name in [*self.created, self.template]:
                await self._admin(f'drop database if exists "{name}" with (force)')

        if self._embedded is None:
            asyncio.run(drop_all())
        else:
            self._embedded.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
