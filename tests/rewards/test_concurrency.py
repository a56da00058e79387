"""Invariant 5 across replicas: 300 redemptions racing for a stock of 50 through two server processes."""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc
import pytest
from loyalty.v1 import common_pb2, ledger_pb2, members_pb2, rewards_pb2

from tests.rewards.conftest import reason, rewards_stub
from tests.support.api import Client, new_key
from tests.support.replicas import StartServers, ledger_problems, replicas

STOCK = 50
REDEMPTIONS = 300
COST = 100
RICH_MEMBERS = 30


@pytest.mark.slow
async def test_300_redemptions_never_oversell_a_stock_of_50(
    server_processes: StartServers,
) -> None:
    """Goal: exactly 50 vouchers, nobody negative, the member with points for 3 gets at most 3, and
    every refusal says why (OUT_OF_STOCK or INSUFFICIENT_POINTS)."""
    async with replicas(server_processes, 2, key_name="race") as pair:
        webs = [rewards_stub(channel, Client(channel, pair.keys["webshop"])) for channel in pair.channels]
        web_members = Client(pair.channels[0], pair.keys["webshop"])
        back = Client(pair.channels[0], pair.keys["backoffice"])
        definition = rewards_pb2.RewardDefinition(
            name="Tote bag",
            points_cost=COST,
            channels=[common_pb2.CHANNEL_WEBSHOP],
            stock=STOCK,
            voucher_valid_days=30,
            value=rewards_pb2.VoucherValue(free_product_sku="TOTE-1"),
        )
        reward = (
            await back.program.CreateReward(
                rewards_pb2.CreateRewardRequest(idempotency_key=new_key(), reward=definition)
            )
        ).reward
        members = []
        for index in range(RICH_MEMBERS + 1):
            enrolled = await web_members.members.EnrollMember(
                members_pb2.EnrollMemberRequest(idempotency_key=new_key())
            )
            points = COST * 3 if index == 0 else COST * 20
            await back.ledger.AdjustPoints(
                ledger_pb2.AdjustPointsRequest(
                    idempotency_key=new_key(),
                    member_id=enrolled.member.member_id,
                    points=points,
                    reason="race",
                )
            )
            members.append(enrolled.member.member_id)
        poor = members[0]

        async def redeem(index: int) -> tuple[str, str]:
            member_id = poor if index % 10 == 0 else members[1 + index % RICH_MEMBERS]
            request = rewards_pb2.RedeemRewardRequest(
                idempotency_key=new_key(),
                member=common_pb2.MemberRef(member_id=member_id),
                reward_id=reward.reward_id,
                channel=common_pb2.CHANNEL_WEBSHOP,
            )
            try:
                answer = await webs[index % 2].RedeemReward(request, timeout=120)
            except grpc.aio.AioRpcError as error:
                return member_id, f"{error.code().name}:{reason(error)}"
            assert answer.available_points >= 0
            return member_id, "OK"

        outcomes = await asyncio.gather(*(redeem(i) for i in range(REDEMPTIONS)))
        counts = Counter(outcome for _member, outcome in outcomes)
        assert counts["OK"] == STOCK
        assert set(counts) <= {
            "OK",
            "FAILED_PRECONDITION:OUT_OF_STOCK",
            "FAILED_PRECONDITION:INSUFFICIENT_POINTS",
        }, counts
        assert sum(1 for m, o in outcomes if m == poor and o == "OK") <= 3
        catalogue = await back.program.ListRewardCatalogue(rewards_pb2.ListRewardCatalogueRequest())
        mine = next(r for r in catalogue.rewards if r.reward_id == reward.reward_id)
        assert mine.stock_remaining == 0
        for member_id in members:
            balance = await back.ledger.GetBalance(
                ledger_pb2.GetBalanceRequest(member=common_pb2.MemberRef(member_id=member_id))
            )
            assert balance.balance.available >= 0
    assert await ledger_problems(pair.url) == []
