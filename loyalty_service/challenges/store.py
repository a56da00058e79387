"""Places, challenges, check-ins and progress in PostgreSQL. Statements on a passed connection; never
commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.challenges.geo import BoundingBox
from loyalty_service.challenges.rules import ChallengeSpec, Grant, OpeningInterval, PlaceSpec
from loyalty_service.db.tables_challenges import (
    challenge_places,
    challenges,
    places,
)
from loyalty_service.kernel.ids import new_id

__all__ = [
    "NEARBY_ROWS_MAX",
    "ChallengeRow",
    "PlaceRow",
    "archive_place",
    "get_challenge",
    "get_place",
    "insert_challenge",
    "insert_place",
    "list_challenges",
    "list_places",
    "missing_places",
    "nearby",
    "update_challenge",
    "update_place",
]

NEARBY_ROWS_MAX = 5000
"""At most this many (place, challenge) rows per nearby query, before the exact distance filter."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceRow:
    place_id: str
    spec: PlaceSpec
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChallengeRow:
    challenge_id: str
    spec: ChallengeSpec
    created_at: datetime
    updated_at: datetime


def _place_values(spec: PlaceSpec) -> dict[str, object]:
    return {
        "name": spec.name,
        "lat": spec.lat,
        "lon": spec.lon,
        "radius_m": spec.radius_m,
        "store_id": spec.store_id,
        "time_zone": spec.time_zone,
        "opening_hours": [[h.day_of_week, h.opens_minute, h.closes_minute] for h in spec.opening_hours],
    }


def _place_row(row: Any) -> PlaceRow:
    hours = tuple(
        OpeningInterval(day_of_week=d, opens_minute=o, closes_minute=c) for d, o, c in row.opening_hours
    )
    spec = PlaceSpec(
        name=row.name,
        lat=row.lat,
        lon=row.lon,
        radius_m=row.radius_m,
        store_id=row.store_id,
        time_zone=row.time_zone,
        opening_hours=hours,
    )
    return PlaceRow(
        place_id=row.place_id,
        spec=spec,
        created_at=row.created_at,
        updated_at=row.updated_at,
        archived_at=row.archived_at,
    )


def _spec_json(spec: ChallengeSpec) -> dict[str, object]:
    return {
        "name": spec.name,
        "description": spec.description,
        "place_ids": list(spec.place_ids),
        "goal_places": spec.goal_places,
        "requires_purchase": spec.requires_purchase,
        "repeat_period_days": spec.repeat_period_days,
        "grant": {
            "points": spec.grant.points,
            "reward_id": spec.grant.reward_id,
            "stamp": spec.grant.stamp,
            "draw_id": spec.grant.draw_id,
        },
    }


def _challenge_row(row: Any) -> ChallengeRow:
    data = row.spec
    spec = ChallengeSpec(
        name=data["name"],
        description=data["description"],
        opens_at=row.opens_at,
        closes_at=row.closes_at,
        place_ids=tuple(data["place_ids"]),
        goal_places=data["goal_places"],
        requires_purchase=data["requires_purchase"],
        repeat_period_days=data["repeat_period_days"],
        grant=Grant(**data["grant"]),
    )
    return ChallengeRow(
        challenge_id=row.challenge_id, spec=spec, created_at=row.created_at, updated_at=row.updated_at
    )


async def insert_place(conn: AsyncConnection, *, spec: PlaceSpec, now: datetime) -> PlaceRow:
    values = {"place_id": new_id("plc"), **_place_values(spec), "created_at": now, "updated_at": now}
    row = (await conn.execute(insert(places).values(values).returning(places))).one()
    return _place_row(row)


async def update_place(
    conn: AsyncConnection, *, place_id: str, spec: PlaceSpec, now: datetime
) -> PlaceRow | None:
    statement = (
        update(places)
        .where(places.c.place_id == place_id)
        .values(**_place_values(spec), updated_at=now)
        .returning(places)
    )
    row = (await conn.execute(statement)).one_or_none()
    return None if row is None else _place_row(row)


async def archive_place(conn: AsyncConnection, *, place_id: str, now: datetime) -> PlaceRow | None:
    statement = (
        update(places)
        .where(places.c.place_id == place_id)
        .values(archived_at=func.coalesce(places.c.archived_at, now), updated_at=now)
        .returning(places)
    )
    row = (await conn.execute(statement)).one_or_none()
    return None if row is None else _place_row(row)


