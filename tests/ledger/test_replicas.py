"""Invariant 3 across replicas: 200 spends racing on one member through two server processes."""

from __future__ import annotations

import asyncio
import random

import grpc
import pytest
from loyalty.v1 import common_pb2, ledger_pb2, members_pb2

from tests.support.api import Client, new_key
from tests.support.replicas import StartServers, ledger_problems, replicas

INITIAL = 1_000
SPENDS = 200


async def _spend(client: Client, member_id: str, points: int) -> int:
    """The points spent: `points`, or 0 if refused for lack of points."""
    request = ledger_pb2.SpendPointsRequest(
        idempotency_key=new_key(),
        member=common_pb2.MemberRef(member_id=member_id),
        points=points,
        channel=common_pb2.CHANNEL_WEBSHOP,
        order_id="o-" + new_key(),
    )
    try:
        answer = await client.ledger.SpendPoints(request, timeout=60)
    except grpc.aio.AioRpcError as error:
        if error.code() is not grpc.StatusCode.FAILED_PRECONDITION:
            raise
        return 0
    assert answer.balance.available >= 0
    return points


@pytest.mark.slow
async def test_concurrent_spends_on_two_replicas_never_overdraw(
    server_processes: StartServers,
) -> None:
    """Goal: whatever the interleaving across processes, the balance never goes below zero and the
    successful spends add up to at most what was there (exactly what left the balance)."""
    async with replicas(server_processes, 2, key_name="replica test") as pair:
        webs = [Client(channel, pair.keys["webshop"]) for channel in pair.channels]
        back = Client(pair.channels[0], pair.keys["backoffice"])
        enrolled = await webs[0].members.EnrollMember(
            members_pb2.EnrollMemberRequest(idempotency_key=new_key())
        )
        member_id = enrolled.member.member_id
        await back.ledger.AdjustPoints(
            ledger_pb2.AdjustPointsRequest(
                idempotency_key=new_key(), member_id=member_id, points=INITIAL, reason="test float"
            )
        )
        wanted = [random.randint(1, 12) for _ in range(SPENDS)]
        spent = await asyncio.gather(
            *(_spend(webs[i % 2], member_id, points) for i, points in enumerate(wanted))
        )
        assert sum(spent) <= INITIAL
        assert sum(wanted) > INITIAL, "the test must ask for more than there is"
        balance = await back.ledger.GetBalance(
            ledger_pb2.GetBalanceRequest(member=common_pb2.MemberRef(member_id=member_id))
        )
        assert balance.balance.available == INITIAL - sum(spent)
        assert balance.balance.available >= 0
        entries = await back.ledger.ListLedgerEntries(
            ledger_pb2.ListLedgerEntriesRequest(member_id=member_id, page_size=500)
        )
        assert all(entry.balance_after >= 0 for entry in entries.entries)
        assert len(entries.entries) == 1 + sum(1 for s in spent if s)
    assert await ledger_problems(pair.url) == []
