"""Demo earning rules (filled in once the rules store exists)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection


async def ensure_demo_rules(conn: AsyncConnection, *, now: datetime) -> None:
    return None
