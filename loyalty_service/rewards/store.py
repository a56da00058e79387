"""Rewards and vouchers as Core statements on the caller's connection; never commits.

Lock order of every voucher change: the member's ledger head (`ledger.api.lock_ledger` / the Book),
then the voucher row, then the reward row (stock). Stock moves only through conditional updates, so
it can never go below zero whatever runs at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables_rewards import rewards, voucher_codes, vouchers

__all__ = [
    "RewardRow",
    "VoucherRow",
    "claim_code",
    "count_held",
    "count_vouchers_by_state",
    "due_for_expiry",
    "get_reward",
    "insert_reward",
    "insert_voucher",
    "list_rewards",
    "list_vouchers",
    "lock_voucher",
    "member_of_code",
    "move_member_vouchers",
    "put_stock_back",
    "save_voucher",
    "take_stock",
    "update_reward",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class RewardRow:
    reward_id: str
    name: str
    description: str
    points_cost: int
    channels: list[str]
    store_ids: list[str]
    stock_total: int | None
    stock_remaining: int | None
    per_member_limit: int
    visible_from: datetime | None
    visible_until: datetime | None
    voucher_valid_days: int
    value_kind: str
    amount_minor: int | None
    currency: str | None
    percent_off_bp: int | None
    product_sku: str | None
    game_id: str | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class VoucherRow:
    member_id: str
    voucher_id: str
    code: str
    reward_id: str
    state: str
    points_charged: int
    redeem_entry_id: str
    source_type: str
    source_ref: str
    credential_id: str
    issued_at: datetime
    valid_until: datetime
    used_at: datetime | None = None
    used_store_id: str = ""
    used_channel: str = ""
    used_order_id: str = ""
    closed_at: datetime | None = None


_REWARD_COLUMNS = [rewards.c[f.name] for f in fields(RewardRow)]
_VOUCHER_COLUMNS = [vouchers.c[f.name] for f in fields(VoucherRow)]


def _reward(row: Any) -> RewardRow:
    return RewardRow(**dict(row._mapping))


def _voucher(row: Any) -> VoucherRow:
    return VoucherRow(**dict(row._mapping))


def _values(row: object) -> dict[str, Any]:
    return {f.name: getattr(row, f.name) for f in fields(row)}  # type: ignore[arg-type]


# --- rewards ---------------------------------------------------------------------------------------


async def insert_reward(conn: AsyncConnection, reward: RewardRow) -> None:
    await conn.execute(insert(rewards).values(**_values(reward)))


async def update_reward(conn: AsyncConnection, reward: RewardRow) -> None:
    values = _values(reward)
    del values["reward_id"], values["created_at"]
    await conn.execute(update(rewards).where(rewards.c.reward_id == reward.reward_id).values(**values))


async def get_reward(conn: AsyncConnection, reward_id: str, *, lock: bool = False) -> RewardRow | None:
    statement = select(*_REWARD_COLUMNS).where(rewards.c.reward_id == reward_id)
    if lock:
        statement = statement.with_for_update()
    row = (await conn.execute(statement)).one_or_none()
    return None if row is None else _reward(row)


async def list_rewards(conn: AsyncConnection, *, include_archived: bool) -> list[RewardRow]:
    statement = select(*_REWARD_COLUMNS).order_by(rewards.c.reward_id)
    if not include_archived:
        statement = statement.where(rewards.c.archived_at.is_(None))
    return [_reward(row) for row in await conn.execute(statement)]


async def take_stock(conn: AsyncConnection, reward_id: str) -> bool:
    """One unit, if any is left (unlimited stock always has one). Never below zero, however many race."""
    taken = await conn.execute(
        update(rewards)
        .where(
            rewards.c.reward_id == reward_id,
            rewards.c.stock_remaining.is_not(None),
            rewards.c.stock_remaining > 0,
        )
        .values(stock_remaining=rewards.c.stock_remaining - 1)
        .returning(rewards.c.reward_id)
    )
    if taken.one_or_none() is not None:
        return True
    unlimited = await conn.execute(
        select(rewards.c.reward_id).where(
            rewards.c.reward_id == reward_id, rewards.c.stock_remaining.is_(None)
        )
    )
    return unlimited.one_or_none() is not None


async def put_stock_back(conn: AsyncConnection, reward_id: str) -> None:
    await conn.execute(
        update(rewards)
        .where(rewards.c.reward_id == reward_id, rewards.c.stock_remaining.is_not(None))
        .values(stock_remaining=rewards.c.stock_remaining + 1)
    )


# --- vouchers --------------------------------------------------------------------------------------


async def claim_code(conn: AsyncConnection, *, code: str, member_id: str, voucher_id: str) -> bool:
    """Reserve a fresh code; False if (against all odds) another voucher has it."""
    inserted = await conn.execute(
        pg_insert(voucher_codes)
        .values(code=code, member_id=member_id, voucher_id=voucher_id)
        .on_conflict_do_nothing(index_elements=[voucher_codes.c.code])
        .returning(voucher_codes.c.code)
    )
    return inserted.one_or_none() is not None


async def insert_voucher(conn: AsyncConnection, voucher: VoucherRow) -> None:
    await conn.execute(insert(vouchers).values(**_values(voucher)))


async def member_of_code(conn: AsyncConnection, code: str) -> tuple[str, str] | None:
    """(member_id, voucher_id) of a canonical code."""
    row = (
        await conn.execute(
            select(voucher_codes.c.member_id, voucher_codes.c.voucher_id).where(voucher_codes.c.code == code)
        )
    ).one_or_none()
    return None if row is None else (str(row[0]), str(row[1]))


async def move_member_vouchers(conn: AsyncConnection, *, source: str, target: str) -> int:
    """Re-home every voucher of `source` (and its code) onto `target` (a merge); returns how many."""
    moved = await conn.execute(
        update(vouchers).where(vouchers.c.member_id == source).values(member_id=target)
    )
    await conn.execute(
        update(voucher_codes).where(voucher_codes.c.member_id == source).values(member_id=target)
    )
    return int(moved.rowcount)


async def lock_voucher(
    conn: AsyncConnection, *, member_id: str, voucher_id: str, lock: bool = True
) -> VoucherRow | None:
    statement = select(*_VOUCHER_COLUMNS).where(
        vouchers.c.member_id == member_id, vouchers.c.voucher_id == voucher_id
    )
    if lock:
        statement = statement.with_for_update()
    row = (await conn.execute(statement)).one_or_none()
    return None if row is None else _voucher(row)


async def save_voucher(conn: AsyncConnection, voucher: VoucherRow) -> None:
    values = _values(voucher)
    await conn.execute(
        update(vouchers)
        .where(vouchers.c.member_id == voucher.member_id, vouchers.c.voucher_id == voucher.voucher_id)
        .values(**values)
    )


async def count_held(conn: AsyncConnection, *, member_id: str, reward_ids: Sequence[str]) -> dict[str, int]:
    """Vouchers (not cancelled) the member holds, per reward."""
    rows = await conn.execute(
        select(vouchers.c.reward_id, func.count())
        .where(
            vouchers.c.member_id == member_id,
            vouchers.c.reward_id.in_(list(reward_ids)),
            vouchers.c.state != "cancelled",
        )
        .group_by(vouchers.c.reward_id)
    )
    return {str(reward_id): int(count) for reward_id, count in rows}


async def list_vouchers(conn: AsyncConnection, *, member_id: str, state: str | None) -> list[VoucherRow]:
    statement = select(*_VOUCHER_COLUMNS).where(vouchers.c.member_id == member_id)
    if state is not None:
        statement = statement.where(vouchers.c.state == state)
    return [_voucher(row) for row in await conn.execute(statement.order_by(vouchers.c.voucher_id))]


async def due_for_expiry(conn: AsyncConnection, *, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(member_id, voucher_id) of issued vouchers past their validity."""
    rows = await conn.execute(
        select(vouchers.c.member_id, vouchers.c.voucher_id)
        .where(and_(vouchers.c.state == "issued", vouchers.c.valid_until <= now))
        .order_by(vouchers.c.valid_until)
        .limit(limit)
    )
    return [(str(m), str(v)) for m, v in rows]


async def count_vouchers_by_state(conn: AsyncConnection) -> dict[tuple[str, str], int]:
    """{(reward_id, state): count} over every voucher (the stock check)."""
    rows = await conn.execute(
        select(vouchers.c.reward_id, vouchers.c.state, func.count()).group_by(
            vouchers.c.reward_id, vouchers.c.state
        )
    )
    return {(str(r), str(s)): int(n) for r, s, n in rows}
