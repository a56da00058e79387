"""Alembic migrations, run on the async engine through `connection.run_sync`.

An advisory lock makes concurrent starts of several replicas migrate one at a time. Features add their
own revisions on top of the core ones; `heads` applies every branch, so two features developed side by side
never fight over one linear chain (a merge revision joins them when convenient).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["MIGRATIONS", "current_revisions", "head_revisions", "migrate"]

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 7_313_001  # any constant shared by every replica


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    connection.execute(text("select pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
    command.upgrade(_config(connection), "heads")


async def migrate(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


def head_revisions() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(_config()).get_heads())


async def current_revisions(engine: AsyncEngine) -> frozenset[str]:
    from alembic.runtime.migration import MigrationContext

    def read(connection: Connection) -> frozenset[str]:
        return frozenset(MigrationContext.configure(connection).get_current_heads())

    async with engine.connect() as conn:
        return await conn.run_sync(read)
