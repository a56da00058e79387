"""Journeys in PostgreSQL: Core statements on a passed connection; never commits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db import fast
from loyalty_service.db.tables import member_identifiers, members, purchases
from loyalty_service.db.tables_journeys import (
    journey_settings,
    pickups,
    referral_codes,
    referrals,
    rule_claims,
)

__all__ = [
    "JourneySettings",
    "PickupRow",
    "ReferralRow",
    "channels_before",
    "claim_rule",
    "claimed_rules",
    "code_holder",
    "code_of",
    "count_referrals_since",
    "due_pickups",
    "get_pickup",
    "identifiers_of",
    "insert_code",
    "insert_pickup",
    "insert_referral",
    "lock_code",
    "lock_referral",
    "member_status",
    "pickups_by_order",
    "read_settings",
    "recorded_channels",
    "update_pickup",
    "update_referral",
    "write_settings",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class JourneySettings:
    pickup_deadline_days: int
    """An uncollected click-and-collect order is cancelled this many days after it occurred."""
    pickup_bonus_points: int
    """Granted when a till confirms a pickup (0: none)."""
    referrer_bonus_points: int
    referee_bonus_points: int
    referrals_per_year_max: int
    """Referrals per referrer and calendar year that earn a bonus (0: no limit)."""


_SETTINGS = (
    journey_settings.c.pickup_deadline_days,
    journey_settings.c.pickup_bonus_points,
    journey_settings.c.referrer_bonus_points,
    journey_settings.c.referee_bonus_points,
    journey_settings.c.referrals_per_year_max,
)


async def read_settings(conn: AsyncConnection) -> JourneySettings:
    row = (await conn.execute(select(*_SETTINGS).where(journey_settings.c.settings_id == 1))).one()
    return JourneySettings(**row._mapping)


async def write_settings(conn: AsyncConnection, value: JourneySettings, *, now: datetime) -> JourneySettings:
    values = {column.name: getattr(value, column.name) for column in _SETTINGS}
    row = (
        await conn.execute(
            update(journey_settings)
            .where(journey_settings.c.settings_id == 1)
            .values(**values, updated_at=now)
            .returning(*_SETTINGS)
        )
    ).one()
    return JourneySettings(**row._mapping)


# --- pickups ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PickupRow:
    member_id: str
    purchase_id: str
    order_store_id: str
    order_id: str
    pickup_store_id: str
    lot_id: str | None
    points: int
    status: str
    deadline_at: datetime
    created_at: datetime
    collected_at: datetime | None
    collected_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    bonus_points: int
    bonus_entry_id: str | None


async def insert_pickup(conn: AsyncConnection, row: PickupRow) -> None:
    await conn.execute(insert(pickups).values(**{f: getattr(row, f) for f in PickupRow.__slots__}))


async def get_pickup(
    conn: AsyncConnection, *, member_id: str, purchase_id: str, lock: bool = False
) -> PickupRow | None:
    query = select(pickups).where(pickups.c.member_id == member_id, pickups.c.purchase_id == purchase_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else PickupRow(**row._mapping)


async def pickups_by_order(conn: AsyncConnection, order_id: str, *, limit: int) -> list[tuple[str, str]]:
    """(member_id, purchase_id) of the pickups of web-shop orders with this id, in any web-shop store."""
    rows = await conn.execute(
        select(pickups.c.member_id, pickups.c.purchase_id)
        .where(pickups.c.order_id == order_id)
        .order_by(pickups.c.member_id, pickups.c.purchase_id)
        .limit(limit)
    )
    return [(str(m), str(p)) for m, p in rows.all()]


async def update_pickup(conn: AsyncConnection, row: PickupRow, **values: Any) -> None:
    await conn.execute(
        update(pickups)
        .where(pickups.c.member_id == row.member_id, pickups.c.purchase_id == row.purchase_id)
        .values(**values)
    )


async def due_pickups(conn: AsyncConnection, *, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(member_id, purchase_id) of awaiting orders past their deadline, oldest deadline first."""
    rows = await conn.execute(
        select(pickups.c.member_id, pickups.c.purchase_id)
        .where(pickups.c.status == "awaiting", pickups.c.deadline_at <= now)
        .order_by(pickups.c.deadline_at, pickups.c.member_id, pickups.c.purchase_id)
        .limit(limit)
    )
    return [(str(m), str(p)) for m, p in rows.all()]


# --- channel history (omnichannel earning conditions) -------------------------------------------------


async def recorded_channels(conn: AsyncConnection, member_id: str) -> frozenset[str]:
    """Every channel the member has a recorded purchase in, whenever it occurred."""
    rows = await conn.execute(
        select(purchases.c.channel).where(purchases.c.member_id == member_id).distinct()
    )
    return frozenset(str(c) for c in rows.scalars())


async def channels_before(
    conn: AsyncConnection, member_id: str, *, before: datetime, since: datetime | None = None
) -> frozenset[str]:
    """Channels of the member's purchases that occurred in [since, before)."""
    query = select(purchases.c.channel).where(
        purchases.c.member_id == member_id, purchases.c.occurred_at < before
    )
    if since is not None:
        query = query.where(purchases.c.occurred_at >= since)
    rows = await conn.execute(query.distinct())
    return frozenset(str(c) for c in rows.scalars())


