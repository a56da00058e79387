"""Status tiers in PostgreSQL: ladder versions, each member's status, history and contributions.

Core statements on the caller's connection; never commits. A member's tier rows are written only while
the member's ledger account row is locked (purchases, refunds, the review, merges), so they need no lock
of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db import fast
from loyalty_service.db.tables_tiers import tier_contributions, tier_history, tier_ladders, tier_status
from loyalty_service.program import revisions
from loyalty_service.tiers.domain import (
    Basis,
    Change,
    Contribution,
    Ladder,
    LadderVersion,
    Reason,
    Status,
    Tier,
    WindowKind,
)

__all__ = [
    "Head",
    "StoredLadder",
    "add_contribution",
    "contribution_insert",
    "contributions_since",
    "due_members",
    "erase_member",
    "export_member",
    "head",
    "insert_change",
    "insert_ladder",
    "ladder_from_json",
    "ladder_json",
    "latest_change",
    "load_ladders",
    "load_status",
    "lock_ladders",
    "move_member",
    "qualifying_sum",
    "reduce_contribution",
    "save_status",
    "tier_held_at",
]

_LADDER_LOCK = 7_007_001
"""pg_advisory_xact_lock key serialising ladder changes (two versions never take one number)."""


@dataclass(frozen=True, slots=True)
class StoredLadder:
    version: LadderVersion
    created_at: datetime


def ladder_json(ladder: Ladder) -> dict[str, Any]:
    return {
        "basis": ladder.basis.value,
        "window_kind": ladder.window_kind.value,
        "window_months": ladder.window_months,
        "currency": ladder.currency,
        "tiers": [
            {
                "tier_id": t.tier_id,
                "name": t.name,
                "threshold": t.threshold,
                "multiplier": str(t.multiplier),
                "reserved_reward_ids": sorted(t.reserved_reward_ids),
            }
            for t in ladder.tiers
        ],
    }


def ladder_from_json(data: dict[str, Any]) -> Ladder:
    return Ladder(
        basis=Basis(data["basis"]),
        window_kind=WindowKind(data["window_kind"]),
        window_months=int(data["window_months"]),
        currency=data.get("currency"),
        tiers=tuple(
            Tier(
                tier_id=t["tier_id"],
                name=t["name"],
                threshold=int(t["threshold"]),
                multiplier=Fraction(t["multiplier"]),
                reserved_reward_ids=frozenset(t["reserved_reward_ids"]),
            )
            for t in data["tiers"]
        ),
    )


async def lock_ladders(conn: AsyncConnection) -> None:
    await conn.execute(select(func.pg_advisory_xact_lock(_LADDER_LOCK)))


async def load_ladders(conn: AsyncConnection) -> list[StoredLadder]:
    """Every version, oldest first."""
    rows = await conn.execute(select(tier_ladders).order_by(tier_ladders.c.version))
    return [
        StoredLadder(
            LadderVersion(m["version"], m["effective_from"], ladder_from_json(m["spec"])), m["created_at"]
        )
        for m in (row._mapping for row in rows)
    ]


async def insert_ladder(
    conn: AsyncConnection, version: LadderVersion, *, created_by: str, now: datetime
) -> StoredLadder:
    await conn.execute(
        insert(tier_ladders).values(
            version=version.version,
            effective_from=version.effective_from,
            spec=ladder_json(version.ladder),
            created_by=created_by,
            created_at=now,
        )
    )
    await revisions.bump(conn, "ladders_revision", now=now)  # purchases skip tiers while it is 0
    return StoredLadder(version, now)


@dataclass(frozen=True, slots=True)
class Head:
    """What a purchase needs first, in one round trip."""

    ladder_key: tuple[str, int, datetime] | None
    """(database, latest version, its created_at): versions are append-only, so this names the whole set;
    None while no ladder was ever set."""
    status: tuple[Status, int] | None
    held_tier_id: str | None
    """The tier of the latest change effective at or before the asked time (None: the base tier)."""


# Read on every purchase: prepared text through `db.fast` (docs/decisions/0011-hot-path-sql.md).
_HEAD = (
    "select current_database() as db, l.version, l.created_at, s.tier_id, s.held_until, s.change_seq, "
    "(select h.tier_id from tier_history h where h.member_id = $1 and h.effective_at <= $2 "
    "order by h.seq desc limit 1) as held_tier_id "
    "from (select 1) as one "
    "left join lateral (select version, created_at from tier_ladders order by version desc limit 1) l "
    "on true "
    "left join tier_status s on s.member_id = $1"
)


async def head(conn: AsyncConnection, member_id: str, *, at: datetime) -> Head:
    row = await fast.fetchrow(conn, _HEAD, member_id, at)
    return Head(
        ladder_key=None
        if row["version"] is None
        else (str(row["db"]), int(row["version"]), row["created_at"]),
        status=(
            None
            if row["tier_id"] is None
            else (Status(row["tier_id"], row["held_until"]), int(row["change_seq"]))
        ),
        held_tier_id=row["held_tier_id"],
    )


async def load_status(conn: AsyncConnection, member_id: str) -> tuple[Status, int] | None:
    """The member's status and latest change number; None while the member never had a tier row."""
    row = (
        await conn.execute(
            select(tier_status.c.tier_id, tier_status.c.held_until, tier_status.c.change_seq).where(
                tier_status.c.member_id == member_id
            )
        )
    ).one_or_none()
    return None if row is None else (Status(row.tier_id, row.held_until), int(row.change_seq))


