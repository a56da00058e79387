"""The chaos run: client workers that retry with the same idempotency key, and a seeded schedule of faults.

Workers pick a member, a kind (purchase, spend, reward redemption, game play or a till's offline upload)
and an amount from their own seeded random stream, send the call to a random replica, and on UNAVAILABLE
or DEADLINE_EXCEEDED try again (maybe on another replica) with the same request (the same keys), until
the answer is definitive or the operation's time is up (then its outcome is unknown). Every attempt lands
in the `History`.

An upload (SyncOfflinePurchases, with a till's key of its store) carries 5 to 60 purchases of random
members and amounts that happened up to a few days ago, each with its own key and order; sometimes one is
sent twice in the same upload (the same key: its second result is the first one's).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from loyalty.v1 import (
    common_pb2,
    games_pb2,
    games_pb2_grpc,
    ledger_pb2,
    ledger_pb2_grpc,
    rewards_pb2,
    rewards_pb2_grpc,
)

from loyalty_service.proto_time import to_timestamp
from tests.chaos.history import Attempt, History, Kind, Op

__all__ = ["CHANNEL_OPTIONS", "Fault", "LoadPlan", "run_workers"]

CURRENCY = "EUR"
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
)


@dataclass(frozen=True)
class LoadPlan:
    seed: int
    members: Sequence[str]
    secret: str
    workers: int = 12
    duration_seconds: float = 20.0
    attempt_timeout_seconds: float = 4.0
    op_budget_seconds: float = 25.0
    """After this long without a definitive answer an operation's outcome stays unknown."""
    spend_share: float = 0.3
    redeem_share: float = 0.1
    play_share: float = 0.15
    upload_share: float = 0.05
    upload_items: tuple[int, int] = (5, 40)
    upload_max_age_seconds: int = 5 * 86400
    """Items happened up to this long ago (well within the offline max age of 30 days)."""
    upload_repeat_share: float = 0.3
    """The share of uploads that send one of their items twice."""
    pos_secret: str = ""
    """A till's key (SyncOfflinePurchases is for tills only) of `store_id`; empty: no uploads."""
    store_id: str = ""
    member_tokens: Mapping[str, str] = field(default_factory=dict)
    """member_id -> a member token (redemptions in the app channel and plays)."""
    reward_id: str = ""
    game_id: str = ""

    def kind(self, rng: random.Random) -> Kind:
        draw = rng.random()
        shares: tuple[tuple[Kind, float], ...] = (
            ("redeem", self.redeem_share if self.reward_id else 0.0),
            ("play", self.play_share if self.game_id else 0.0),
            ("upload", self.upload_share if self.pos_secret else 0.0),
            ("spend", self.spend_share),
        )
        for kind, share in shares:
            if draw < share:
                return kind
            draw -= share
        return "purchase"


@dataclass(frozen=True)
class Fault:
    at_seconds: float
    action: str
    """"kill <server index>" or "restart postgres"."""


@dataclass
class Counters:
    codes: dict[str, int] = field(default_factory=dict)

    def count(self, code: str) -> None:
        self.codes[code] = self.codes.get(code, 0) + 1


def _reason(error: grpc.aio.AioRpcError) -> str:
    raw = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    if not isinstance(raw, bytes):
        return ""
    for detail in status_pb2.Status.FromString(raw).details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


@dataclass(frozen=True)
class _Stubs:
    ledger: ledger_pb2_grpc.LedgerServiceStub
    rewards: rewards_pb2_grpc.RewardServiceStub
    games: games_pb2_grpc.GameServiceStub


def _request(op: Op, plan: LoadPlan) -> Message:
    member = common_pb2.MemberRef(member_id=op.member_id)
    if op.kind == "upload":
        now = datetime.now(UTC)  # a repeated item is the same request as its first copy
        return ledger_pb2.SyncOfflinePurchasesRequest(
            purchases=[
                ledger_pb2.RecordPurchaseRequest(
                    idempotency_key=item.key,
                    member=common_pb2.MemberRef(member_id=item.member_id),
                    channel=common_pb2.CHANNEL_POS,
                    store_id=plan.store_id,
                    order_id=item.order_id,
                    amount=common_pb2.Money(amount_minor=item.amount, currency=CURRENCY),
                    occurred_at=to_timestamp(now - timedelta(seconds=item.age_seconds)),
                )
                for item in op.items
            ]
        )
    if op.kind == "purchase":
        return ledger_pb2.RecordPurchaseRequest(
            idempotency_key=op.key,
            member=member,
            channel=common_pb2.CHANNEL_WEBSHOP,
            order_id=op.order_id,
            amount=common_pb2.Money(amount_minor=op.amount, currency=CURRENCY),
            occurred_at=to_timestamp(datetime.now(UTC) - timedelta(seconds=5)),
        )
    if op.kind == "redeem":
        # A member token acts in the app channel, the web shop's key in the web shop's (auth/policy.py).
        channel = common_pb2.CHANNEL_APP if op.via == "member" else common_pb2.CHANNEL_WEBSHOP
        return rewards_pb2.RedeemRewardRequest(
            idempotency_key=op.key, member=member, reward_id=plan.reward_id, channel=channel
        )
    if op.kind == "play":
        return games_pb2.PlayGameRequest(idempotency_key=op.key, game_id=plan.game_id, member_id=op.member_id)
    return ledger_pb2.SpendPointsRequest(
        idempotency_key=op.key,
        member=member,
        points=op.amount,
        channel=common_pb2.CHANNEL_WEBSHOP,
        order_id=op.order_id,
        reason="chaos",
    )


