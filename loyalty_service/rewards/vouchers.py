"""A voucher's life after issue: found by code, used once, cancelled (points and stock back) or expired.

Every change locks in the one order of voucher changes (store.py): member's ledger head, voucher row,
reward row. A voucher past `valid_until` is refused as expired at once, and marked expired (nothing
returned) by the maintenance job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from loyalty.v1 import rewards_pb2
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_service.db.transaction import in_transaction
from loyalty_service.errors import NotFound
from loyalty_service.kernel.channel import Channel
from loyalty_service.ledger import api as ledger_api
from loyalty_service.rewards import store
from loyalty_service.rewards.api import voucher_event
from loyalty_service.rewards.failures import (
    VoucherAlreadyUsed,
    VoucherCancelled,
    VoucherExpired,
    VoucherNotValidHere,
)
from loyalty_service.rewards.store import RewardRow, VoucherRow

__all__ = ["Found", "cancel_voucher", "expire_due", "find_voucher", "use_voucher"]

_log = logging.getLogger(__name__)
_EXPIRY_BATCH = 500
_EXPIRY_BATCHES_MAX = 100


@dataclass(frozen=True, slots=True)
class Found:
    voucher: VoucherRow
    reward: RewardRow


async def find_voucher(conn: AsyncConnection, code: str, *, lock: bool = False) -> Found:
    """The voucher of a canonical code; NOT_FOUND. With `lock`, its member's ledger and the row are locked."""
    owner = await store.member_of_code(conn, code)
    if owner is None:
        raise NotFound("voucher", "code", "no voucher has this code")
    member_id, voucher_id = owner
    while lock:
        await ledger_api.lock_ledger(conn, member_id)
        # A merge (LinkIdentifier) that committed while we waited may have moved the voucher: follow it.
        moved = await store.member_of_code(conn, code)
        assert moved is not None, "a code is never deleted"
        if moved == (member_id, voucher_id):
            break
        member_id, voucher_id = moved
    voucher = await store.lock_voucher(conn, member_id=member_id, voucher_id=voucher_id, lock=lock)
    assert voucher is not None, "a code points at its voucher"
    reward = await store.get_reward(conn, voucher.reward_id)
    assert reward is not None, "a voucher's reward is never deleted"
    return Found(voucher, reward)


def _require_open(voucher: VoucherRow, now: datetime) -> None:
    if voucher.state == "used":
        assert voucher.used_at is not None
        raise VoucherAlreadyUsed(
            voucher_id=voucher.voucher_id,
            used_at=voucher.used_at,
            store_id=voucher.used_store_id,
            channel=voucher.used_channel,
        )
    if voucher.state == "cancelled":
        raise VoucherCancelled(voucher_id=voucher.voucher_id)
    if voucher.state == "expired" or voucher.valid_until <= now:
        raise VoucherExpired(voucher_id=voucher.voucher_id, valid_until=voucher.valid_until)


async def use_voucher(
    conn: AsyncConnection, *, code: str, channel: Channel, store_id: str, order_id: str, now: datetime
) -> rewards_pb2.Voucher:
    """Once only, in a channel (and store) the reward allows."""
    found = await find_voucher(conn, code, lock=True)
    voucher, reward = found.voucher, found.reward
    _require_open(voucher, now)
    allowed_store = not reward.store_ids or store_id in reward.store_ids
    if channel.value not in reward.channels or (channel is Channel.POS and not allowed_store):
        raise VoucherNotValidHere(voucher_id=voucher.voucher_id, channel=channel.value, store_id=store_id)
    used = replace(
        voucher,
        state="used",
        used_at=now,
        used_store_id=store_id,
        used_channel=channel.value,
        used_order_id=order_id,
    )
    await store.save_voucher(conn, used)
    return await voucher_event(conn, used, reward, now=now)


async def cancel_voucher(
    conn: AsyncConnection, *, code: str, channel: Channel, now: datetime, credential_id: str
) -> tuple[rewards_pb2.Voucher, int, int]:
    """An unused voucher: its points (REDEEM_CANCEL) and stock come back; (voucher, points, available)."""
    found = await find_voucher(conn, code, lock=True)
    voucher, reward = found.voucher, found.reward
    _require_open(voucher, now)
    available = await ledger_api.available_points(conn, voucher.member_id)
    if voucher.points_charged:
        cause = ledger_api.Cause(
            channel=channel.value,
            source_type="voucher",
            source_ref=voucher.voucher_id,
            reason="voucher cancelled",
            occurred_at=now,
        )
        moved = await ledger_api.return_points(
            conn,
            member_id=voucher.member_id,
            debit_entry_id=voucher.redeem_entry_id,
            entry_type=ledger_api.EntryType.REDEEM_CANCEL,
            cause=cause,
            now=now,
            credential_id=credential_id,
        )
        assert moved.points == voucher.points_charged, "a cancel gives back exactly what was charged"
        available = moved.balance.available
    await store.put_stock_back(conn, voucher.reward_id)
    cancelled = replace(voucher, state="cancelled", closed_at=now)
    await store.save_voucher(conn, cancelled)
    message = await voucher_event(conn, cancelled, reward, now=now)
    return message, voucher.points_charged, available


async def _expire_one(conn: AsyncConnection, *, member_id: str, voucher_id: str, now: datetime) -> bool:
    await ledger_api.lock_ledger(conn, member_id)
    voucher = await store.lock_voucher(conn, member_id=member_id, voucher_id=voucher_id)
    if voucher is None or voucher.state != "issued" or voucher.valid_until > now:
        return False  # used, cancelled or expired by a racing request or replica
    reward = await store.get_reward(conn, voucher.reward_id)
    assert reward is not None
    expired = replace(voucher, state="expired", closed_at=now)
    await store.save_voucher(conn, expired)
    await voucher_event(conn, expired, reward, now=now)
    return True


async def expire_due(engine: AsyncEngine, now: datetime) -> int:
    """Mark issued vouchers past validity as expired (nothing returned); returns how many. Idempotent."""
    count = 0
    for _ in range(_EXPIRY_BATCHES_MAX):
        async with engine.connect() as conn:
            due = await store.due_for_expiry(conn, now=now, limit=_EXPIRY_BATCH)
        for member_id, voucher_id in due:
            try:

                async def work(conn: AsyncConnection, m: str = member_id, v: str = voucher_id) -> bool:
                    return await _expire_one(conn, member_id=m, voucher_id=v, now=now)

                count += await in_transaction(engine, work)
            except Exception:
                _log.exception("voucher expiry failed", extra={"fields": {"voucher_id": voucher_id}})
        if len(due) < _EXPIRY_BATCH:
            break
    return count
