"""Edge validation of rewards requests: every violation at once, before any transaction opens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from loyalty.v1 import common_pb2, rewards_pb2

from loyalty_service.auth.principal import Principal, PrincipalKind
from loyalty_service.common_messages import CHANNELS, channel_of, read_identifier
from loyalty_service.errors import FieldViolation, InvalidArgument, PermissionDenied
from loyalty_service.kernel.channel import Channel
from loyalty_service.members.api import MemberKey
from loyalty_service.rewards import codes
from loyalty_service.validation import Checks

__all__ = [
    "Definition",
    "authorize_channel",
    "read_code",
    "read_definition",
    "read_member_ref",
    "read_usage_channel",
]

VOUCHER_CHANNELS = {k: v for k, v in CHANNELS.items() if v is not Channel.BACKOFFICE}
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MAX_POINTS = 1_000_000_000
_MAX_STORES = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class Definition:
    """A validated RewardDefinition, in stored spellings."""

    name: str
    description: str
    points_cost: int
    channels: list[str]
    store_ids: list[str]
    unlimited_stock: bool
    stock: int
    per_member_limit: int
    visible_from: datetime | None
    visible_until: datetime | None
    voucher_valid_days: int
    value_kind: str
    amount_minor: int | None = None
    currency: str | None = None
    percent_off_bp: int | None = None
    product_sku: str | None = None
    game_id: str | None = None


def read_member_ref(checks: Checks, field: str, ref: common_pb2.MemberRef) -> MemberKey | None:
    which = ref.WhichOneof("ref")
    if which == "member_id":
        return MemberKey(member_id=checks.entity_id(f"{field}.member_id", ref.member_id, "mem"))
    if which == "identifier":
        identifier = read_identifier(checks, f"{field}.identifier", ref.identifier)
        return None if identifier is None else MemberKey(kind=identifier[0], value=identifier[1])
    checks.fail(field, "required: a member_id or an identifier")
    return None


def read_code(text: str, field: str = "code") -> str:
    """The canonical code, or INVALID_ARGUMENT: "mistyped" when only the check character disagrees."""
    try:
        return codes.parse_code(text)
    except codes.CodeError as error:
        raise InvalidArgument([FieldViolation(field, str(error))]) from error


def _value(checks: Checks, value: rewards_pb2.VoucherValue) -> dict[str, object]:
    which = value.WhichOneof("value")
    if which == "amount_off":
        if value.amount_off.amount_minor <= 0:
            checks.fail("reward.value.amount_off.amount_minor", "must be positive")
        if not _CURRENCY.match(value.amount_off.currency):
            checks.fail("reward.value.amount_off.currency", "an ISO 4217 code such as EUR")
        return {
            "value_kind": "amount_off",
            "amount_minor": value.amount_off.amount_minor,
            "currency": value.amount_off.currency,
        }
    if which == "percent_off_bp":
        checks.count("reward.value.percent_off_bp", value.percent_off_bp, minimum=1, maximum=10_000)
        return {"value_kind": "percent_off", "percent_off_bp": value.percent_off_bp}
    if which == "free_product_sku":
        sku = checks.code("reward.value.free_product_sku", value.free_product_sku)
        return {"value_kind": "free_product", "product_sku": sku}
    if which == "free_game_id":
        game = checks.code("reward.value.free_game_id", value.free_game_id)
        return {"value_kind": "free_game_play", "game_id": game}
    checks.fail("reward.value", "required: amount_off, percent_off_bp, free_product_sku or free_game_id")
    return {"value_kind": "amount_off"}


def read_definition(checks: Checks, reward: rewards_pb2.RewardDefinition, *, update: bool) -> Definition:
    """Validate a definition; on update, `stock` is a signed change of the stock."""
    channels: list[str] = []
    for index, value in enumerate(reward.channels):
        channel = checks.enum(f"reward.channels[{index}]", value, VOUCHER_CHANNELS)
        if channel is not None and channel.value not in channels:
            channels.append(channel.value)
    if not reward.channels:
        checks.fail("reward.channels", "required: at least one of POS, WEBSHOP, APP")
    checks.count("reward.store_ids", len(reward.store_ids), minimum=0, maximum=_MAX_STORES)
    store_ids = [checks.code(f"reward.store_ids[{i}]", s) for i, s in enumerate(reward.store_ids)]
    visible_from, visible_until = checks.window(reward, "visible_from", "visible_until", prefix="reward.")
    if reward.unlimited_stock and reward.stock:
        checks.fail("reward.stock", "must be 0 with unlimited_stock")
    minimum = -_MAX_POINTS if update else 0
    return Definition(
        name=checks.text("reward.name", reward.name),
        description=checks.text("reward.description", reward.description, required=False, max_length=2000),
        points_cost=checks.count("reward.points_cost", reward.points_cost, minimum=0, maximum=_MAX_POINTS),
        channels=channels,
        store_ids=sorted(set(store_ids)),
        unlimited_stock=reward.unlimited_stock,
        stock=checks.count("reward.stock", reward.stock, minimum=minimum, maximum=_MAX_POINTS),
        per_member_limit=checks.count(
            "reward.per_member_limit", reward.per_member_limit, minimum=0, maximum=10_000
        ),
        visible_from=visible_from,
        visible_until=visible_until,
        voucher_valid_days=checks.count(
            "reward.voucher_valid_days", reward.voucher_valid_days, minimum=1, maximum=3650
        ),
        **_value(checks, reward.value),  # type: ignore[arg-type]
    )


def read_usage_channel(
    checks: Checks, channel_value: common_pb2.Channel.ValueType, store_id: str
) -> tuple[Channel | None, str]:
    """A channel where vouchers are redeemed or used, with its store (required at a till)."""
    channel = checks.enum("channel", channel_value, VOUCHER_CHANNELS)
    store = checks.code("store_id", store_id, required=channel is Channel.POS)
    if channel is not None and channel is not Channel.POS and store:
        checks.fail("store_id", "only a POS channel names a store")
    return channel, store


def authorize_channel(principal: Principal, channel: Channel, store_id: str) -> None:
    """Tills act in POS for their own store, the web shop in WEBSHOP, the app and members in APP."""
    if principal.kind is PrincipalKind.BACKOFFICE:
        return
    expected = channel_of(principal)
    if channel is not expected:
        raise PermissionDenied(f"a {principal.kind.value} caller acts only in the {expected.value} channel")
    principal.require_store(store_id)
