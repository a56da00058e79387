"""The catalogue: back-office changes to rewards, and the offers a member sees."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from loyalty.v1 import rewards_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.errors import FailedPrecondition, NotFound
from loyalty_service.kernel.ids import new_id
from loyalty_service.ledger import api as ledger_api
from loyalty_service.rewards import store
from loyalty_service.rewards.api import available_problem
from loyalty_service.rewards.messages import reward_message
from loyalty_service.rewards.requests import Definition
from loyalty_service.rewards.store import RewardRow

__all__ = ["archive_reward", "create_reward", "member_offers", "update_reward"]


def _definition_values(definition: Definition) -> dict[str, object]:
    return {
        "name": definition.name,
        "description": definition.description,
        "points_cost": definition.points_cost,
        "channels": definition.channels,
        "store_ids": definition.store_ids,
        "per_member_limit": definition.per_member_limit,
        "visible_from": definition.visible_from,
        "visible_until": definition.visible_until,
        "voucher_valid_days": definition.voucher_valid_days,
        "value_kind": definition.value_kind,
        "amount_minor": definition.amount_minor,
        "currency": definition.currency,
        "percent_off_bp": definition.percent_off_bp,
        "product_sku": definition.product_sku,
        "game_id": definition.game_id,
    }


async def create_reward(
    conn: AsyncConnection, definition: Definition, *, now: datetime
) -> rewards_pb2.Reward:
    stock = None if definition.unlimited_stock else definition.stock
    reward = RewardRow(
        reward_id=new_id("rwd"),
        stock_total=stock,
        stock_remaining=stock,
        archived_at=None,
        created_at=now,
        updated_at=now,
        **_definition_values(definition),  # type: ignore[arg-type]
    )
    await store.insert_reward(conn, reward)
    return reward_message(reward)


async def update_reward(
    conn: AsyncConnection, reward_id: str, definition: Definition, *, now: datetime
) -> tuple[rewards_pb2.Reward, rewards_pb2.Reward]:
    """Replace the definition; the stock changes by `definition.stock`, never below what is left."""
    current = await store.get_reward(conn, reward_id, lock=True)
    if current is None:
        raise NotFound("reward", reward_id)
    total, remaining = current.stock_total, current.stock_remaining
    if definition.unlimited_stock:
        total = remaining = None
    elif total is None or remaining is None:
        raise FailedPrecondition(
            "an unlimited reward cannot become limited: create a new reward",
            reason="REWARD_STOCK_UNLIMITED",
            metadata={"reward_id": reward_id},
        )
    elif remaining + definition.stock < 0:
        raise FailedPrecondition(
            f"only {remaining} units are left to remove",
            reason="STOCK_BELOW_ISSUED",
            metadata={"reward_id": reward_id, "stock_remaining": remaining},
        )
    else:
        total, remaining = total + definition.stock, remaining + definition.stock
    reward = replace(
        current,
        stock_total=total,
        stock_remaining=remaining,
        updated_at=now,
        **_definition_values(definition),  # type: ignore[arg-type]
    )
    await store.update_reward(conn, reward)
    return reward_message(current), reward_message(reward)


async def archive_reward(
    conn: AsyncConnection, reward_id: str, *, now: datetime
) -> tuple[rewards_pb2.Reward, rewards_pb2.Reward]:
    """No more redemptions or grants; issued vouchers stay usable."""
    current = await store.get_reward(conn, reward_id, lock=True)
    if current is None:
        raise NotFound("reward", reward_id)
    reward = current if current.archived_at is not None else replace(current, archived_at=now, updated_at=now)
    await store.update_reward(conn, reward)
    return reward_message(current), reward_message(reward)


async def member_offers(
    conn: AsyncConnection, *, member_id: str | None, now: datetime
) -> list[rewards_pb2.RewardOffer]:
    """Rewards visible now; with a member, whether they can afford and may still redeem each."""
    visible = [
        r for r in await store.list_rewards(conn, include_archived=False) if available_problem(r, now) is None
    ]
    if member_id is None:
        return [rewards_pb2.RewardOffer(reward=reward_message(r)) for r in visible]
    available = await ledger_api.available_points(conn, member_id)
    held = await store.count_held(conn, member_id=member_id, reward_ids=[r.reward_id for r in visible])
    offers = []
    for reward in visible:
        count = held.get(reward.reward_id, 0)
        in_stock = reward.stock_remaining is None or reward.stock_remaining > 0
        under_limit = not reward.per_member_limit or count < reward.per_member_limit
        affordable = available >= reward.points_cost
        offers.append(
            rewards_pb2.RewardOffer(
                reward=reward_message(reward),
                affordable=affordable,
                redeemable=affordable and in_stock and under_limit,
                held=count,
            )
        )
    return offers
