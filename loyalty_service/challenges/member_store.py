"""The member-scoped rows of challenges: check-ins, attempts, the last position and progress.

Statements on a passed connection; never commits. Every statement names `member_id` (Citus).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.challenges.checkin import PreviousCheckIn
from loyalty_service.db.tables_challenges import (
    challenge_progress,
    checkin_attempts,
    checkin_positions,
    checkins,
)
from loyalty_service.kernel.ids import new_id

__all__ = [
    "ProgressRow",
    "count_attempts_since",
    "erase_member",
    "export_member",
    "insert_attempt",
    "insert_checkin",
    "last_position",
    "progress_rows",
    "purge_before",
    "save_position",
    "upsert_progress",
    "visited_places",
]

_EXPORT_ROWS_MAX = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgressRow:
    challenge_id: str
    period: int
    visited: int
    completed_at: datetime | None
    completion: dict[str, Any] | None


async def count_attempts_since(conn: AsyncConnection, member_id: str, since: datetime) -> int:
    statement = select(func.count()).where(
        checkin_attempts.c.member_id == member_id, checkin_attempts.c.attempted_at > since
    )
    return int((await conn.execute(statement)).scalar_one())


async def insert_attempt(
    conn: AsyncConnection, *, member_id: str, place_id: str, outcome: str, now: datetime
) -> None:
    values = {
        "member_id": member_id,
        "attempt_id": new_id("cka"),
        "attempted_at": now,
        "place_id": place_id,
        "outcome": outcome,
    }
    await conn.execute(insert(checkin_attempts).values(values))


async def last_position(conn: AsyncConnection, member_id: str, *, since: datetime) -> PreviousCheckIn | None:
    """The last accepted position if younger than the retention (`since`)."""
    statement = select(checkin_positions).where(
        checkin_positions.c.member_id == member_id, checkin_positions.c.checked_in_at >= since
    )
    row = (await conn.execute(statement)).one_or_none()
    return None if row is None else PreviousCheckIn(lat=row.lat, lon=row.lon, at=row.checked_in_at)


async def save_position(
    conn: AsyncConnection, *, member_id: str, lat: float, lon: float, now: datetime
) -> None:
    statement = pg_insert(checkin_positions).values(member_id=member_id, lat=lat, lon=lon, checked_in_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[checkin_positions.c.member_id],
        set_={"lat": lat, "lon": lon, "checked_in_at": now},
    )
    await conn.execute(statement)


async def purge_before(
    conn: AsyncConnection, *, positions_before: datetime, attempts_before: datetime
) -> int:
    """Delete last positions older than the retention and attempts no rate limit needs; returns rows."""
    gone = await conn.execute(
        delete(checkin_positions).where(checkin_positions.c.checked_in_at < positions_before)
    )
    old = await conn.execute(
        delete(checkin_attempts).where(checkin_attempts.c.attempted_at < attempts_before)
    )
    return int(gone.rowcount) + int(old.rowcount)


async def insert_checkin(
    conn: AsyncConnection,
    *,
    member_id: str,
    challenge_id: str,
    period: int,
    place_id: str,
    distance_band: str,
    accuracy_band: str,
    now: datetime,
) -> str | None:
    """The new check-in's id, or None if the member already checked in there this period."""
    checkin_id = new_id("cki")
    statement = (
        pg_insert(checkins)
        .values(
            member_id=member_id,
            checkin_id=checkin_id,
            challenge_id=challenge_id,
            period=period,
            place_id=place_id,
            distance_band=distance_band,
            accuracy_band=accuracy_band,
            checked_in_at=now,
        )
        .on_conflict_do_nothing()
        .returning(checkins.c.checkin_id)
    )
    inserted: str | None = (await conn.execute(statement)).scalar_one_or_none()
    return inserted


async def visited_places(
    conn: AsyncConnection, member_id: str, keys: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], list[str]]:
    """Places checked in, by (challenge_id, period)."""
    result: dict[tuple[str, int], list[str]] = {key: [] for key in keys}
    if not keys:
        return result
    statement = select(checkins.c.challenge_id, checkins.c.period, checkins.c.place_id).where(
        checkins.c.member_id == member_id,
        checkins.c.challenge_id.in_({c for c, _ in keys}),
    )
    for challenge_id, period, place_id in (await conn.execute(statement)).all():
        if (challenge_id, period) in result:
            result[(challenge_id, period)].append(place_id)
    return result


async def progress_rows(
    conn: AsyncConnection, member_id: str, keys: Sequence[tuple[str, int]], *, lock: bool = False
) -> dict[tuple[str, int], ProgressRow]:
    if not keys:
        return {}
    statement = select(challenge_progress).where(
        challenge_progress.c.member_id == member_id,
        challenge_progress.c.challenge_id.in_({c for c, _ in keys}),
    )
    if lock:
        statement = statement.with_for_update()
    rows = {}
    for row in (await conn.execute(statement)).all():
        if (row.challenge_id, row.period) in keys:
            rows[(row.challenge_id, row.period)] = ProgressRow(
                challenge_id=row.challenge_id,
                period=row.period,
                visited=row.visited,
                completed_at=row.completed_at,
                completion=row.completion,
            )
    return rows


async def upsert_progress(
    conn: AsyncConnection,
    *,
    member_id: str,
    challenge_id: str,
    period: int,
    visited: int,
    completed_at: datetime | None,
    completion: dict[str, object] | None,
    now: datetime,
) -> None:
    values = {"visited": visited, "completed_at": completed_at, "completion": completion, "updated_at": now}
    statement = pg_insert(challenge_progress).values(
        member_id=member_id,
        challenge_id=challenge_id,
        period=period,
        completed=completed_at is not None,
        **values,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[
            challenge_progress.c.member_id,
            challenge_progress.c.challenge_id,
            challenge_progress.c.period,
        ],
        set_={**values, "completed": completed_at is not None},
    )
    await conn.execute(statement)


async def export_member(conn: AsyncConnection, member_id: str) -> dict[str, object]:
    """The member's check-ins (place and bands, never a position), attempts, progress and last position."""

    async def rows(table: Any, order: Any) -> list[dict[str, object]]:
        statement = (
            select(table).where(table.c.member_id == member_id).order_by(order).limit(_EXPORT_ROWS_MAX)
        )
        return [dict(r._mapping) for r in (await conn.execute(statement)).all()]

    return {
        "checkins": await rows(checkins, checkins.c.checked_in_at),
        "checkin_attempts": await rows(checkin_attempts, checkin_attempts.c.attempted_at),
        "progress": await rows(challenge_progress, challenge_progress.c.challenge_id),
        "last_position": await rows(checkin_positions, checkin_positions.c.checked_in_at),
    }


async def erase_member(conn: AsyncConnection, member_id: str) -> None:
    """Where and when the member was: check-ins, attempts and the last position go; progress stays."""
    for table in (checkins, checkin_attempts, checkin_positions):
        await conn.execute(delete(table).where(table.c.member_id == member_id))
