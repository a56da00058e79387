"""Rewards test helpers: a RewardService stub per client, a reward factory, points for a member."""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from loyalty.v1 import common_pb2, ledger_pb2, rewards_pb2, rewards_pb2_grpc

from tests.support.api import Client, Running, _Authed, new_key

__all__ = ["details", "give_points", "make_reward", "reason", "rewards_stub"]


def rewards_stub(channel: grpc.aio.Channel, client: Client) -> Any:
    return _Authed(
        rewards_pb2_grpc.RewardServiceStub(channel), (("authorization", f"Bearer {client.secret}"),)
    )


def details(error: grpc.aio.AioRpcError) -> tuple[str, dict[str, str], dict[str, str]]:
    """(ErrorInfo reason, its metadata, BadRequest field -> description)."""
    status = status_pb2.Status.FromString(dict(error.trailing_metadata() or ())["grpc-status-details-bin"])
    found_reason, metadata, fields = "", {}, {}
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            found_reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields.update({v.field: v.description for v in bad.field_violations})
    return found_reason, metadata, fields


def reason(error: grpc.aio.AioRpcError) -> str:
    return details(error)[0]


async def give_points(back: Client, member_id: str, points: int) -> None:
    await back.ledger.AdjustPoints(
        ledger_pb2.AdjustPointsRequest(
            idempotency_key=new_key(), member_id=member_id, points=points, reason="test float"
        )
    )


async def make_reward(
    running: Running,
    *,
    points_cost: int = 100,
    stock: int | None = 10,
    store_ids: tuple[str, ...] = (),
    channels: tuple[common_pb2.Channel.ValueType, ...] = (common_pb2.CHANNEL_POS, common_pb2.CHANNEL_WEBSHOP),
    per_member_limit: int = 0,
    valid_days: int = 30,
) -> rewards_pb2.Reward:
    back = await running.client("backoffice")
    definition = rewards_pb2.RewardDefinition(
        name="Coffee mug",
        description="A mug",
        points_cost=points_cost,
        channels=list(channels),
        store_ids=list(store_ids),
        unlimited_stock=stock is None,
        stock=stock or 0,
        per_member_limit=per_member_limit,
        voucher_valid_days=valid_days,
        value=rewards_pb2.VoucherValue(amount_off=common_pb2.Money(amount_minor=500, currency="EUR")),
    )
    answer = await back.program.CreateReward(
        rewards_pb2.CreateRewardRequest(idempotency_key=new_key(), reward=definition)
    )
    reward: rewards_pb2.Reward = answer.reward
    return reward