async def get_place(conn: AsyncConnection, place_id: str, *, lock: bool = False) -> PlaceRow | None:
    query = select(places).where(places.c.place_id == place_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else _place_row(row)


async def list_places(
    conn: AsyncConnection, *, after: str, limit: int, include_archived: bool
) -> list[PlaceRow]:
    statement = select(places).where(places.c.place_id > after).order_by(places.c.place_id).limit(limit)
    if not include_archived:
        statement = statement.where(places.c.archived_at.is_(None))
    return [_place_row(r) for r in (await conn.execute(statement)).all()]


async def missing_places(conn: AsyncConnection, place_ids: Sequence[str]) -> list[str]:
    """The ids among `place_ids` that name no place (or an archived one)."""
    statement = select(places.c.place_id).where(
        places.c.place_id.in_(place_ids), places.c.archived_at.is_(None)
    )
    found = set((await conn.execute(statement)).scalars().all())
    return [p for p in place_ids if p not in found]


async def _set_places(conn: AsyncConnection, challenge_id: str, place_ids: Sequence[str]) -> None:
    await conn.execute(delete(challenge_places).where(challenge_places.c.challenge_id == challenge_id))
    await conn.execute(
        insert(challenge_places), [{"challenge_id": challenge_id, "place_id": p} for p in place_ids]
    )


async def insert_challenge(conn: AsyncConnection, *, spec: ChallengeSpec, now: datetime) -> ChallengeRow:
    values = {
        "challenge_id": new_id("chl"),
        "spec": _spec_json(spec),
        "opens_at": spec.opens_at,
        "closes_at": spec.closes_at,
        "created_at": now,
        "updated_at": now,
    }
    row = (await conn.execute(insert(challenges).values(values).returning(challenges))).one()
    await _set_places(conn, row.challenge_id, spec.place_ids)
    return _challenge_row(row)


async def update_challenge(
    conn: AsyncConnection, *, challenge_id: str, spec: ChallengeSpec, now: datetime
) -> ChallengeRow:
    statement = (
        update(challenges)
        .where(challenges.c.challenge_id == challenge_id)
        .values(spec=_spec_json(spec), opens_at=spec.opens_at, closes_at=spec.closes_at, updated_at=now)
        .returning(challenges)
    )
    row = (await conn.execute(statement)).one()
    await _set_places(conn, challenge_id, spec.place_ids)
    return _challenge_row(row)


async def get_challenge(
    conn: AsyncConnection, challenge_id: str, *, lock: bool = False
) -> ChallengeRow | None:
    statement = select(challenges).where(challenges.c.challenge_id == challenge_id)
    if lock:
        statement = statement.with_for_update()
    row = (await conn.execute(statement)).one_or_none()
    return None if row is None else _challenge_row(row)


async def list_challenges(conn: AsyncConnection, *, open_at: datetime | None = None) -> list[ChallengeRow]:
    statement = select(challenges).order_by(challenges.c.opens_at.desc(), challenges.c.challenge_id)
    if open_at is not None:
        statement = statement.where(challenges.c.opens_at <= open_at, challenges.c.closes_at > open_at)
    return [_challenge_row(r) for r in (await conn.execute(statement)).all()]


async def nearby(
    conn: AsyncConnection, *, boxes: Iterable[BoundingBox], now: datetime
) -> list[tuple[PlaceRow, ChallengeRow]]:
    """(place, challenge) pairs of open challenges whose live place lies in one of the boxes.

    The boxes become latitude/longitude ranges on the (lat, lon) index; the caller filters by distance.
    """
    in_boxes = or_(
        *(
            and_(places.c.lat.between(b.lat_min, b.lat_max), places.c.lon.between(b.lon_min, b.lon_max))
            for b in boxes
        )
    )
    statement = (
        select(places, challenges.c.challenge_id.label("c_id"), challenges.c.spec.label("c_spec"))
        .add_columns(
            challenges.c.opens_at.label("c_opens_at"),
            challenges.c.closes_at.label("c_closes_at"),
            challenges.c.created_at.label("c_created_at"),
            challenges.c.updated_at.label("c_updated_at"),
        )
        .join(challenge_places, challenge_places.c.place_id == places.c.place_id)
        .join(challenges, challenges.c.challenge_id == challenge_places.c.challenge_id)
        .where(in_boxes, places.c.archived_at.is_(None))
        .where(challenges.c.opens_at <= now, challenges.c.closes_at > now)
        .limit(NEARBY_ROWS_MAX)
    )
    result = []
    parsed: dict[str, ChallengeRow] = {}
    for row in (await conn.execute(statement)).all():
        challenge = parsed.get(row.c_id)
        if challenge is None:
            fields = _Fields(
                row.c_id, row.c_spec, row.c_opens_at, row.c_closes_at, row.c_created_at, row.c_updated_at
            )
            challenge = parsed[row.c_id] = _challenge_row(fields)
        result.append((_place_row(row), challenge))
    return result


@dataclass(frozen=True, slots=True)
class _Fields:
    challenge_id: str
    spec: dict[str, Any]
    opens_at: datetime
    closes_at: datetime
    created_at: datetime
    updated_at: datetime
