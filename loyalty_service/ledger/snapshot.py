"""A member's balance and event head read together: the first message of a live stream.

Read in one REPEATABLE READ snapshot, so the balance is exactly the state after event `head`: the stream
then sends every event after `head` and the app never double-counts or misses a change.
"""

from __future__ import annotations

from datetime import datetime

from loyalty.v1 import ledger_pb2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables import accounts
from loyalty_service.errors import NotFound
from loyalty_service.ledger import lots as lot_rules
from loyalty_service.ledger import store
from loyalty_service.ledger.messages import balance_message

__all__ = ["balance_and_head"]


async def balance_and_head(
    conn: AsyncConnection, member_id: str, *, now: datetime
) -> tuple[ledger_pb2.Balance, int]:
    """(balance, event sequence the balance reflects). Call on a fresh connection (sets the isolation)."""
    await conn.execution_options(isolation_level="REPEATABLE READ")
    account = await store.read_account(conn, member_id)
    if account is None:
        raise NotFound("member", member_id)
    head = (
        await conn.execute(select(accounts.c.event_seq).where(accounts.c.member_id == member_id))
    ).scalar_one()
    held = [s.lot for s in await store.open_lots(conn, member_id) if s.lot.remaining > 0]
    available, pending = lot_rules.balances(held, now, debt=max(0, -account.available))
    balance = balance_message(
        member_id=member_id,
        available=available,
        pending=pending,
        lifetime_earned=account.lifetime_earned,
        next_expiry=lot_rules.next_expiry(held, now),
    )
    return balance, int(head)
