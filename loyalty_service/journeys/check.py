"""Invariants of the omnichannel journeys, for `loyalty-service check` (called from `ledger.check`).

- An awaiting click-and-collect order's points are not spendable: its lot is not released.
- An order cancelled because it was not collected has all its points reversed.
- A rewarded referral names the entries of the bonuses it paid (exactly once: one referral row per
  new member, and its status moves from pending to rewarded once).
"""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables import lots, purchases
from loyalty_service.db.tables_journeys import pickups, referrals

__all__ = ["check_journeys"]


async def check_journeys(conn: AsyncConnection, *, limit: int) -> list[str]:
    problems: list[str] = []
    released_early = (
        select(pickups.c.member_id, pickups.c.order_id)
        .join(lots, and_(lots.c.member_id == pickups.c.member_id, lots.c.lot_id == pickups.c.lot_id))
        .where(pickups.c.status == "awaiting", lots.c.released.is_(True))
        .limit(limit)
    )
    problems.extend(
        f"member {m}: click-and-collect order {o} awaits its pickup but its points are released"
        for m, o in (await conn.execute(released_early)).all()
    )
    not_reversed = (
        select(pickups.c.member_id, pickups.c.order_id, purchases.c.points, purchases.c.reversed_points)
        .join(
            purchases,
            and_(
                purchases.c.member_id == pickups.c.member_id, purchases.c.purchase_id == pickups.c.purchase_id
            ),
        )
        .where(pickups.c.cancel_reason == "not_collected", purchases.c.reversed_points != purchases.c.points)
        .limit(limit)
    )
    problems.extend(
        f"member {m}: cancelled click-and-collect order {o} earned {p} but reversed {r}"
        for m, o, p, r in (await conn.execute(not_reversed)).all()
    )
    unpaid = (
        select(referrals.c.member_id)
        .where(
            referrals.c.status == "rewarded",
            or_(
                and_(referrals.c.referee_points > 0, referrals.c.referee_entry_id.is_(None)),
                and_(referrals.c.referrer_points > 0, referrals.c.referrer_entry_id.is_(None)),
            ),
        )
        .limit(limit)
    )
    problems.extend(
        f"member {m}: referral marked rewarded without its bonus entries"
        for m in (await conn.execute(unpaid)).scalars()
    )
    return problems
