"""The programme's settings row (one per deployment)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.exc import NoResultFound
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db import fast
from loyalty_service.db.tables import program_settings

__all__ = ["ProgramSettings", "forget", "read", "write"]


@dataclass(frozen=True, slots=True)
class ProgramSettings:
    pending_days: int
    """Purchase points stay pending this many days (the return window)."""
    expiry_months: int
    """Points expire this many months after they were earned; 0 is off."""
    offline_max_age_days: int
    """Offline purchases older than this are refused."""
    rules_revision: int
    """Bumped by every earning-rule change."""
    draws_revision: int
    """Bumped by every change of a draw's window or sources (program/revisions.py)."""
    token_rules_revision: int
    """Bumped by every play-token rule change."""
    ladders_revision: int
    """Bumped by every tier ladder version: 0 while the programme has no tiers."""
    database: str
    """The database's name: with a revision, the key of what a process caches (tests run many)."""


_COLUMNS = (
    program_settings.c.pending_days,
    program_settings.c.expiry_months,
    program_settings.c.offline_max_age_days,
    program_settings.c.rules_revision,
    program_settings.c.draws_revision,
    program_settings.c.token_rules_revision,
    program_settings.c.ladders_revision,
)
_SELECTED = f"{', '.join(c.name for c in _COLUMNS)}, current_database()"


_READ = f"select {_SELECTED} from program_settings where settings_id = 1"


_read_in: ContextVar[tuple[object, ProgramSettings] | None] = ContextVar("program_settings", default=None)
"""The settings read last in this task, and the transaction they were read in: the purchases of an
offline batch share one transaction and read the settings once. Writes in the transaction forget it."""


async def read(conn: AsyncConnection) -> ProgramSettings:
    """Read on every purchase: prepared text through `db.fast`, once per transaction."""
    transaction = await fast.transaction_of(conn)
    memo = _read_in.get()
    if memo is not None and memo[0] is transaction:
        return memo[1]
    row = await fast.fetchrow(conn, _READ)
    if row is None:
        raise NoResultFound("no programme settings row")
    settings = ProgramSettings(*row)
    _read_in.set((transaction, settings))
    return settings


def forget() -> None:
    """The settings row is being changed in this task's transaction: read it again next time."""
    _read_in.set(None)


async def write(
    conn: AsyncConnection, *, pending_days: int, expiry_months: int, offline_max_age_days: int, now: datetime
) -> ProgramSettings:
    forget()
    row = (
        await conn.execute(
            update(program_settings)
            .where(program_settings.c.settings_id == 1)
            .values(
                pending_days=pending_days,
                expiry_months=expiry_months,
                offline_max_age_days=offline_max_age_days,
                updated_at=now,
            )
            .returning(*_COLUMNS, func.current_database())
        )
    ).one()
    return ProgramSettings(*row)