async def _send(stubs: _Stubs, op: Op, request: Message, plan: LoadPlan) -> None:
    """One attempt; sets the op's outcome when the answer is definitive, raises AioRpcError otherwise."""
    secret = {"member": plan.member_tokens.get(op.member_id, ""), "pos": plan.pos_secret}.get(
        op.via, plan.secret
    )
    metadata = (("authorization", f"Bearer {secret}"),)
    timeout = plan.attempt_timeout_seconds
    if op.kind == "purchase":
        bought = await stubs.ledger.RecordPurchase(request, metadata=metadata, timeout=timeout)
        op.entry_id, op.points, op.purchase_id = bought.entry_id, bought.points, bought.purchase_id
    elif op.kind == "upload":
        synced = await stubs.ledger.SyncOfflinePurchases(request, metadata=metadata, timeout=timeout)
        for result in synced.results:  # an item without a result stays unknown (history flags it)
            item = op.items[result.index]
            if result.HasField("purchase"):
                item.outcome, item.entry_id = "ack", result.purchase.entry_id
                item.points, item.purchase_id = result.purchase.points, result.purchase.purchase_id
                item.duplicate = result.duplicate
            else:
                item.outcome = "refused"
                item.refusal = f"{_CODE_NAMES.get(result.error.code)} {result.error.message}"
    elif op.kind == "spend":
        spent = await stubs.ledger.SpendPoints(request, metadata=metadata, timeout=timeout)
        op.entry_id, op.points, op.ack_available = spent.entry_id, -op.amount, spent.balance.available
    elif op.kind == "redeem":
        redeemed = await stubs.rewards.RedeemReward(request, metadata=metadata, timeout=timeout)
        op.object_id, op.points = redeemed.voucher.voucher_id, -redeemed.voucher.points_charged
        op.ack_available = redeemed.available_points
    else:
        played = await stubs.games.PlayGame(request, metadata=metadata, timeout=timeout)
        op.object_id, op.won = played.play.play_id, played.play.won
        op.points = played.play.grant.points if played.play.won else 0
    op.outcome = "ack"


async def _perform(
    op: Op,
    stubs: Sequence[_Stubs],
    rng: random.Random,
    plan: LoadPlan,
    counters: Counters,
) -> None:
    request = _request(op, plan)  # built once: a retry sends the same payload (occurred_at included)
    deadline = time.monotonic() + plan.op_budget_seconds
    while time.monotonic() < deadline:
        server = rng.randrange(len(stubs))
        started = time.monotonic()
        try:
            await _send(stubs[server], op, request, plan)
            code = "OK"
        except grpc.aio.AioRpcError as error:
            code = error.code().name
            if error.code() not in RETRYABLE:
                op.outcome, op.refusal = "refused", f"{code} {_reason(error)}".strip()
                for item in op.items:  # the whole upload refused: no item was applied
                    item.outcome, item.refusal = "refused", op.refusal
        op.attempts.append(
            Attempt(server=server, code=code, elapsed_ms=round((time.monotonic() - started) * 1000, 1))
        )
        counters.count(code)
        if op.outcome != "unknown":
            return
        await asyncio.sleep(rng.uniform(0.05, 0.25))


def _upload_items(upload: Op, plan: LoadPlan, rng: random.Random) -> list[Op]:
    """An upload's items: purchases of random members (a member often more than once), in the order they
    happened (oldest first); sometimes one item again, later in the same upload, under its key."""
    ages = sorted(
        (rng.randrange(60, plan.upload_max_age_seconds) for _ in range(rng.randint(*plan.upload_items))),
        reverse=True,
    )
    items = [
        Op(
            op_id=upload.op_id,
            kind="purchase",
            member_id=rng.choice(list(plan.members)),
            key=f"{upload.key}-{position}",
            order_id=f"{upload.key}-{position}",
            amount=100 * rng.randint(1, 50),
            via="upload",
            age_seconds=age,
        )
        for position, age in enumerate(ages)
    ]
    if rng.random() < plan.upload_repeat_share:
        again = rng.randrange(len(items))
        items.insert(rng.randint(again + 1, len(items)), replace(items[again], attempts=[], items=[]))
    return items


async def run_workers(
    plan: LoadPlan, addresses: Callable[[], Sequence[str]], history: History, counters: Counters
) -> None:
    """Run `plan.workers` workers for `plan.duration_seconds`; each finishes its operation in flight."""
    channels = [grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) for address in addresses()]
    stubs = [
        _Stubs(
            ledger_pb2_grpc.LedgerServiceStub(channel),
            rewards_pb2_grpc.RewardServiceStub(channel),
            games_pb2_grpc.GameServiceStub(channel),
        )
        for channel in channels
    ]
    stop_at = time.monotonic() + plan.duration_seconds

    async def worker(index: int) -> None:
        rng = random.Random(plan.seed * 1000 + index)
        sequence = 0
        while time.monotonic() < stop_at:
            sequence += 1
            kind = plan.kind(rng)
            amount = {"spend": rng.randint(1, 300), "purchase": 100 * rng.randint(1, 50)}.get(kind, 0)
            via = ""
            if kind == "play":
                via = "member"  # PlayGame as the member's app would call it
            elif kind == "redeem":
                via = rng.choice(("member", "webshop"))
            elif kind == "upload":
                via = "pos"
            op = Op(
                op_id=len(history.ops),
                kind=kind,
                member_id=rng.choice(list(plan.members)),
                key=f"chaos-{plan.seed}-{index}-{sequence}",
                order_id=f"chaos-{plan.seed}-{index}-{sequence}",
                amount=amount,
                via=via,
            )
            if kind == "upload":
                op.member_id, op.order_id = "", ""
                op.items = _upload_items(op, plan, rng)
            history.ops.append(op)
            await _perform(op, stubs, rng, plan, counters)

    try:
        await asyncio.gather(*(worker(i) for i in range(plan.workers)))
    finally:
        for channel in channels:
            await channel.close()
