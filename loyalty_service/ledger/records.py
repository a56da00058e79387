"""Purchases, refunds and spends in PostgreSQL: Core statements on a passed connection; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db import fast
from loyalty_service.db.read_ahead import ReadAhead
from loyalty_service.db.tables import lot_takes, lots, purchase_orders, purchases, refunds, spends
from loyalty_service.kernel.ids import new_id

__all__ = [
    "PurchaseRow",
    "SpendRow",
    "claim_order",
    "claim_orders",
    "find_order",
    "insert_refund",
    "lock_purchase",
    "lock_spend",
    "move_member_rows",
    "prior_channels",
    "purchase_insert",
    "record_refund_totals",
    "spend_cancelled",
    "spend_insert",
]


_CLAIM_ORDER = (
    "insert into purchase_orders (channel, store_id, order_id, member_id, purchase_id)"
    " values ($1, $2, $3, $4, $5) on conflict do nothing returning purchase_id"
)


@dataclass(frozen=True, slots=True)
class PurchaseRow:
    member_id: str
    purchase_id: str
    currency: str
    amount_minor: int
    points: int
    lot_id: str | None
    refunded_minor: int
    reversed_points: int


@dataclass(frozen=True, slots=True)
class SpendRow:
    member_id: str
    spend_id: str
    points: int
    store_id: str
    entry_id: str
    cancelled: bool


_CLAIM_ORDERS = (
    "insert into purchase_orders (channel, store_id, order_id, member_id, purchase_id)"
    " select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])"
    " on conflict do nothing returning channel, store_id, order_id"
)
OrderKey = tuple[str, str, str]
"""(channel, store_id, order_id)."""
_orders_claimed = ReadAhead[OrderKey, tuple[str, str]]("orders_claimed_ahead")
"""Orders `claim_orders` took for purchases still to be written: (member_id, purchase_id)."""


async def claim_orders(conn: AsyncConnection, orders: Sequence[tuple[OrderKey, str]]) -> None:
    """Take many orders (each with its member) for purchases this transaction is about to write, in
    one statement; each purchase's `claim_order` then finds its claim here. An order another purchase
    holds (or one given twice) is left to `claim_order`, which refuses it."""
    members: dict[OrderKey, str] = {}
    for order, member_id in orders:
        members.setdefault(order, member_id)  # a repeated order: the first purchase in order claims it
    if not members:
        return
    purchase_ids = {order: new_id("pur") for order in members}
    channels, stores, order_ids = (list(column) for column in zip(*members, strict=True))
    taken = await fast.fetch(
        conn, _CLAIM_ORDERS, channels, stores, order_ids, list(members.values()), list(purchase_ids.values())
    )
    claimed = {(str(c), str(s), str(o)) for c, s, o in (tuple(row) for row in taken)}
    await _orders_claimed.keep(
        conn, {order: (members[order], purchase_ids[order]) for order in members if order in claimed}
    )


async def claim_order(
    conn: AsyncConnection, *, channel: str, store_id: str, order_id: str, member_id: str
) -> str | None:
    """Take (channel, store, order) for a new purchase of the member: its purchase id, or None if
    another purchase holds the order.

    A concurrent claim of the same order waits on the primary key until this transaction ends, so two
    tills uploading one sale under two keys credit it once.
    """
    ahead = await _orders_claimed.take(conn, (channel, store_id, order_id))
    if ahead is not None:
        assert ahead[0] == member_id, "an order claimed ahead for another member"
        return ahead[1]
    purchase_id = new_id("pur")
    inserted = await fast.fetchrow(conn, _CLAIM_ORDER, channel, store_id, order_id, member_id, purchase_id)
    return None if inserted is None else purchase_id


async def find_order(
    conn: AsyncConnection, *, channel: str, store_id: str, order_id: str
) -> tuple[str, str] | None:
    """(member_id, purchase_id) of the order's purchase."""
    row = (
        await conn.execute(
            select(purchase_orders.c.member_id, purchase_orders.c.purchase_id).where(
                purchase_orders.c.channel == channel,
                purchase_orders.c.store_id == store_id,
                purchase_orders.c.order_id == order_id,
            )
        )
    ).one_or_none()
    return None if row is None else (str(row[0]), str(row[1]))


async def prior_channels(conn: AsyncConnection, member_id: str) -> frozenset[str]:
    rows = await conn.execute(
        select(purchases.c.channel).where(purchases.c.member_id == member_id).distinct()
    )
    return frozenset(str(channel) for channel in rows.scalars())


def purchase_insert(**values: Any) -> fast.Write:
    """The purchase row's insert, for the purchase's Book to send with its head (nothing reads the row
    back in the purchase's own transaction)."""
    return fast.insert_write(purchases, values)


_PURCHASE_COLUMNS = (
    purchases.c.member_id,
    purchases.c.purchase_id,
    purchases.c.currency,
    purchases.c.amount_minor,
    purchases.c.points,
    purchases.c.lot_id,
    purchases.c.refunded_minor,
    purchases.c.reversed_points,
)


async def lock_purchase(conn: AsyncConnection, *, member_id: str, purchase_id: str) -> PurchaseRow | None:
    row = (
        await conn.execute(
            select(*_PURCHASE_COLUMNS)
            .where(purchases.c.member_id == member_id, purchases.c.purchase_id == purchase_id)
            .with_for_update()
        )
    ).one_or_none()
    return None if row is None else PurchaseRow(*row)


async def record_refund_totals(
    conn: AsyncConnection, purchase: PurchaseRow, *, refunded_minor: int, reversed_points: int
) -> None:
    await conn.execute(
        update(purchases)
        .where(purchases.c.member_id == purchase.member_id, purchases.c.purchase_id == purchase.purchase_id)
        .values(refunded_minor=refunded_minor, reversed_points=reversed_points)
    )


async def insert_refund(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(insert(refunds).values(**values))


def spend_insert(**values: Any) -> fast.Write:
    """The spend row's insert, for the spend's Book to send with its head (nothing reads it back first)."""
    return fast.insert_write(spends, values)


async def lock_spend(conn: AsyncConnection, *, member_id: str, spend_id: str) -> SpendRow | None:
    row = (
        await conn.execute(
            select(
                spends.c.member_id,
                spends.c.spend_id,
                spends.c.points,
                spends.c.store_id,
                spends.c.entry_id,
                spends.c.cancelled_at.is_not(None),
            )
            .where(spends.c.member_id == member_id, spends.c.spend_id == spend_id)
            .with_for_update()
        )
    ).one_or_none()
    return None if row is None else SpendRow(*row)


_SPEND_CANCELLED = (
    "update spends set cancel_entry_id = $3, cancelled_at = $4 where member_id = $1 and spend_id = $2"
)


def spend_cancelled(spend: SpendRow, *, cancel_entry_id: str, now: datetime) -> fast.Write:
    """Marking a spend cancelled, for the cancellation's Book to send with its head."""
    return _SPEND_CANCELLED, (spend.member_id, spend.spend_id, cancel_entry_id, now)


async def move_member_rows(conn: AsyncConnection, *, source: str, target: str) -> None:
    """Re-home a merged member's lots, takes, purchases, refunds and spends (entries stay as history)."""
    for table in (lots, lot_takes, purchases, refunds, spends, purchase_orders):
        await conn.execute(update(table).where(table.c.member_id == source).values(member_id=target))
