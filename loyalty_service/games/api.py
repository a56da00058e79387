"""What other features may use of games: the purchase hook that grants play tokens, leaderboard scores.

The ledger's purchase path calls `on_purchase` once per recorded purchase, in its transaction: the
play-token rules (ledger/tokens.py) grant their tokens through `ledger.api.grant_purchase_tokens`.
Nothing is written when no rule matches, so a purchase's events stay as they were.

`add_leaderboard_score` adds to a member's score on the board of a game, passport or challenge, in the
caller's transaction (an atomic upsert: members scoring at once never lose a point).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.games import leaderboard
from loyalty_service.ledger import api as ledger_api

__all__ = ["LEADERBOARD_SCOPES", "add_leaderboard_score", "on_purchase"]

LEADERBOARD_SCOPES = frozenset({"game", "passport", "challenge"})


async def on_purchase(conn: AsyncConnection, purchase: ledger_api.RecordedPurchase, *, now: datetime) -> None:
    facts = ledger_api.TokenFacts(
        channel=purchase.channel,
        amount_minor=purchase.amount_minor,
        currency=purchase.currency,
        occurred_at=purchase.occurred_at,
    )
    await ledger_api.grant_purchase_tokens(
        conn, member_id=purchase.member_id, purchase_id=purchase.purchase_id, facts=facts, now=now
    )


async def add_leaderboard_score(
    conn: AsyncConnection, *, member_id: str, scope: str, subject_id: str, points: int, now: datetime
) -> None:
    """Add `points` to the member's score on the `scope` board of `subject_id`, in every period of `now`."""
    assert scope in LEADERBOARD_SCOPES, scope
    assert points > 0
    await leaderboard.add_score(
        conn, member_id=member_id, board=f"{scope}:{subject_id}", points=points, now=now
    )
