"""Check-ins and privacy: the member data export and erasure (GDPR), and the retention of positions.

The last accepted position is kept only while the travel check needs it: `retention_loop` deletes it after
`checkin_position_retention_hours` (and attempts older than a day, which no hourly limit needs).
Registered with `members.export_registry` when this module is imported (by the servicer).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.challenges import member_store
from loyalty_service.db.transaction import in_transaction
from loyalty_service.members import export_registry
from loyalty_service.runtime import Runtime

__all__ = ["purge_once", "retention_loop"]

_log = logging.getLogger(__name__)
_ATTEMPTS_KEPT = timedelta(days=1)


async def _export(conn: AsyncConnection, member_id: str) -> object:
    return await member_store.export_member(conn, member_id)


async def _erase(conn: AsyncConnection, member_id: str) -> None:
    await member_store.erase_member(conn, member_id)


export_registry.register("challenges", export=_export, erase=_erase)


async def purge_once(runtime: Runtime, now: datetime) -> int:
    retention = timedelta(hours=runtime.settings.checkin_position_retention_hours)
    purge = functools.partial(
        member_store.purge_before, positions_before=now - retention, attempts_before=now - _ATTEMPTS_KEPT
    )
    return await in_transaction(runtime.engine, purge)


async def retention_loop(runtime: Runtime) -> None:
    """Every `maintenance_interval_seconds` until cancelled; logs and carries on after any failure."""
    while True:
        await asyncio.sleep(runtime.settings.maintenance_interval_seconds)
        try:
            purged = await purge_once(runtime, runtime.now())
            if purged:
                _log.info("check-in retention", extra={"fields": {"rows_deleted": purged}})
        except Exception:
            _log.exception("check-in retention run failed")
