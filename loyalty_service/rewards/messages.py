"""Rewards and vouchers as protobuf messages, and the stored spellings of states and value kinds."""

from __future__ import annotations

from loyalty.v1 import common_pb2, rewards_pb2

from loyalty_service.common_messages import CHANNEL_TO_PROTO
from loyalty_service.proto_time import to_timestamp
from loyalty_service.rewards.codes import format_code
from loyalty_service.rewards.store import RewardRow, VoucherRow

__all__ = ["VOUCHER_STATES", "VOUCHER_STATE_TO_PROTO", "reward_message", "value_message", "voucher_message"]

VOUCHER_STATES: dict[rewards_pb2.VoucherState.ValueType, str] = {
    rewards_pb2.VOUCHER_STATE_ISSUED: "issued",
    rewards_pb2.VOUCHER_STATE_USED: "used",
    rewards_pb2.VOUCHER_STATE_CANCELLED: "cancelled",
    rewards_pb2.VOUCHER_STATE_EXPIRED: "expired",
}
VOUCHER_STATE_TO_PROTO = {v: k for k, v in VOUCHER_STATES.items()}


def _channels(values: list[str]) -> list[common_pb2.Channel.ValueType]:
    return [CHANNEL_TO_PROTO[value] for value in values]


def value_message(reward: RewardRow) -> rewards_pb2.VoucherValue:
    if reward.value_kind == "amount_off":
        assert reward.amount_minor is not None
        assert reward.currency is not None
        money = common_pb2.Money(amount_minor=reward.amount_minor, currency=reward.currency)
        return rewards_pb2.VoucherValue(amount_off=money)
    if reward.value_kind == "percent_off":
        return rewards_pb2.VoucherValue(percent_off_bp=reward.percent_off_bp or 0)
    if reward.value_kind == "free_product":
        return rewards_pb2.VoucherValue(free_product_sku=reward.product_sku or "")
    assert reward.value_kind == "free_game_play", reward.value_kind
    return rewards_pb2.VoucherValue(free_game_id=reward.game_id or "")


def reward_message(reward: RewardRow) -> rewards_pb2.Reward:
    message = rewards_pb2.Reward(
        reward_id=reward.reward_id,
        name=reward.name,
        description=reward.description,
        points_cost=reward.points_cost,
        channels=_channels(reward.channels),
        store_ids=reward.store_ids,
        unlimited_stock=reward.stock_total is None,
        stock_total=reward.stock_total or 0,
        stock_remaining=reward.stock_remaining or 0,
        per_member_limit=reward.per_member_limit,
        voucher_valid_days=reward.voucher_valid_days,
        value=value_message(reward),
        archived=reward.archived_at is not None,
        created_at=to_timestamp(reward.created_at),
        updated_at=to_timestamp(reward.updated_at),
    )
    if reward.visible_from is not None:
        message.visible_from.CopyFrom(to_timestamp(reward.visible_from))
    if reward.visible_until is not None:
        message.visible_until.CopyFrom(to_timestamp(reward.visible_until))
    return message


def voucher_message(voucher: VoucherRow, reward: RewardRow) -> rewards_pb2.Voucher:
    message = rewards_pb2.Voucher(
        voucher_id=voucher.voucher_id,
        code=format_code(voucher.code),
        reward_id=voucher.reward_id,
        reward_name=reward.name,
        member_id=voucher.member_id,
        state=VOUCHER_STATE_TO_PROTO[voucher.state],
        value=value_message(reward),
        points_charged=voucher.points_charged,
        source_type=voucher.source_type,
        source_ref=voucher.source_ref,
        issued_at=to_timestamp(voucher.issued_at),
        valid_until=to_timestamp(voucher.valid_until),
        channels=_channels(reward.channels),
        store_ids=reward.store_ids,
        used_store_id=voucher.used_store_id,
        used_channel=CHANNEL_TO_PROTO.get(voucher.used_channel, common_pb2.CHANNEL_UNSPECIFIED),
        used_order_id=voucher.used_order_id,
    )
    if voucher.used_at is not None:
        message.used_at.CopyFrom(to_timestamp(voucher.used_at))
    if voucher.closed_at is not None:
        message.closed_at.CopyFrom(to_timestamp(voucher.closed_at))
    return message
