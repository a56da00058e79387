"""Stores of the programme: the retailer's own store codes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables import stores

__all__ = ["StoreRow", "create", "exists", "list_all"]


@dataclass(frozen=True, slots=True)
class StoreRow:
    store_id: str
    name: str
    created_at: datetime


async def create(conn: AsyncConnection, *, store_id: str, name: str, now: datetime) -> StoreRow | None:
    """Insert the store; None if the code is taken."""
    row = (
        await conn.execute(
            insert(stores)
            .values(store_id=store_id, name=name, created_at=now)
            .on_conflict_do_nothing()
            .returning(stores.c.store_id, stores.c.name, stores.c.created_at)
        )
    ).one_or_none()
    return None if row is None else StoreRow(*row)


async def exists(conn: AsyncConnection, store_id: str) -> bool:
    return (
        await conn.execute(select(stores.c.store_id).where(stores.c.store_id == store_id))
    ).first() is not None


async def list_all(conn: AsyncConnection) -> list[StoreRow]:
    rows = await conn.execute(
        select(stores.c.store_id, stores.c.name, stores.c.created_at).order_by(stores.c.store_id)
    )
    return [StoreRow(*r) for r in rows.all()]