async def claimed_rules(
    conn: AsyncConnection, member_id: str, periods: Iterable[str]
) -> frozenset[tuple[str, str]]:
    """(rule_id, period) already paid to the member among `periods`."""
    rows = await conn.execute(
        select(rule_claims.c.rule_id, rule_claims.c.period).where(
            rule_claims.c.member_id == member_id, rule_claims.c.period.in_(sorted(set(periods)))
        )
    )
    return frozenset((str(r), str(p)) for r, p in rows.all())


async def claim_rule(
    conn: AsyncConnection, *, member_id: str, rule_id: str, period: str, purchase_id: str, now: datetime
) -> bool:
    inserted = await conn.execute(
        pg_insert(rule_claims)
        .values(member_id=member_id, rule_id=rule_id, period=period, purchase_id=purchase_id, claimed_at=now)
        .on_conflict_do_nothing()
        .returning(rule_claims.c.rule_id)
    )
    return inserted.first() is not None


# --- referral codes and referrals ---------------------------------------------------------------------


async def insert_code(conn: AsyncConnection, *, code: str, member_id: str, now: datetime) -> bool:
    """False if the code is taken (draw another)."""
    inserted = await conn.execute(
        pg_insert(referral_codes)
        .values(code=code, member_id=member_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["code"])
        .returning(referral_codes.c.code)
    )
    return inserted.first() is not None


async def code_of(conn: AsyncConnection, member_id: str) -> str | None:
    return (
        await conn.execute(select(referral_codes.c.code).where(referral_codes.c.member_id == member_id))
    ).scalar_one_or_none()


async def code_holder(conn: AsyncConnection, code: str) -> str | None:
    return (
        await conn.execute(select(referral_codes.c.member_id).where(referral_codes.c.code == code))
    ).scalar_one_or_none()


async def lock_code(conn: AsyncConnection, code: str) -> str | None:
    """The holder of `code`, locking the code row: referrals with one code are counted one at a time."""
    return (
        await conn.execute(
            select(referral_codes.c.member_id).where(referral_codes.c.code == code).with_for_update()
        )
    ).scalar_one_or_none()


async def member_status(conn: AsyncConnection, member_id: str) -> str | None:
    return (
        await conn.execute(select(members.c.status).where(members.c.member_id == member_id))
    ).scalar_one_or_none()


async def identifiers_of(conn: AsyncConnection, member_id: str) -> list[tuple[str, str]]:
    rows = await conn.execute(
        select(member_identifiers.c.kind, member_identifiers.c.value).where(
            member_identifiers.c.member_id == member_id
        )
    )
    return [(str(k), str(v)) for k, v in rows.all()]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferralRow:
    member_id: str
    referrer_id: str
    status: str
    enrolled_at: datetime
    rewarded_at: datetime | None
    purchase_id: str | None
    referrer_points: int
    referee_points: int
    referrer_entry_id: str | None
    referee_entry_id: str | None


async def insert_referral(
    conn: AsyncConnection, *, member_id: str, referrer_id: str, status: str, now: datetime
) -> None:
    await conn.execute(
        insert(referrals).values(member_id=member_id, referrer_id=referrer_id, status=status, enrolled_at=now)
    )


# On every purchase (the referee's first purchase pays): prepared text through `db.fast`.
_LOCK_REFERRAL = (
    f"select {', '.join(c.name for c in referrals.c)} from referrals where member_id = $1 for update"
)


async def lock_referral(conn: AsyncConnection, member_id: str, *, lock: bool = True) -> ReferralRow | None:
    if lock:
        found = await fast.fetchrow(conn, _LOCK_REFERRAL, member_id)
        return None if found is None else ReferralRow(**dict(found.items()))
    row = (await conn.execute(select(referrals).where(referrals.c.member_id == member_id))).one_or_none()
    return None if row is None else ReferralRow(**row._mapping)


async def update_referral(conn: AsyncConnection, member_id: str, **values: Any) -> None:
    await conn.execute(update(referrals).where(referrals.c.member_id == member_id).values(**values))


async def count_referrals_since(conn: AsyncConnection, referrer_id: str, since: datetime) -> int:
    """Referrals of `referrer_id` that count towards its limit (over-limit ones do not) since `since`."""
    return int(
        (
            await conn.execute(
                select(func.count()).where(
                    referrals.c.referrer_id == referrer_id,
                    referrals.c.enrolled_at >= since,
                    referrals.c.status != "over_limit",
                )
            )
        ).scalar_one()
    )


async def referrals_made(conn: AsyncConnection, referrer_id: str) -> list[ReferralRow]:
    rows = await conn.execute(
        select(referrals).where(referrals.c.referrer_id == referrer_id).order_by(referrals.c.enrolled_at)
    )
    return [ReferralRow(**row._mapping) for row in rows.all()]


async def pickups_of(conn: AsyncConnection, member_id: str) -> list[PickupRow]:
    rows = await conn.execute(
        select(pickups).where(pickups.c.member_id == member_id).order_by(pickups.c.created_at)
    )
    return [PickupRow(**row._mapping) for row in rows.all()]


async def claims_of(conn: AsyncConnection, member_id: str) -> list[dict[str, object]]:
    rows = await conn.execute(
        select(
            rule_claims.c.rule_id, rule_claims.c.period, rule_claims.c.purchase_id, rule_claims.c.claimed_at
        )
        .where(rule_claims.c.member_id == member_id)
        .order_by(rule_claims.c.claimed_at)
    )
    return [dict(row._mapping) for row in rows.all()]
