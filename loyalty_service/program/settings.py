"""The programme's settings row (one per deployment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables import program_settings

__all__ = ["ProgramSettings", "read", "write"]


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


_COLUMNS = (
    program_settings.c.pending_days,
    program_settings.c.expiry_months,
    program_settings.c.offline_max_age_days,
    program_settings.c.rules_revision,
)


async def read(conn: AsyncConnection) -> ProgramSettings:
    row = (await conn.execute(select(*_COLUMNS).where(program_settings.c.settings_id == 1))).one()
    return ProgramSettings(*row)


async def write(
    conn: AsyncConnection, *, pending_days: int, expiry_months: int, offline_max_age_days: int, now: datetime
) -> ProgramSettings:
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
            .returning(*_COLUMNS)
        )
    ).one()
    return ProgramSettings(*row)
