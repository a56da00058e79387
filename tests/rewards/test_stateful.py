"""Random sequences of redeem / use / cancel / expire against a plain model of stock, vouchers and points.

After every step: stock_remaining + issued + used + expired = initial stock (the database agrees with
the model), every member's balance is what the model says, and `check_ledger` (balance = sum of entries,
rewards stock and voucher points) finds nothing. Runs in a worker thread with blocking stubs while the
server keeps the test's event loop (as tests/ledger/test_stateful.py).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, ClassVar

import grpc
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from loyalty.v1 import (
    common_pb2,
    ledger_pb2,
    ledger_pb2_grpc,
    members_pb2,
    members_pb2_grpc,
    program_pb2_grpc,
    rewards_pb2,
    rewards_pb2_grpc,
)

from loyalty_service.ledger.check import check_ledger
from loyalty_service.ledger.maintenance import run_once
from tests.support.api import Running, new_key

STOCK = 4
COST = 100
VALID_DAYS = 1


def _attempt(call: Any, request: Any, metadata: Any) -> tuple[Any, grpc.StatusCode | None]:
    """(answer, None) or (None, the refusal's code)."""
    try:
        return call(request, metadata=metadata), None
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        return None, code


class RewardMachine(RuleBasedStateMachine):
    running: ClassVar[Running]
    loop: ClassVar[asyncio.AbstractEventLoop]
    keys: ClassVar[dict[str, str]]
    store_id: ClassVar[str]
    vouchers = Bundle("vouchers")

    def __init__(self) -> None:
        super().__init__()
        channel = grpc.insecure_channel(f"127.0.0.1:{self.running.port}")
        self.channel = channel
        self.meta: dict[str, Any] = {k: (("authorization", f"Bearer {v}"),) for k, v in self.keys.items()}
        self.rewards = rewards_pb2_grpc.RewardServiceStub(channel)
        self.program = program_pb2_grpc.ProgramServiceStub(channel)
        self.ledger = ledger_pb2_grpc.LedgerServiceStub(channel)
        self.members_stub = members_pb2_grpc.MemberServiceStub(channel)
        self.states: dict[str, str] = {}
        self.owner: dict[str, str] = {}
        self.points: dict[str, int] = {}
        self.stock = STOCK

    def teardown(self) -> None:
        self.channel.close()

    @initialize()
    def setup(self) -> None:
        definition = rewards_pb2.RewardDefinition(
            name="Cinema ticket",
            points_cost=COST,
            channels=[common_pb2.CHANNEL_POS, common_pb2.CHANNEL_WEBSHOP],
            stock=STOCK,
            voucher_valid_days=VALID_DAYS,
            value=rewards_pb2.VoucherValue(percent_off_bp=1000),
        )
        self.reward_id = self.program.CreateReward(
            rewards_pb2.CreateRewardRequest(idempotency_key=new_key(), reward=definition),
            metadata=self.meta["backoffice"],
        ).reward.reward_id
        for points in (COST * 2, COST * 5):
            member_id = self.members_stub.EnrollMember(
                members_pb2.EnrollMemberRequest(idempotency_key=new_key()), metadata=self.meta["webshop"]
            ).member.member_id
            self.ledger.AdjustPoints(
                ledger_pb2.AdjustPointsRequest(
                    idempotency_key=new_key(), member_id=member_id, points=points, reason="float"
                ),
                metadata=self.meta["backoffice"],
            )
            self.points[member_id] = points

    @rule(target=vouchers, which=st.integers(0, 1))
    def redeem(self, which: int) -> str:
        member_id = sorted(self.points)[which]
        request = rewards_pb2.RedeemRewardRequest(
            idempotency_key=new_key(),
            member=common_pb2.MemberRef(member_id=member_id),
            reward_id=self.reward_id,
            channel=common_pb2.CHANNEL_WEBSHOP,
        )
        answer, refused = _attempt(self.rewards.RedeemReward, request, self.meta["webshop"])
        if refused is not None:
            assert refused is grpc.StatusCode.FAILED_PRECONDITION
            assert self.stock == 0 or self.points[member_id] < COST
            return ""
        assert self.stock > 0
        assert self.points[member_id] >= COST
        self.stock -= 1
        self.points[member_id] -= COST
        self.states[answer.voucher.code] = "issued"
        self.owner[answer.voucher.code] = member_id
        return str(answer.voucher.code)

    @rule(code=vouchers)
    def use(self, code: str) -> None:
        if not code:
            return
        request = rewards_pb2.UseVoucherRequest(
            idempotency_key=new_key(), code=code, channel=common_pb2.CHANNEL_POS, store_id=self.store_id
        )
        _answer, refused = _attempt(self.rewards.UseVoucher, request, self.meta["pos"])
        if refused is not None:
            assert refused is grpc.StatusCode.FAILED_PRECONDITION
            assert self.states[code] != "issued"
            return
        assert self.states[code] == "issued"
        self.states[code] = "used"

    @rule(code=vouchers)
    def cancel(self, code: str) -> None:
        if not code:
            return
        request = rewards_pb2.CancelVoucherRequest(idempotency_key=new_key(), code=code)
        answer, refused = _attempt(self.rewards.CancelVoucher, request, self.meta["webshop"])
        if refused is not None:
            assert refused is grpc.StatusCode.FAILED_PRECONDITION
            assert self.states[code] != "issued"
            return
        assert self.states[code] == "issued"
        assert answer.points_returned == COST
        self.states[code] = "cancelled"
        self.stock += 1
        self.points[self.owner[code]] += COST

    @rule()
    def expire(self) -> None:
        now = self.running.clock.advance(timedelta(days=VALID_DAYS + 1))  # type: ignore[union-attr]
        asyncio.run_coroutine_threadsafe(run_once(self.running.engine, now), self.loop).result(timeout=60)
        self.states = {code: "expired" if s == "issued" else s for code, s in self.states.items()}

    @invariant()
    def stock_and_points_match(self) -> None:
        if not self.points:
            return
        holding = sum(1 for s in self.states.values() if s in ("issued", "used", "expired"))
        assert self.stock + holding == STOCK
        catalogue = self.program.ListRewardCatalogue(
            rewards_pb2.ListRewardCatalogueRequest(), metadata=self.meta["backoffice"]
        )
        reward = next(r for r in catalogue.rewards if r.reward_id == self.reward_id)
        assert (reward.stock_total, reward.stock_remaining) == (STOCK, self.stock)
        for member_id, points in self.points.items():
            balance = self.ledger.GetBalance(
                ledger_pb2.GetBalanceRequest(member=common_pb2.MemberRef(member_id=member_id)),
                metadata=self.meta["backoffice"],
            )
            assert balance.balance.available == points

    @invariant()
    def ledger_checks(self) -> None:
        async def problems() -> list[str]:
            async with self.running.engine.connect() as conn:
                return await check_ledger(conn)

        assert asyncio.run_coroutine_threadsafe(problems(), self.loop).result(timeout=60) == []


async def test_redeem_use_cancel_expire_keep_stock_and_balances(isolated_service: Running) -> None:
    """Goal: whatever the sequence, stock + issued + used + expired = initial and balances = ledgers."""
    store_id = "st-machine"
    till = await isolated_service.client("pos", store_id=store_id)  # creates the store too
    RewardMachine.running = isolated_service
    RewardMachine.loop = asyncio.get_running_loop()
    RewardMachine.store_id = store_id
    RewardMachine.keys = {
        "pos": till.secret or "",
        "webshop": (await isolated_service.client("webshop")).secret or "",
        "backoffice": (await isolated_service.client("backoffice")).secret or "",
    }
    config = settings(
        max_examples=12, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck)
    )
    await asyncio.to_thread(run_state_machine_as_test, RewardMachine, settings=config)
