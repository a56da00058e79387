"""Invariants of status tiers, for `loyalty-service check` (called from `ledger.check.check_ledger`).

- Each member's status head agrees with its history: `tier_status.change_seq` is the latest
  `tier_history.seq` (0 without history) and the status's tier is that change's tier.
- A member's history is numbered 1..n without gaps.
- A purchase's contribution never exceeds what the purchase earned or cost, and is never negative
  (refunds only take it down, to 0 at most).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["check_tiers"]

_HEAD = text(
    "SELECT s.member_id, s.tier_id, s.change_seq, h.seq, h.tier_id AS history_tier_id "
    "FROM tier_status s LEFT JOIN LATERAL (SELECT seq, tier_id FROM tier_history "
    "WHERE member_id = s.member_id ORDER BY seq DESC LIMIT 1) h ON true "
    "WHERE coalesce(h.seq, 0) <> s.change_seq OR (h.seq IS NOT NULL AND h.tier_id <> s.tier_id) "
    "ORDER BY s.member_id LIMIT :limit"
)
_GAPS = text(
    "SELECT member_id, count(*) AS changes, max(seq) AS last FROM tier_history GROUP BY member_id "
    "HAVING count(*) <> max(seq) OR min(seq) <> 1 ORDER BY member_id LIMIT :limit"
)
_CONTRIBUTIONS = text(
    "SELECT member_id, purchase_id, points, points_earned, spend_minor, amount_minor FROM tier_contributions "
    "WHERE points < 0 OR spend_minor < 0 OR points > points_earned OR spend_minor > amount_minor "
    "ORDER BY member_id, purchase_id LIMIT :limit"
)


async def check_tiers(conn: AsyncConnection, *, limit: int) -> list[str]:
    """Readable problems, each naming its member; empty when every tier invariant holds."""
    problems = [
        f"member {r.member_id}: tier status ({r.tier_id}, change {r.change_seq}) disagrees with its "
        f"latest tier change ({r.history_tier_id}, change {r.seq or 0})"
        for r in await conn.execute(_HEAD, {"limit": limit})
    ]
    problems += [
        f"member {r.member_id}: tier history has {r.changes} changes numbered up to {r.last}"
        for r in await conn.execute(_GAPS, {"limit": limit})
    ]
    problems += [
        f"member {r.member_id}: purchase {r.purchase_id} counts {r.points} of {r.points_earned} points and "
        f"{r.spend_minor} of {r.amount_minor} spent towards tiers"
        for r in await conn.execute(_CONTRIBUTIONS, {"limit": limit})
    ]
    return problems[:limit]
