"""The till: identify members, purchases (queued durably while offline), refunds, spending, balance, rewards
and vouchers, draws and leaderboards to show."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Unpack

from loyalty.v1 import ledger_pb2

from loyalty_clients import _convert as c
from loyalty_clients import _operations as ops
from loyalty_clients import _ops_draws as draws
from loyalty_clients import _ops_games as games
from loyalty_clients import _ops_journeys as journeys
from loyalty_clients import _ops_rewards as rewards
from loyalty_clients import _ops_tiers as tiers
from loyalty_clients._base import ConnectionOptions
from loyalty_clients._blocking import BlockingClient, blocking, constructed_like
from loyalty_clients._errors import Unavailable
from loyalty_clients._models import Channel, MemberRef, Money, PurchaseLine, PurchaseResult
from loyalty_clients._offline import DeadLetter, OfflineQueue, QueuedPurchase

__all__ = ["AsyncPosClient", "PosClient", "SyncReport"]

MAX_SYNC_BATCH = 1000


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one `sync()` did with the offline queue."""

    credited: tuple[PurchaseResult, ...]
    """Every purchase the service answered for, duplicates of earlier uploads included."""
    duplicates: int
    """How many of `credited` had been credited before (same idempotency key)."""
    failed: tuple[DeadLetter, ...]
    """Purchases the service refused in this run; they moved to the dead-letter table, each with the
    service's `reason` (e.g. "OFFLINE_PURCHASE_TOO_OLD", "DUPLICATE_ORDER") and its `metadata`."""
    remaining: int
    """Purchases still queued (the service did not answer for them)."""


