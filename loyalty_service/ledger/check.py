"""`loyalty-service check`: prove the ledger invariants over every member, from the rows alone.

For every member:
- available + pending (the materialised balance) equals the sum of its entries (invariant 1);
- the newest entry's balance_after equals available + pending;
- pending equals what its unreleased lots hold, and available equals what its released lots hold minus
  the debt (debt = max(0, -available); a debt never sits beside released points). The lots' own
  `released` flag is used rather than a clock, so a lot whose time came but that the maintenance job
  has not released yet is not reported;
and for every purchase: refunds never exceed it, in money or in points, and its totals match its refunds;
and every member's hash chain holds (ledger.chain): the first broken link is named by its entry_seq.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables import accounts, ledger_entries, lots, purchases, refunds
from loyalty_service.journeys.check import check_journeys
from loyalty_service.ledger.chain import GENESIS, BrokenLink, ChainedEntry, first_broken_link, programme_head
from loyalty_service.ledger.play_tokens import check_play_tokens
from loyalty_service.ledger.store import ENTRY_COLUMNS, EntryRow, chained
from loyalty_service.rewards.check import check_rewards
from loyalty_service.tiers.check import check_tiers

__all__ = ["broken_chains", "check_ledger", "ledger_head"]

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
    problems.extend(await check_rewards(conn))  # reward stock and voucher points (rewards.check)
    problems.extend(await check_play_tokens(conn, limit=_PROBLEMS_MAX))  # ledger.play_tokens
    problems.extend(await check_journeys(conn, limit=_PROBLEMS_MAX))  # click-and-collect, referrals
    problems.extend(await check_tiers(conn, limit=_PROBLEMS_MAX))  # status tiers (tiers.check)
    problems.extend(
        f"member {link.member_id}: hash chain broken at entry_seq {link.entry_seq}: {link.problem}"
        for link in await broken_chains(conn, limit=_PROBLEMS_MAX)
    )
    return problems[:_PROBLEMS_MAX]


async def broken_chains(conn: AsyncConnection, *, limit: int) -> list[BrokenLink]:
    """The first broken link of every member whose hash chain does not hold (ledger.chain)."""
    heads = {
        str(m): (bytes(h), int(s))
        for m, h, s in (
            await conn.execute(select(accounts.c.member_id, accounts.c.last_entry_hash, accounts.c.entry_seq))
        ).all()
    }
    broken: list[BrokenLink] = []
    result = await conn.stream(
        select(*ENTRY_COLUMNS).order_by(ledger_entries.c.member_id, ledger_entries.c.entry_seq)
    )
    member: str | None = None
    walked: list[tuple[ChainedEntry, bytes]] = []

    def finish() -> None:
        if member is not None:
            head_hash, head_seq = heads.pop(member, (GENESIS, 0))
            link = first_broken_link(member, walked, head_hash=head_hash, head_seq=head_seq)
            if link is not None:
                broken.append(link)

    async for row in result:
        entry = EntryRow(**row._mapping)
        if entry.member_id != member:
            finish()
            member, walked = entry.member_id, []
            if len(broken) >= limit:
                break
        walked.append((chained(entry), entry.entry_hash))
    else:
        finish()
    await result.close()
    for left, (head_hash, head_seq) in sorted(heads.items()):  # accounts without any entry
        link = first_broken_link(left, [], head_hash=head_hash, head_seq=head_seq)
        if link is not None and len(broken) < limit:
            broken.append(link)
    return broken


async def ledger_head(conn: AsyncConnection) -> dict[str, object]:
    """The programme-wide head hash over every member's last entry hash, to be anchored elsewhere."""
    rows = (
        await conn.execute(select(accounts.c.member_id, accounts.c.last_entry_hash, accounts.c.entry_seq))
    ).all()
    head = programme_head((str(m), bytes(h)) for m, h, _ in rows)
    return {
        "head_sha256": head.hex(),
        "members": len(rows),
        "entries": sum(int(s) for _, _, s in rows),
        "algorithm": "sha256 over sorted (len32(member_id) member_id last_entry_hash); see ledger/chain.py",
    }
