"""The requests a till sends, built as plain protobuf messages, one call each.

Every write has a fresh idempotency key and order id, as a real till makes them; members are named by
card, which is what a till scans, so each call also exercises the identifier look-up.
"""

from __future__ import annotations

import random
import secrets
from collections import deque
from datetime import UTC, datetime, timedelta

import grpc
from loyalty.v1 import common_pb2, ledger_pb2, ledger_pb2_grpc

from loyalty_service.bench.programme import STORE_ID, card_number
from loyalty_service.proto_time import to_timestamp

__all__ = ["CALL_TIMEOUT_SECONDS", "Refused", "TillCalls"]

CALL_TIMEOUT_SECONDS = 15.0
_BATCH_TIMEOUT_SECONDS = 120.0
_RECENT_EARNERS = 1000


class Refused(Exception):
    """An expected business refusal (not enough points): a real transaction, not a failure."""


def _member(index: int) -> common_pb2.MemberRef:
    card = common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_CARD, value=card_number(index))
    return common_pb2.MemberRef(identifier=card)


class TillCalls:
    """One load generator's calls: its stubs, its random source and the members it credited lately."""

    def __init__(self, channels: list[grpc.aio.Channel], api_key: str, rng: random.Random) -> None:
        assert channels
        self._stubs: list[ledger_pb2_grpc.LedgerServiceAsyncStub] = [
            ledger_pb2_grpc.LedgerServiceStub(channel) for channel in channels
        ]
        self._metadata = (("authorization", f"Bearer {api_key}"),)
        self._rng = rng
        self._prefix = secrets.token_hex(4)
        self._sequence = 0
        self.recent_earners: deque[int] = deque(maxlen=_RECENT_EARNERS)
        """Members this generator credited; spends go to them so that most spends can succeed."""

    def _stub(self) -> ledger_pb2_grpc.LedgerServiceAsyncStub:
        return self._stubs[self._rng.randrange(len(self._stubs))]

    def _next(self, what: str) -> str:
        self._sequence += 1
        return f"bench-{what}-{self._prefix}-{self._sequence}"

    def purchase_request(self, index: int, *, occurred_at: datetime) -> ledger_pb2.RecordPurchaseRequest:
        return ledger_pb2.RecordPurchaseRequest(
            idempotency_key=self._next("key"),
            member=_member(index),
            channel=common_pb2.CHANNEL_POS,
            store_id=STORE_ID,
            order_id=self._next("order"),
            amount=common_pb2.Money(amount_minor=self._rng.randrange(100, 20_000), currency="EUR"),
            occurred_at=to_timestamp(occurred_at),
        )

    async def purchase(self, index: int) -> None:
        request = self.purchase_request(index, occurred_at=datetime.now(UTC))
        await self._stub().RecordPurchase(request, metadata=self._metadata, timeout=CALL_TIMEOUT_SECONDS)
        self.recent_earners.append(index)

    async def spend(self, index: int) -> None:
        request = ledger_pb2.SpendPointsRequest(
            idempotency_key=self._next("key"),
            member=_member(index),
            points=1,
            channel=common_pb2.CHANNEL_POS,
            store_id=STORE_ID,
            order_id=self._next("order"),
            reason="bench",
        )
        try:
            await self._stub().SpendPoints(request, metadata=self._metadata, timeout=CALL_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                raise Refused from None
            raise

    async def balance(self, index: int) -> None:
        request = ledger_pb2.GetBalanceRequest(member=_member(index))
        await self._stub().GetBalance(request, metadata=self._metadata, timeout=CALL_TIMEOUT_SECONDS)

    async def offline_batch(self, *, members: int, size: int) -> tuple[int, int]:
        """Upload `size` purchases from the last six hours; (credited, refused) item counts."""
        now = datetime.now(UTC)
        request = ledger_pb2.SyncOfflinePurchasesRequest(
            purchases=[
                self.purchase_request(
                    self._rng.randrange(members),
                    occurred_at=now - timedelta(seconds=self._rng.randrange(60, 6 * 3600)),
                )
                for _ in range(size)
            ]
        )
        answer = await self._stub().SyncOfflinePurchases(
            request, metadata=self._metadata, timeout=_BATCH_TIMEOUT_SECONDS
        )
        credited = sum(1 for result in answer.results if result.HasField("purchase"))
        return credited, len(answer.results) - credited
