"""Rewards and vouchers as the clients show them, and their protobuf conversions."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.v1 import rewards_pb2

from loyalty_clients import _convert as c
from loyalty_clients._errors import FailedPrecondition, _by_reason
from loyalty_clients._models import Channel, Money
from loyalty_clients._status import RpcStatus

__all__ = [
    "Redemption",
    "Reward",
    "RewardOffer",
    "RewardSpec",
    "Voucher",
    "VoucherAlreadyUsed",
    "VoucherCancellation",
    "VoucherState",
    "definition",
    "reward",
    "state_to_proto",
    "voucher",
]


@_by_reason("VOUCHER_ALREADY_USED")
class VoucherAlreadyUsed(FailedPrecondition):
    """The voucher was used before: when (`used_at`, ISO 8601) and where (`store_id`, `channel`)."""

    def __init__(self, status: RpcStatus) -> None:
        super().__init__(status)
        self.used_at = status.metadata.get("used_at", "")
        self.store_id = status.metadata.get("store_id", "")
        self.channel = status.metadata.get("channel", "")


class VoucherState(enum.StrEnum):
    ISSUED = "issued"
    USED = "used"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


_STATE_TO_PROTO = c.enum_to_proto(VoucherState, rewards_pb2.VoucherState, "VOUCHER_STATE_")
_STATES = {v: k for k, v in _STATE_TO_PROTO.items()}


def state_to_proto(state: VoucherState) -> rewards_pb2.VoucherState.ValueType:
    return _STATE_TO_PROTO[state]


@dataclass(frozen=True, slots=True, kw_only=True)
class Reward:
    reward_id: str
    name: str
    description: str
    points_cost: int
    channels: tuple[Channel, ...]
    store_ids: tuple[str, ...]
    stock_remaining: int | None
    """None: unlimited."""
    stock_total: int | None
    per_member_limit: int
    voucher_valid_days: int
    value: str
    """"amount_off:500 EUR", "percent_off_bp:1500", "free_product_sku:SKU-1", "free_game_id:gam_..."."""
    archived: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RewardOffer:
    reward: Reward
    affordable: bool
    redeemable: bool
    held: int
    required_tier_id: str = ""
    """Reserved for this status tier and above (empty: for everyone); below it, not redeemable."""
    required_tier_name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Voucher:
    voucher_id: str
    code: str
    reward_id: str
    reward_name: str
    member_id: str
    state: VoucherState
    points_charged: int
    valid_until: datetime
    used_at: datetime | None
    used_store_id: str
    used_channel: Channel | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Redemption:
    voucher: Voucher
    available_points: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VoucherCancellation:
    voucher: Voucher
    points_returned: int
    available_points: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RewardSpec:
    """A reward as marketing defines it; exactly one of the four values."""

    name: str
    points_cost: int
    channels: tuple[Channel, ...]
    voucher_valid_days: int = 30
    description: str = ""
    store_ids: tuple[str, ...] = ()
    stock: int | None = None
    """Units available (None: unlimited); on update, the change of stock."""
    per_member_limit: int = 0
    visible_from: datetime | None = None
    visible_until: datetime | None = None
    amount_off: Money | None = None
    percent_off_bp: int | None = None
    free_product_sku: str | None = None
    free_game_id: str | None = None


def _time(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def reward(message: rewards_pb2.Reward) -> Reward:
    which = message.value.WhichOneof("value") or ""
    detail = getattr(message.value, which, "") if which else ""
    if which == "amount_off":
        detail = f"{message.value.amount_off.amount_minor} {message.value.amount_off.currency}"
    return Reward(
        reward_id=message.reward_id,
        name=message.name,
        description=message.description,
        points_cost=message.points_cost,
        channels=tuple(c.CHANNEL_FROM_PROTO[x] for x in message.channels),
        store_ids=tuple(message.store_ids),
        stock_remaining=None if message.unlimited_stock else message.stock_remaining,
        stock_total=None if message.unlimited_stock else message.stock_total,
        per_member_limit=message.per_member_limit,
        voucher_valid_days=message.voucher_valid_days,
        value=f"{which}:{detail}",
        archived=message.archived,
    )


def voucher(message: rewards_pb2.Voucher) -> Voucher:
    return Voucher(
        voucher_id=message.voucher_id,
        code=message.code,
        reward_id=message.reward_id,
        reward_name=message.reward_name,
        member_id=message.member_id,
        state=_STATES[message.state],
        points_charged=message.points_charged,
        valid_until=_time(message.valid_until),
        used_at=_time(message.used_at) if message.HasField("used_at") else None,
        used_store_id=message.used_store_id,
        used_channel=c.CHANNEL_FROM_PROTO.get(message.used_channel),
    )


def definition(spec: RewardSpec) -> rewards_pb2.RewardDefinition:
    definition = rewards_pb2.RewardDefinition(
        name=spec.name,
        description=spec.description,
        points_cost=spec.points_cost,
        channels=c.channels(spec.channels),
        store_ids=list(spec.store_ids),
        unlimited_stock=spec.stock is None,
        stock=spec.stock or 0,
        per_member_limit=spec.per_member_limit,
        voucher_valid_days=spec.voucher_valid_days,
    )
    if spec.visible_from is not None:
        definition.visible_from.CopyFrom(c.timestamp(spec.visible_from))
    if spec.visible_until is not None:
        definition.visible_until.CopyFrom(c.timestamp(spec.visible_until))
    if spec.amount_off is not None:
        definition.value.amount_off.CopyFrom(c.money(spec.amount_off))
    elif spec.percent_off_bp is not None:
        definition.value.percent_off_bp = spec.percent_off_bp
    elif spec.free_product_sku is not None:
        definition.value.free_product_sku = spec.free_product_sku
    elif spec.free_game_id is not None:
        definition.value.free_game_id = spec.free_game_id
    return definition
