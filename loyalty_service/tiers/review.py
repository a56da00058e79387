"""The period-end tier review: members whose hold ended are downgraded (or kept, if they requalified).

Members are found through `tier_status.held_until` (indexed), so a run touches only members with a
review due. Each member is reviewed in its own short transaction with its ledger account locked first
(the lock order of every write to a member), so a review never races a purchase or refund of the same
member. A review is idempotent: once run, the hold lies in the future and a second run finds nothing due.
Purchases and refunds run the due reviews themselves too, so a late run never reorders the history.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_service.db.transaction import in_transaction
from loyalty_service.errors import NotFound
from loyalty_service.ledger import api as ledger_api
from loyalty_service.runtime import Runtime
from loyalty_service.tiers import api, store

__all__ = ["review_loop", "run_once"]

_log = logging.getLogger(__name__)
_BATCH = 500


async def _review(conn: AsyncConnection, *, member_id: str, now: datetime) -> int:
    try:
        await ledger_api.lock_ledger(conn, member_id)
    except NotFound:
        return 0
    return await api.catch_up_member(conn, member_id, now=now)


async def run_once(engine: AsyncEngine, now: datetime) -> tuple[int, int]:
    """Review every member whose hold ended by `now`; returns (members reviewed, tier changes made)."""
    reviewed = changes = 0
    after = ""
    while True:
        async with engine.connect() as conn:
            due = await store.due_members(conn, now=now, after=after, limit=_BATCH)
        for member_id in due:
            try:
                made = await in_transaction(engine, functools.partial(_review, member_id=member_id, now=now))
            except Exception:
                _log.exception("tier review failed", extra={"fields": {"member_id": member_id}})
                continue
            reviewed += 1
            changes += made
        if len(due) < _BATCH:
            return reviewed, changes
        after = due[-1]


async def review_loop(runtime: Runtime) -> None:
    """Every `maintenance_interval_seconds` until cancelled; logs and carries on after any failure."""
    while True:
        await asyncio.sleep(runtime.settings.maintenance_interval_seconds)
        try:
            reviewed, changes = await run_once(runtime.engine, runtime.now())
            if reviewed:
                _log.info("tier review", extra={"fields": {"reviewed": reviewed, "changes": changes}})
        except Exception:
            _log.exception("tier review run failed")
