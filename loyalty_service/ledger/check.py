"""`loyalty-service check`: prove the ledger invariants over every member, from the rows alone.

For every member:
- available + pending (the materialised balance) equals the sum of its entries (invariant 1);
- the newest entry's balance_after equals available + pending;
- pending equals what its unreleased lots hold, and available equals what its released lots hold minus
  the debt (debt = max(0, -available); a debt never sits beside released points). The lots' own
  `released` flag is used rather than a clock, so a lot whose time came but that the maintenance job
  has not released yet is not reported;
and for every purchase: refunds never exceed it, in money or in points, and its totals match its refunds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables import accounts, ledger_entries, lots, purchases, refunds

__all__ = ["check_ledger"]

_PROBLEMS_MAX = 1000
"""Stop listing after this many: a broken database does not need a million lines to say so."""


def _member_query() -> Select[Any]:
    entries_sum = (
        select(func.coalesce(func.sum(ledger_entries.c.points), 0))
        .where(ledger_entries.c.member_id == accounts.c.member_id)
        .scalar_subquery()
    )
    last_after = (
        select(ledger_entries.c.balance_after)
        .where(ledger_entries.c.member_id == accounts.c.member_id)
        .order_by(ledger_entries.c.entry_seq.desc())
        .limit(1)
        .scalar_subquery()
    )

    def lots_sum(released: bool) -> Any:
        return (
            select(func.coalesce(func.sum(lots.c.remaining), 0))
            .where(lots.c.member_id == accounts.c.member_id, lots.c.released.is_(released))
            .scalar_subquery()
        )

    return select(
        accounts.c.member_id,
        accounts.c.available,
        accounts.c.pending,
        entries_sum.label("entries_sum"),
        last_after.label("last_after"),
        lots_sum(True).label("released_lots"),
        lots_sum(False).label("pending_lots"),
    ).order_by(accounts.c.member_id)


def _member_problems(row: Any) -> list[str]:
    m = row._mapping
    member, available, pending = m["member_id"], int(m["available"]), int(m["pending"])
    balance = available + pending
    problems = []
    if balance != int(m["entries_sum"]):
        problems.append(
            f"member {member}: balance {balance} (available {available} + pending {pending}) "
            f"but its entries add up to {m['entries_sum']}"
        )
    last_after = 0 if m["last_after"] is None else int(m["last_after"])
    if last_after != balance:
        problems.append(f"member {member}: newest entry says balance {last_after}, account says {balance}")
    if pending != int(m["pending_lots"]):
        problems.append(f"member {member}: pending {pending} but unreleased lots hold {m['pending_lots']}")
    debt = max(0, -available)
    if available != int(m["released_lots"]) - debt:
        problems.append(
            f"member {member}: available {available} but released lots hold {m['released_lots']}"
            f" (debt {debt})"
        )
    return problems


async def _purchase_problems(conn: AsyncConnection) -> list[str]:
    refunded = (
        select(
            refunds.c.member_id,
            refunds.c.purchase_id,
            func.sum(refunds.c.amount_minor).label("amount"),
            func.sum(refunds.c.points_reversed).label("points"),
        )
        .group_by(refunds.c.member_id, refunds.c.purchase_id)
        .subquery()
    )
    query = (
        select(purchases, refunded.c.amount, refunded.c.points)
        .outerjoin(
            refunded,
            (refunded.c.member_id == purchases.c.member_id)
            & (refunded.c.purchase_id == purchases.c.purchase_id),
        )
        .where(
            (purchases.c.refunded_minor > purchases.c.amount_minor)
            | (purchases.c.reversed_points > purchases.c.points)
            | (func.coalesce(refunded.c.amount, 0) != purchases.c.refunded_minor)
            | (func.coalesce(refunded.c.points, 0) != purchases.c.reversed_points)
        )
        .order_by(purchases.c.member_id, purchases.c.purchase_id)
        .limit(_PROBLEMS_MAX)
    )
    problems = []
    for row in (await conn.execute(query)).all():
        m = row._mapping
        problems.append(
            f"member {m['member_id']}: purchase {m['purchase_id']} (order {m['order_id']}) of "
            f"{m['amount_minor']} {m['currency']} earning {m['points']} has {m['refunded_minor']} refunded "
            f"reversing {m['reversed_points']} points; its refunds add up to {m['amount'] or 0} and "
            f"{m['points'] or 0} points"
        )
    return problems


async def check_ledger(conn: AsyncConnection) -> list[str]:
    """Readable problems, each naming its member; empty when every invariant holds."""
    problems: list[str] = []
    result = await conn.stream(_member_query())
    async for row in result:
        problems.extend(_member_problems(row))
        if len(problems) >= _PROBLEMS_MAX:
            break
    await result.close()
    problems.extend(await _purchase_problems(conn))
    return problems[:_PROBLEMS_MAX]