async def save_status(
    conn: AsyncConnection, *, member_id: str, status: Status, change_seq: int, now: datetime
) -> None:
    values = {"tier_id": status.tier_id, "held_until": status.held_until, "change_seq": change_seq}
    await conn.execute(
        pg_insert(tier_status)
        .values(member_id=member_id, updated_at=now, **values)
        .on_conflict_do_update(index_elements=[tier_status.c.member_id], set_={**values, "updated_at": now})
    )


async def insert_change(
    conn: AsyncConnection, *, member_id: str, seq: int, change: Change, now: datetime
) -> None:
    await conn.execute(
        insert(tier_history).values(
            member_id=member_id,
            seq=seq,
            from_tier_id=change.from_tier_id,
            tier_id=change.to_tier_id,
            reason=change.reason.value,
            effective_at=change.effective_at,
            held_until=change.held_until,
            previous_held_until=change.previous_held_until,
            qualifying_value=change.qualifying_value,
            purchase_id=change.purchase_id,
            recorded_at=now,
        )
    )


def _change(m: Any) -> Change:
    return Change(
        from_tier_id=m["from_tier_id"],
        to_tier_id=m["tier_id"],
        reason=Reason(m["reason"]),
        effective_at=m["effective_at"],
        held_until=m["held_until"],
        qualifying_value=m["qualifying_value"],
        previous_held_until=m["previous_held_until"],
        purchase_id=m["purchase_id"],
    )


async def latest_change(conn: AsyncConnection, member_id: str) -> Change | None:
    row = (
        await conn.execute(
            select(tier_history)
            .where(tier_history.c.member_id == member_id)
            .order_by(tier_history.c.seq.desc())
            .limit(1)
        )
    ).one_or_none()
    return None if row is None else _change(row._mapping)


