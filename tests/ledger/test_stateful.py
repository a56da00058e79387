"""Random sequences of ledger operations through gRPC, compared step by step with a plain model.

The model below knows the rules in their simplest form (lots with remaining points, a debt, pending
until available_at, expiry one month after earning, spending oldest-expiring first, reversals from the
purchase's own lot, then pending, then available points) and nothing of the service's code. The machine
runs in a worker thread with blocking stubs while the server keeps the test's event loop; time moves
through the service's FixedClock and expiry/release through `maintenance.run_once`.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from loyalty.v1 import common_pb2, ledger_pb2, ledger_pb2_grpc, members_pb2, members_pb2_grpc, program_pb2

from loyalty_service.kernel.clock import FixedClock, add_months
from loyalty_service.ledger.maintenance import run_once
from loyalty_service.proto_time import to_timestamp
from tests.ledger.conftest import make_programme
from tests.support.api import Running, new_key

PENDING_DAYS = 2
EXPIRY_MONTHS = 1
MAX_AGE_DAYS = 30


@dataclass
class ModelLot:
    points: int
    remaining: int
    earned_at: datetime
    available_at: datetime
    expires_at: datetime
    order: int
    released: bool = False


@dataclass
class Model:
    lots: list[ModelLot] = field(default_factory=list)
    debt: int = 0
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def balances(self) -> tuple[int, int]:
        available = sum(lot.remaining for lot in self.lots if lot.released) - self.debt
        return available, sum(lot.remaining for lot in self.lots if not lot.released)

    def catch_up(self, now: datetime) -> None:
        for lot in sorted(self.lots, key=lambda lot: (lot.available_at, lot.earned_at, lot.order)):
            if not lot.released and lot.available_at <= now:
                lot.released = True
                paid = min(lot.remaining, self.debt)
                lot.remaining -= paid
                self.debt -= paid
        for lot in self.lots:
            if lot.expires_at <= now:
                lot.remaining = 0

    def credit(self, points: int, earned_at: datetime, available_at: datetime, now: datetime) -> ModelLot:
        lot = ModelLot(
            points, points, earned_at, available_at, add_months(earned_at, EXPIRY_MONTHS), next(self.counter)
        )
        self.lots.append(lot)
        self.catch_up(now)
        return lot

    def spend_order(self) -> list[ModelLot]:
        return sorted(
            (lot for lot in self.lots if lot.released and lot.remaining),
            key=lambda lot: (lot.expires_at, lot.earned_at, lot.order),
        )

    def take(self, lots: list[ModelLot], points: int) -> tuple[list[tuple[ModelLot, int]], int]:
        takes = []
        for lot in lots:
            taken = min(points, lot.remaining)
            if taken:
                lot.remaining -= taken
                points -= taken
                takes.append((lot, taken))
        return takes, points

    def reversal_order(self, own: ModelLot | None) -> list[ModelLot]:
        pending = sorted(
            (lot for lot in self.lots if not lot.released and lot is not own),
            key=lambda lot: (lot.available_at, lot.earned_at, lot.order),
            reverse=True,
        )
        rest = [lot for lot in self.spend_order() if lot is not own]
        return ([own] if own is not None else []) + pending + rest

    def spendable(self) -> int:
        return sum(lot.remaining for lot in self.spend_order()) - self.debt


@dataclass
class Sale:
    request: ledger_pb2.RecordPurchaseRequest
    answer: ledger_pb2.RecordPurchaseResponse
    lot: ModelLot | None
    refunded: int = 0
    reversed: int = 0


class LedgerMachine(RuleBasedStateMachine):
    running: Running
    loop: asyncio.AbstractEventLoop
    keys: dict[str, str]
    store_id: str
    currency: str

    sales = Bundle("sales")
    spends = Bundle("spends")

    def __init__(self) -> None:
        super().__init__()
        channel = grpc.insecure_channel(f"127.0.0.1:{self.running.port}")
        self.channel = channel
        self.ledger = ledger_pb2_grpc.LedgerServiceStub(channel)
        web = members_pb2_grpc.MemberServiceStub(channel)
        enrolled = web.EnrollMember(
            members_pb2.EnrollMemberRequest(idempotency_key=new_key()), metadata=self.auth("webshop")
        )
        self.member_id = enrolled.member.member_id
        self.model = Model()

    @property
    def clock(self) -> FixedClock:
        assert self.running.clock is not None
        return self.running.clock

    def auth(self, kind: str) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {self.keys[kind]}"),)

    def tick(self) -> datetime:
        """Every step happens one second after the last, so no two lots share a time."""
        now = self.clock.advance(timedelta(seconds=1))
        self.model.catch_up(now)
        return now

    def expect_balance(self, balance: ledger_pb2.Balance) -> None:
        assert (balance.available, balance.pending) == self.model.balances()

    def sale_request(self, amount_minor: int, occurred_at: datetime) -> ledger_pb2.RecordPurchaseRequest:
        return ledger_pb2.RecordPurchaseRequest(
            idempotency_key=new_key(),
            member=common_pb2.MemberRef(member_id=self.member_id),
            channel=common_pb2.CHANNEL_POS,
            store_id=self.store_id,
            order_id="o-" + new_key(),
            amount=common_pb2.Money(amount_minor=amount_minor, currency=self.currency),
            occurred_at=to_timestamp(occurred_at),
        )

    def credit_sale(
        self,
        request: ledger_pb2.RecordPurchaseRequest,
        answer: ledger_pb2.RecordPurchaseResponse,
        now: datetime,
    ) -> Sale:
        points = request.amount.amount_minor // 100
        assert answer.points == points
        occurred = request.occurred_at.ToDatetime().replace(tzinfo=now.tzinfo)
        lot = None
        if points:
            lot = self.model.credit(points, occurred, occurred + timedelta(days=PENDING_DAYS), now)
        self.expect_balance(answer.balance)
        return Sale(request, answer, lot)

    @rule(target=sales, amount_minor=st.integers(1, 50_000))
    def purchase(self, amount_minor: int) -> Sale:
        now = self.tick()
        request = self.sale_request(amount_minor, now)
        answer = self.ledger.RecordPurchase(request, metadata=self.auth("pos"))
        return self.credit_sale(request, answer, now)

    @rule(amounts=st.lists(st.integers(1, 20_000), min_size=1, max_size=3), ages=st.data())
    def offline_sync(self, amounts: list[int], ages: st.DataObject) -> None:
        now = self.tick()
        requests = []
        for amount in amounts:
            hours = ages.draw(st.integers(0, (MAX_AGE_DAYS + 5) * 24))
            requests.append(
                self.sale_request(amount, now - timedelta(hours=hours, seconds=next(self.model.counter)))
            )
        answer = self.ledger.SyncOfflinePurchases(
            ledger_pb2.SyncOfflinePurchasesRequest(purchases=requests), metadata=self.auth("pos")
        )
        for request, result in zip(requests, answer.results, strict=True):
            if request.occurred_at.ToDatetime().replace(tzinfo=now.tzinfo) < now - timedelta(
                days=MAX_AGE_DAYS
            ):
                assert result.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
            else:
                assert not result.duplicate
                self.credit_sale(request, result.purchase, now)
                self.model.catch_up(now)

    @rule(sale=sales, share=st.integers(1, 100))
    def refund(self, sale: Sale, share: int) -> None:
        now = self.tick()
        amount = sale.request.amount.amount_minor
        refund_minor = max(1, amount * share // 100)
        request = ledger_pb2.RecordRefundRequest(
            idempotency_key=new_key(),
            channel=common_pb2.CHANNEL_POS,
            store_id=self.store_id,
            order_id=sale.request.order_id,
            occurred_at=to_timestamp(now),
            amount=common_pb2.Money(amount_minor=refund_minor, currency=self.currency),
        )
        if sale.refunded + refund_minor > amount:
            self.expect_error(self.ledger.RecordRefund, request, "pos", grpc.StatusCode.FAILED_PRECONDITION)
            return
        answer = self.ledger.RecordRefund(request, metadata=self.auth("pos"))
        earned = sale.answer.points
        points = earned * (sale.refunded + refund_minor) // amount - earned * sale.refunded // amount
        sale.refunded += refund_minor
        assert answer.points_reversed == points
        _takes, rest = self.model.take(self.model.reversal_order(self.live(sale.lot)), points)
        self.model.debt += rest
        self.expect_balance(answer.balance)

    def live(self, lot: ModelLot | None) -> ModelLot | None:
        return lot if lot is not None and lot.remaining > 0 else None

    @rule(target=spends, points=st.integers(1, 300))
    def spend(self, points: int) -> Any:
        self.tick()
        request = ledger_pb2.SpendPointsRequest(
            idempotency_key=new_key(),
            member=common_pb2.MemberRef(member_id=self.member_id),
            points=points,
            channel=common_pb2.CHANNEL_WEBSHOP,
            order_id="w-" + new_key(),
        )
        if points > self.model.spendable():
            self.expect_error(
                self.ledger.SpendPoints, request, "webshop", grpc.StatusCode.FAILED_PRECONDITION
            )
            return None
        answer = self.ledger.SpendPoints(request, metadata=self.auth("webshop"))
        takes, rest = self.model.take(self.model.spend_order(), points)
        assert rest == 0
        self.expect_balance(answer.balance)
        return {"spend_id": answer.spend_id, "takes": takes, "cancelled": False}

    @rule(spent=spends)
    def cancel(self, spent: Any) -> None:
        now = self.tick()
        if spent is None:
            return
        request = ledger_pb2.CancelSpendRequest(
            idempotency_key=new_key(), member_id=self.member_id, spend_id=spent["spend_id"]
        )
        if spent["cancelled"]:
            self.expect_error(
                self.ledger.CancelSpend, request, "webshop", grpc.StatusCode.FAILED_PRECONDITION
            )
            return
        answer = self.ledger.CancelSpend(request, metadata=self.auth("webshop"))
        spent["cancelled"] = True
        for lot, points in spent["takes"]:
            paid = min(points, self.model.debt)
            self.model.debt -= paid
            lot.remaining += points - paid
        self.model.catch_up(now)
        self.expect_balance(answer.balance)

    @rule(points=st.integers(-200, 200).filter(bool))
    def adjust(self, points: int) -> None:
        now = self.tick()
        request = ledger_pb2.AdjustPointsRequest(
            idempotency_key=new_key(), member_id=self.member_id, points=points, reason="model"
        )
        answer = self.ledger.AdjustPoints(request, metadata=self.auth("backoffice"))
        if points > 0:
            self.model.credit(points, now, now, now)
        else:
            covered = min(-points, max(0, self.model.spendable()))
            self.model.take(self.model.spend_order(), covered)
            _takes, rest = self.model.take(self.model.reversal_order(None), -points - covered)
            self.model.debt += rest
        self.expect_balance(answer.balance)

    @rule(days=st.integers(1, 20))
    def advance_and_maintain(self, days: int) -> None:
        now = self.clock.advance(timedelta(days=days))
        asyncio.run_coroutine_threadsafe(run_once(self.running.engine, now), self.loop).result(timeout=60)
        self.model.catch_up(now)

    @rule(sale=sales)
    def retry_same_key(self, sale: Sale) -> None:
        self.tick()
        assert self.ledger.RecordPurchase(sale.request, metadata=self.auth("pos")) == sale.answer

    @rule(sale=sales)
    def retry_changed_payload(self, sale: Sale) -> None:
        self.tick()
        changed = ledger_pb2.RecordPurchaseRequest()
        changed.CopyFrom(sale.request)
        changed.amount.amount_minor += 1
        self.expect_error(self.ledger.RecordPurchase, changed, "pos", grpc.StatusCode.ALREADY_EXISTS)

    def expect_error(self, call: Any, request: Any, kind: str, code: grpc.StatusCode) -> None:
        with pytest.raises(grpc.RpcError) as caught:
            call(request, metadata=self.auth(kind))
        assert caught.value.code() is code  # type: ignore[attr-defined]

    @invariant()
    def balance_matches_model(self) -> None:
        answer = self.ledger.GetBalance(
            ledger_pb2.GetBalanceRequest(member=common_pb2.MemberRef(member_id=self.member_id)),
            metadata=self.auth("backoffice"),
        )
        self.expect_balance(answer.balance)

    def teardown(self) -> None:
        self.channel.close()


async def test_ledger_matches_model(isolated_service: Running) -> None:
    """Goal: any sequence of sales, uploads, refunds, spends, cancellations, adjustments, retries and
    the passing of time leaves every answer and every balance exactly where the model says."""
    programme = await make_programme(isolated_service)
    await programme.back.program.UpdateProgramSettings(
        program_pb2.UpdateProgramSettingsRequest(
            idempotency_key=new_key(),
            settings=program_pb2.ProgramSettings(
                pending_days=PENDING_DAYS, expiry_months=EXPIRY_MONTHS, offline_max_age_days=MAX_AGE_DAYS
            ),
        )
    )
    LedgerMachine.running = isolated_service
    LedgerMachine.loop = asyncio.get_running_loop()
    LedgerMachine.store_id = programme.store_id
    LedgerMachine.currency = programme.currency
    LedgerMachine.keys = {
        "pos": programme.till.secret,
        "webshop": programme.web.secret,
        "backoffice": programme.back.secret,
    }  # type: ignore[dict-item]
    config = settings(
        max_examples=15, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
    )
    await asyncio.to_thread(run_state_machine_as_test, LedgerMachine, settings=config)
