"""Statements of passports: the catalogue, members' cycles, stamps, the processor's cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables_games import passport_cursors, passport_members, passport_stamps, passports
from loyalty_service.events import retention

__all__ = [
    "complete_cycle",
    "get_passport",
    "insert_stamp",
    "list_passports",
    "lock_cursor",
    "lock_member",
    "member_state",
    "save_passport",
    "stamped_by",
    "stamps_of",
    "update_cursor",
]


async def save_passport(
    conn: AsyncConnection,
    *,
    passport_id: str,
    spec: dict[str, Any],
    opens_at: datetime,
    closes_at: datetime | None,
    now: datetime,
    created: bool,
) -> Any:
    values = {"spec": spec, "opens_at": opens_at, "closes_at": closes_at, "updated_at": now}
    if created:
        statement: Any = insert(passports).values(passport_id=passport_id, created_at=now, **values)
    else:
        statement = update(passports).where(passports.c.passport_id == passport_id).values(**values)
    return (await conn.execute(statement.returning(*passports.c))).one_or_none()


async def get_passport(conn: AsyncConnection, passport_id: str, *, lock: bool = False) -> Any:
    query = select(passports).where(passports.c.passport_id == passport_id)
    if lock:
        query = query.with_for_update()
    return (await conn.execute(query)).one_or_none()


async def list_passports(conn: AsyncConnection, *, open_at: datetime | None = None) -> list[Any]:
    query = select(passports).order_by(passports.c.passport_id)
    if open_at is not None:
        query = query.where(
            passports.c.opens_at <= open_at,
            passports.c.closes_at.is_(None) | (passports.c.closes_at > open_at),
        )
    return list(await conn.execute(query.limit(500)))


async def lock_member(
    conn: AsyncConnection, *, member_id: str, passport_id: str, now: datetime
) -> tuple[int, int]:
    """The member's (cycle, completions) of the passport, row-locked (created at cycle 1)."""
    await conn.execute(
        insert(passport_members)
        .values(member_id=member_id, passport_id=passport_id, cycle=1, completions=0, updated_at=now)
        .on_conflict_do_nothing()
    )
    row = (
        await conn.execute(
            select(passport_members.c.cycle, passport_members.c.completions)
            .where(passport_members.c.member_id == member_id, passport_members.c.passport_id == passport_id)
            .with_for_update()
        )
    ).one()
    return int(row.cycle), int(row.completions)


async def member_state(conn: AsyncConnection, *, member_id: str, passport_id: str) -> tuple[int, int]:
    row = (
        await conn.execute(
            select(passport_members.c.cycle, passport_members.c.completions).where(
                passport_members.c.member_id == member_id, passport_members.c.passport_id == passport_id
            )
        )
    ).one_or_none()
    return (1, 0) if row is None else (int(row.cycle), int(row.completions))


async def complete_cycle(
    conn: AsyncConnection, *, member_id: str, passport_id: str, next_cycle: int, now: datetime
) -> None:
    await conn.execute(
        update(passport_members)
        .where(passport_members.c.member_id == member_id, passport_members.c.passport_id == passport_id)
        .values(cycle=next_cycle, completions=passport_members.c.completions + 1, updated_at=now)
    )


async def insert_stamp(conn: AsyncConnection, **values: Any) -> bool:
    """True when the stamp is new; the primary key makes a second award of it a no-op."""
    inserted = await conn.execute(
        insert(passport_stamps)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(passport_stamps.c.stamp_id)
    )
    return inserted.first() is not None


async def stamped_by(
    conn: AsyncConnection,
    *,
    member_id: str,
    passport_id: str,
    stamp_id: str,
    source_type: str,
    source_ref: str,
) -> bool:
    """Whether this source already earned this stamp, in any cycle (a primary-key prefix scan)."""
    found = await conn.execute(
        select(passport_stamps.c.cycle)
        .where(
            passport_stamps.c.member_id == member_id,
            passport_stamps.c.passport_id == passport_id,
            passport_stamps.c.stamp_id == stamp_id,
            passport_stamps.c.source_type == source_type,
            passport_stamps.c.source_ref == source_ref,
        )
        .limit(1)
    )
    return found.first() is not None


async def stamps_of(conn: AsyncConnection, *, member_id: str, passport_id: str, cycle: int) -> list[Any]:
    return list(
        await conn.execute(
            select(passport_stamps).where(
                passport_stamps.c.member_id == member_id,
                passport_stamps.c.passport_id == passport_id,
                passport_stamps.c.cycle == cycle,
            )
        )
    )


# Pruning keeps every event after the slowest stamp-processor cursor (a stopped processor resumes later).
retention.register_durable_consumer("passport stamps", "select min(position) + 1 from passport_cursors")


async def lock_cursor(conn: AsyncConnection, name: str, *, start: int, now: datetime) -> Any:
    """The cursor row locked for this batch, or None when another replica holds it right now."""
    await conn.execute(
        insert(passport_cursors).values(name=name, position=start, updated_at=now).on_conflict_do_nothing()
    )
    return (
        await conn.execute(
            select(passport_cursors).where(passport_cursors.c.name == name).with_for_update(skip_locked=True)
        )
    ).one_or_none()


async def update_cursor(
    conn: AsyncConnection, name: str, *, position: int, gap_horizon: int | None, now: datetime
) -> None:
    await conn.execute(
        update(passport_cursors)
        .where(passport_cursors.c.name == name)
        .values(position=position, gap_horizon=gap_horizon, updated_at=now)
    )