async def tier_held_at(conn: AsyncConnection, member_id: str, at: datetime) -> str | None:
    """The tier of the latest change effective at or before `at`; None: none (the base tier)."""
    row = (
        await conn.execute(
            select(tier_history.c.tier_id)
            .where(tier_history.c.member_id == member_id, tier_history.c.effective_at <= at)
            .order_by(tier_history.c.seq.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return None if row is None else str(row)


def contribution_insert(*, member_id: str, contribution: Contribution) -> fast.Write:
    """The insert of a purchase's contribution (on every purchase: prepared text through `db.fast`)."""
    return fast.insert_write(
        tier_contributions,
        {
            "member_id": member_id,
            "purchase_id": contribution.purchase_id,
            "occurred_at": contribution.occurred_at,
            "points": contribution.points,
            "points_earned": contribution.points,
            "spend_minor": contribution.spend_minor,
            "amount_minor": contribution.spend_minor,
            "currency": contribution.currency,
        },
    )


async def add_contribution(conn: AsyncConnection, write: fast.Write, *, member_id: str) -> None:
    """Send a `contribution_insert` (the same transaction's next read of the window's value sees it)."""
    await fast.send(conn, write, key=member_id)


async def reduce_contribution(
    conn: AsyncConnection, *, member_id: str, purchase_id: str, refunded_minor: int
) -> bool:
    """Set a purchase's contribution to what is left after `refunded_minor` (its refunds in total):
    spend net of refunds, points in the same proportion (rounded down); False if it has none."""
    c = tier_contributions.c
    left = func.greatest(0, c.amount_minor - refunded_minor)
    result = await conn.execute(
        update(tier_contributions)
        .where(c.member_id == member_id, c.purchase_id == purchase_id)
        .values(
            spend_minor=left,
            points=func.coalesce(c.points_earned * left / func.nullif(c.amount_minor, 0), 0),
        )
    )
    return bool(result.rowcount)


async def contributions_since(conn: AsyncConnection, member_id: str, since: datetime) -> list[Contribution]:
    rows = await conn.execute(
        select(tier_contributions)
        .where(tier_contributions.c.member_id == member_id, tier_contributions.c.occurred_at > since)
        .order_by(tier_contributions.c.occurred_at)
    )
    return [
        Contribution(m["purchase_id"], m["occurred_at"], m["points"], m["spend_minor"], m["currency"])
        for m in (row._mapping for row in rows)
    ]


async def qualifying_sum(
    conn: AsyncConnection, member_id: str, ladder: Ladder, *, start: datetime, at: datetime
) -> int:
    """`domain.qualifying_value` summed in the database (the hot path reads one row, not the window)."""
    c = tier_contributions.c
    after_start = (
        c.occurred_at >= start if ladder.window_kind is WindowKind.CALENDAR_YEAR else c.occurred_at > start
    )
    conditions = [c.member_id == member_id, after_start, c.occurred_at <= at]
    if ladder.basis is Basis.POINTS:
        total = func.sum(c.points)
    else:
        total, conditions = func.sum(c.spend_minor), [*conditions, c.currency == ladder.currency]
    value = (await conn.execute(select(func.coalesce(total, 0)).where(*conditions))).scalar_one()
    return max(0, int(value))


async def due_members(conn: AsyncConnection, *, now: datetime, after: str, limit: int) -> list[str]:
    rows = await conn.execute(
        select(tier_status.c.member_id)
        .where(tier_status.c.held_until <= now, tier_status.c.member_id > after)
        .order_by(tier_status.c.member_id)
        .limit(limit)
    )
    return [str(member_id) for member_id in rows.scalars()]


async def export_member(conn: AsyncConnection, member_id: str) -> dict[str, object]:
    status = await load_status(conn, member_id)
    history = await conn.execute(
        select(tier_history).where(tier_history.c.member_id == member_id).order_by(tier_history.c.seq)
    )
    contributions = await contributions_since(conn, member_id, datetime(1970, 1, 1, tzinfo=UTC))
    return {
        "status": None
        if status is None
        else {"tier_id": status[0].tier_id, "held_until": status[0].held_until},
        "history": [
            {k: m[k] for k in ("seq", "from_tier_id", "tier_id", "reason", "effective_at", "held_until")}
            | {"qualifying_value": m["qualifying_value"], "purchase_id": m["purchase_id"]}
            for m in (row._mapping for row in history)
        ],
        "contributions": [
            {
                "purchase_id": c.purchase_id,
                "occurred_at": c.occurred_at,
                "points": c.points,
                "spend_minor": c.spend_minor,
                "currency": c.currency,
            }
            for c in contributions
        ],
    }


async def erase_member(conn: AsyncConnection, member_id: str) -> None:
    """An erased member holds no tier: status, history and contributions go (amounts live in the ledger)."""
    for table in (tier_contributions, tier_history, tier_status):
        await conn.execute(delete(table).where(table.c.member_id == member_id))


async def move_member(conn: AsyncConnection, *, source: str, target: str) -> int:
    """Re-home the source's contributions onto the target (a merged card); returns how many moved."""
    result = await conn.execute(
        text(
            "UPDATE tier_contributions SET member_id = :target WHERE member_id = :source "
            "AND purchase_id NOT IN (SELECT purchase_id FROM tier_contributions WHERE member_id = :target)"
        ),
        {"source": source, "target": target},
    )
    return int(result.rowcount)
