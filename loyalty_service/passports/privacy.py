"""Passports in the member data export (GDPR access and portability): cycles, completions and stamps.

Registered with `members.export_registry` as "passports" when imported (by the servicer). No eraser: a
stamp holds when, which channel and store, and the reference of the event that earned it, nothing that
identifies the person (the erasure policy keeps such records under the member id).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables_games import passport_members, passport_stamps
from loyalty_service.members import export_registry

__all__ = ["export_member"]

_ROWS_MAX = 10_000


async def export_member(conn: AsyncConnection, member_id: str) -> object:
    async def rows(statement: Any) -> list[dict[str, object]]:
        return [dict(r._mapping) for r in (await conn.execute(statement.limit(_ROWS_MAX))).all()]

    progress = select(
        passport_members.c.passport_id, passport_members.c.cycle, passport_members.c.completions
    ).where(passport_members.c.member_id == member_id)
    stamps = select(
        passport_stamps.c.passport_id,
        passport_stamps.c.cycle,
        passport_stamps.c.stamp_id,
        passport_stamps.c.earned_at,
        passport_stamps.c.channel,
        passport_stamps.c.store_id,
        passport_stamps.c.source_type,
        passport_stamps.c.source_ref,
    ).where(passport_stamps.c.member_id == member_id)
    return {
        "passports": await rows(progress.order_by(passport_members.c.passport_id)),
        "stamps": await rows(
            stamps.order_by(
                passport_stamps.c.passport_id, passport_stamps.c.cycle, passport_stamps.c.earned_at
            )
        ),
    }


export_registry.register("passports", export=export_member)