class AsyncPosClient(
    ops.MemberLookup,
    ops.MemberEnrolment,
    ops.Balances,
    ops.LedgerWrites,
    rewards.VoucherAcceptance,
    rewards.Redemptions,
    draws.DrawReading,
    games.Leaderboards,
    tiers.MemberTiers,
    journeys.PickupConfirmations,
    journeys.PickupReading,
    journeys.ReferralEnrolment,
):
    """A till of one store (a `pos` credential). With `queue_path`, purchases survive outages.

    >>> async with AsyncPosClient(store_id="paris-01", api_key=key, target="loyalty:50051") as till:
    ...     result = await till.record_purchase(member=Identifier.card("4000123456"), order_id="T1-0001",
    ...                                         amount=Money(2350, "EUR"))
    """

    _channel = Channel.POS

    def __init__(
        self,
        *,
        store_id: str,
        api_key: str,
        target: str,
        queue_path: str | Path | None = None,
        offline_probe_interval_seconds: float = 5.0,
        sync_timeout_seconds: float = 60.0,
        **options: Unpack[ConnectionOptions],
    ) -> None:
        super().__init__(target=target, secret=api_key, store_id=store_id, **options)
        if not store_id:
            raise ValueError("a till belongs to a store: store_id is required")
        self._queue = OfflineQueue(queue_path) if queue_path is not None else None
        self._probe_interval = offline_probe_interval_seconds
        self._sync_timeout = sync_timeout_seconds
        self._offline_until = 0.0
        self._sync_lock = asyncio.Lock()

    @property
    def store_id(self) -> str:
        return self._store_id

    async def record_purchase(
        self,
        *,
        member: MemberRef,
        order_id: str,
        amount: Money,
        occurred_at: datetime | None = None,
        lines: Iterable[PurchaseLine] = (),
        idempotency_key: str | None = None,
    ) -> PurchaseResult | QueuedPurchase:
        """Credit a purchase of this store; an unknown card creates a provisional member.

        With a queue, an unreachable service gives a `QueuedPurchase` instead of an error, and older
        queued purchases are uploaded first so the service sees them in order.

        >>> result = await till.record_purchase(member=Identifier.card("4000123456"), order_id="T1-0002",
        ...                                     amount=Money(1999, "EUR"))
        """
        request = ops.purchase_request(
            channel=Channel.POS,
            store_id=self._store_id,
            member=member,
            order_id=order_id,
            amount=amount,
            occurred_at=occurred_at,
            lines=lines,
            idempotency_key=idempotency_key,
        )
        if self._queue is None:
            return await ops.send_purchase(self._transport, request)
        if time.monotonic() < self._offline_until:
            return self._queue.put(request)
        try:
            if self._queue.count() and (await self.sync()).remaining:
                return self._queue.put(request)
            return await ops.send_purchase(self._transport, request)
        except Unavailable:
            self._offline_until = time.monotonic() + self._probe_interval
            return self._queue.put(request)

    async def sync(self) -> SyncReport:
        """Upload the offline queue in order (SyncOfflinePurchases, batches of at most 1000).

        Raises Unavailable while the service is still away; nothing is lost then.

        >>> report = await till.sync()
        """
        queue = self._require_queue()
        credited: list[PurchaseResult] = []
        failed_positions: list[int] = []
        duplicates = 0
        async with self._sync_lock:
            for _ in range(queue.count() // MAX_SYNC_BATCH + 2):
                rows = queue.head(MAX_SYNC_BATCH)
                if not rows:
                    break
                request = ledger_pb2.SyncOfflinePurchasesRequest(purchases=[row.request for row in rows])
                answer = await self._transport.call(
                    ops.LEDGER + "SyncOfflinePurchases",
                    request,
                    ledger_pb2.SyncOfflinePurchasesResponse,
                    timeout_seconds=self._sync_timeout,
                )
                done: list[int] = []
                refused = []
                for result in answer.results:
                    if not 0 <= result.index < len(rows):
                        continue
                    row = rows[result.index]
                    if result.HasField("purchase"):
                        done.append(row.position)
                        duplicates += result.duplicate
                        credited.append(
                            c.purchase(result.purchase, idempotency_key=row.request.idempotency_key)
                        )
                    elif result.HasField("error"):
                        refused.append((row.position, result.error))
                queue.settle(done=done, failed=refused)
                failed_positions.extend(position for position, _ in refused)
                if not done and not refused:
                    break
            self._offline_until = 0.0
        wanted = set(failed_positions)
        failed = tuple(d for d in queue.dead_letters() if d.position in wanted)
        return SyncReport(tuple(credited), duplicates, failed, queue.count())

    async def queued_count(self) -> int:
        """Purchases waiting in the offline queue.

        >>> waiting = await till.queued_count()
        """
        return self._require_queue().count()

    async def dead_letters(self) -> tuple[DeadLetter, ...]:
        """Queued purchases the service refused, with its reasons: `reason` is machine-readable
        ("OFFLINE_PURCHASE_TOO_OLD", "DUPLICATE_ORDER", "NOT_FOUND", ...) with its `metadata`
        (e.g. max_age_days), `error_message` is for people. Letters stored by an older client have
        reason "" and no metadata.

        >>> for refused in await till.dead_letters():
        ...     print(refused.order_id, refused.reason, dict(refused.metadata), refused.error_message)
        """
        return tuple(self._require_queue().dead_letters())

    def _require_queue(self) -> OfflineQueue:
        if self._queue is None:
            raise RuntimeError("this till has no offline queue: pass queue_path=...")
        return self._queue


class PosClient(BlockingClient[AsyncPosClient]):
    """The blocking till client; same arguments and methods as `AsyncPosClient`.

    >>> with PosClient(store_id="paris-01", api_key=key, target="loyalty:50051", queue_path="q.db") as till:
    ...     till.record_purchase(member=Identifier.card("4000123456"), order_id="T1-3",
    ...                          amount=Money(500, "EUR"))
    """

    @constructed_like(AsyncPosClient)
    def __init__(self, client: AsyncPosClient) -> None:
        super().__init__(client)

    @property
    def store_id(self) -> str:
        return self._async.store_id

    lookup_member = blocking(AsyncPosClient.lookup_member)
    get_member = blocking(AsyncPosClient.get_member)
    member_tier = blocking(AsyncPosClient.member_tier)
    confirm_pickup = blocking(AsyncPosClient.confirm_pickup)
    get_pickup = blocking(AsyncPosClient.get_pickup)
    enroll_referred_member = blocking(AsyncPosClient.enroll_referred_member)
    enroll_member = blocking(AsyncPosClient.enroll_member)
    link_identifier = blocking(AsyncPosClient.link_identifier)
    balance = blocking(AsyncPosClient.balance)
    record_purchase = blocking(AsyncPosClient.record_purchase)
    record_refund = blocking(AsyncPosClient.record_refund)
    spend_points = blocking(AsyncPosClient.spend_points)
    cancel_spend = blocking(AsyncPosClient.cancel_spend)
    sync = blocking(AsyncPosClient.sync)
    queued_count = blocking(AsyncPosClient.queued_count)
    dead_letters = blocking(AsyncPosClient.dead_letters)
    get_voucher = blocking(AsyncPosClient.get_voucher)
    use_voucher = blocking(AsyncPosClient.use_voucher)
    list_rewards = blocking(AsyncPosClient.list_rewards)
    redeem_reward = blocking(AsyncPosClient.redeem_reward)
    list_vouchers = blocking(AsyncPosClient.list_vouchers)
    list_draws = blocking(AsyncPosClient.list_draws)
    get_draw = blocking(AsyncPosClient.get_draw)
    draw_result = blocking(AsyncPosClient.draw_result)
    leaderboard = blocking(AsyncPosClient.leaderboard)
