"""Maintenance loop (shell: the ledger work replaces this file)."""

from __future__ import annotations

import asyncio

from loyalty_service.runtime import Runtime


async def maintenance_loop(runtime: Runtime) -> None:
    while True:
        await asyncio.sleep(runtime.settings.maintenance_interval_seconds)
