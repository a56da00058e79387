"""Invariants of rewards, for `loyalty-service check` (called from `ledger.check.check_ledger`).

- Stock (invariant 5), for every reward with limited stock:
      stock_total = stock_remaining + vouchers issued (unused) + used + expired
  (`stock_total` counts every unit ever made available, raised or lowered by UpdateReward; a cancelled
  voucher's unit went back into `stock_remaining`, an expired one's did not), and 0 <= remaining.
- Points: for every member, the points charged by their vouchers that were not cancelled equal what
  their REDEEM entries took net of their REDEEM_CANCEL entries (entries with source_type "voucher").
  A merged provisional member's vouchers moved to the member it was merged into while its REDEEM
  entries stayed in its history, so entries count for the member their member was merged into.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables import ledger_entries, members
from loyalty_service.db.tables_rewards import rewards, vouchers
from loyalty_service.rewards import store

__all__ = ["check_rewards"]

_HOLDING_STOCK = ("issued", "used", "expired")


async def _stock_problems(conn: AsyncConnection) -> list[str]:
    counts = await store.count_vouchers_by_state(conn)
    problems = []
    rows = await conn.execute(
        select(rewards.c.reward_id, rewards.c.stock_total, rewards.c.stock_remaining).order_by(
            rewards.c.reward_id
        )
    )
    for reward_id, total, remaining in rows:
        if total is None:
            continue
        holding = sum(counts.get((reward_id, state), 0) for state in _HOLDING_STOCK)
        if remaining < 0 or total != remaining + holding:
            problems.append(
                f"reward {reward_id}: stock_total {total} != remaining {remaining}"
                f" + issued/used/expired vouchers {holding}"
            )
    return problems


async def _points_problems(conn: AsyncConnection) -> list[str]:
    merged_into = {
        str(m): str(into)
        for m, into in await conn.execute(
            select(members.c.member_id, members.c.merged_into).where(members.c.merged_into.is_not(None))
        )
    }

    def owner(member_id: str) -> str:
        seen = {member_id}
        while member_id in merged_into and merged_into[member_id] not in seen:
            member_id = merged_into[member_id]
            seen.add(member_id)
        return member_id

    charged: dict[str, int] = {}
    for member_id, points in await conn.execute(
        select(vouchers.c.member_id, func.sum(vouchers.c.points_charged))
        .where(vouchers.c.state != "cancelled")
        .group_by(vouchers.c.member_id)
    ):
        charged[owner(member_id)] = charged.get(owner(member_id), 0) + int(points or 0)
    booked: dict[str, int] = {}
    for member_id, points in await conn.execute(
        select(ledger_entries.c.member_id, -func.sum(ledger_entries.c.points))
        .where(
            ledger_entries.c.entry_type.in_(("redeem", "redeem_cancel")),
            ledger_entries.c.source_type == "voucher",
        )
        .group_by(ledger_entries.c.member_id)
    ):
        booked[owner(member_id)] = booked.get(owner(member_id), 0) + int(points or 0)
    problems = []
    for member_id in sorted(set(charged) | set(booked)):
        vouchers_say, ledger_says = charged.get(member_id, 0), booked.get(member_id, 0)
        if vouchers_say != ledger_says:
            problems.append(
                f"member {member_id}: vouchers charged {vouchers_say} points, the ledger booked {ledger_says}"
            )
    return problems


async def check_rewards(conn: AsyncConnection) -> list[str]:
    """Every broken rewards invariant, one line each (empty when all hold)."""
    return [*await _stock_problems(conn), *await _points_problems(conn)]
