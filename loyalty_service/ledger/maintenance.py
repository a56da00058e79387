"""Time-driven ledger work: pending points becoming available, points expiring, old idempotency keys.

Members are found through `accounts.next_release_at` / `next_expiry_at` (kept by every ledger write),
so a run touches only members with something due. Each member is caught up in its own short
transaction: one member's failure is logged and skipped, never stopping the others or the server.
Catching up is idempotent (an expired lot holds nothing more), so a run repeated, or racing another
replica's run or a request, expires nothing twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_service import idempotency
from loyalty_service.db.tables import accounts
from loyalty_service.db.transaction import in_transaction
from loyalty_service.journeys.api import cancel_overdue_pickups
from loyalty_service.ledger import store
from loyalty_service.ledger.book import SYSTEM_CREDENTIAL, Book
from loyalty_service.rewards.vouchers import expire_due as expire_vouchers
from loyalty_service.runtime import Runtime

__all__ = ["MaintenanceRun", "maintenance_loop", "run_once"]

_log = logging.getLogger(__name__)
_BATCH = 500


class MaintenanceRun(NamedTuple):
    """What one run did; `loyalty-service expire` prints it as JSON."""

    members_released: int
    members_expired: int
    pickups_cancelled: int


async def _due_members(engine: AsyncEngine, now: datetime, after: str, limit: int) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(accounts.c.member_id)
            .where(
                or_(accounts.c.next_release_at <= now, accounts.c.next_expiry_at <= now),
                accounts.c.member_id > after,
            )
            .order_by(accounts.c.member_id)
            .limit(limit)
        )
        return [str(member_id) for member_id in rows.scalars()]


async def _catch_up(conn: AsyncConnection, *, member_id: str, now: datetime) -> tuple[int, int]:
    account = await store.lock_account(conn, member_id)
    if account is None:
        return 0, 0
    book = Book(
        conn, account, await store.open_lots(conn, member_id), now=now, credential_id=SYSTEM_CREDENTIAL
    )
    released, expired = await book.catch_up()
    await book.close()
    return released, expired


async def run_once(engine: AsyncEngine, now: datetime) -> MaintenanceRun:
    """Cancel overdue click-and-collect orders and catch up every member with something due at `now`."""
    await expire_vouchers(engine, now)  # issued vouchers past validity: marked expired, nothing returned
    # Click-and-collect orders not collected by their deadline: cancelled, their points reversed.
    cancelled = await cancel_overdue_pickups(engine, now)
    if cancelled:
        _log.info("click-and-collect orders cancelled", extra={"fields": {"pickups_cancelled": cancelled}})
    released_members = expired_members = 0
    after = ""
    while True:
        due = await _due_members(engine, now, after, _BATCH)
        for member_id in due:
            try:
                released, expired = await in_transaction(
                    engine, functools.partial(_catch_up, member_id=member_id, now=now)
                )
            except Exception:
                _log.exception("ledger maintenance failed", extra={"fields": {"member_id": member_id}})
                continue
            released_members += released > 0
            expired_members += expired > 0
        if len(due) < _BATCH:
            return MaintenanceRun(released_members, expired_members, cancelled)
        after = due[-1]


async def maintenance_loop(runtime: Runtime) -> None:
    """Every `maintenance_interval_seconds` until cancelled; logs and carries on after any failure."""
    interval = runtime.settings.maintenance_interval_seconds
    while True:
        await asyncio.sleep(interval)
        try:
            now = runtime.now()
            released, expired, _cancelled = await run_once(runtime.engine, now)  # cancellations: logged
            prune = functools.partial(
                idempotency.prune, now=now, retention_days=runtime.settings.idempotency_retention_days
            )
            pruned = await in_transaction(runtime.engine, prune)
            if released or expired or pruned:
                _log.info(
                    "ledger maintenance",
                    extra={"fields": {"released": released, "expired": expired, "keys_pruned": pruned}},
                )
        except Exception:
            _log.exception("ledger maintenance run failed")
