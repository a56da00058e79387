"""What other features may use of games: the purchase hook that grants play tokens.

The ledger's purchase path calls `on_purchase` once per recorded purchase, in its transaction: the
play-token rules (ledger/tokens.py) grant their tokens through `ledger.api.grant_purchase_tokens`.
Nothing is written when no rule matches, so a purchase's events stay as they were.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.ledger import api as ledger_api

__all__ = ["on_purchase"]


async def on_purchase(
    conn: AsyncConnection,
    *,
    member_id: str,
    purchase_id: str,
    channel: str,
    amount_minor: int,
    currency: str,
    occurred_at: datetime,
    now: datetime,
) -> None:
    facts = ledger_api.TokenFacts(
        channel=channel, amount_minor=amount_minor, currency=currency, occurred_at=occurred_at
    )
    await ledger_api.grant_purchase_tokens(
        conn, member_id=member_id, purchase_id=purchase_id, facts=facts, now=now
    )
