"""Group commit of RecordPurchase and SpendPoints (loyalty_service/group_commit.py): concurrent calls share
transactions, and each still gets exactly the answer, effect and error it would get alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from loyalty.v1 import common_pb2, ledger_pb2
from prometheus_client import REGISTRY

from loyalty_service.app import start_service
from loyalty_service.ledger.check import check_ledger
from tests.conftest import test_settings as settings_for_tests
from tests.ledger.conftest import Programme, make_programme, member_ref, purchase, reason
from tests.support.api import Running, new_key
from tests.support.database import TestDatabase


@pytest.fixture
async def programme(test_db: TestDatabase, tmp_path: Path) -> AsyncIterator[Programme]:
    """A programme on a server with group commit on (two groups in their transactions at once)."""
    url = await test_db.new_database()
    settings = settings_for_tests(url, tmp_path).model_copy(update={"group_commit_transactions": 2})
    service = await start_service(settings, serve_metrics=False)
    running = Running(
        service=service, channel=grpc.aio.insecure_channel(f"127.0.0.1:{service.port}"), url=url
    )
    try:
        yield await make_programme(running)
    finally:
        await running.channel.close()
        await service.stop(0)


def _grouped(method: str = "RecordPurchase") -> tuple[float, float]:
    """(groups, calls) of `method` committed by group commit so far in this process."""
    labels = {"grpc_method": method}
    groups = REGISTRY.get_sample_value("loyalty_group_commit_transactions_total", labels) or 0.0
    calls = REGISTRY.get_sample_value("loyalty_group_commit_calls_total", labels) or 0.0
    return groups, calls


async def test_concurrent_purchases_share_transactions_and_keep_their_own_answers(
    programme: Programme,
) -> None:
    """Goal: forty purchases at once on five members are committed in fewer transactions than calls, and
    every caller gets its own purchase back; a duplicate order among them is refused alone; the same
    request twice under one key is one purchase and a replay; the same key from another caller (another
    idempotency scope) is a purchase of its own; every ledger invariant holds."""
    members = [await programme.member() for _ in range(5)]
    requests = [
        purchase(
            member_ref(members[i % 5]),
            store_id=programme.store_id,
            amount_minor=100 * (i + 1),
            currency=programme.currency,
        )
        for i in range(40)
    ]
    duplicate_order = purchase(
        member_ref(members[0]),
        store_id=programme.store_id,
        amount_minor=5_000,
        currency=programme.currency,
        order_id=requests[0].order_id,
    )
    web_same_key = ledger_pb2.RecordPurchaseRequest()
    web_same_key.CopyFrom(requests[2])
    web_same_key.channel = common_pb2.CHANNEL_WEBSHOP
    web_same_key.store_id = ""
    before = _grouped()

    answers = await asyncio.gather(
        *(programme.till.ledger.RecordPurchase(r) for r in requests),
        programme.till.ledger.RecordPurchase(requests[1]),  # the same call again, same key
        programme.till.ledger.RecordPurchase(duplicate_order),
        programme.web.ledger.RecordPurchase(web_same_key),
        return_exceptions=True,
    )

    groups = _grouped()[0] - before[0]
    calls = _grouped()[1] - before[1]
    assert calls == 43, "every call went through group commit"
    assert groups < calls, "some calls shared a transaction"
    first, again, refused, web = answers[0], answers[40], answers[41], answers[42]
    for i, answer in enumerate(answers[1:40], start=1):
        assert isinstance(answer, ledger_pb2.RecordPurchaseResponse), answer
        assert answer.member_id == members[i % 5]
        assert answer.points == i + 1, "the caller's own purchase, not a neighbour's"
    assert isinstance(again, ledger_pb2.RecordPurchaseResponse)
    assert again == answers[1], "one key, one purchase: the second call replays the first answer"
    # The same order twice under different keys: exactly one is recorded, the other ALREADY_EXISTS.
    outcomes = [first, refused]
    recorded = [a for a in outcomes if isinstance(a, ledger_pb2.RecordPurchaseResponse)]
    errors = [a for a in outcomes if isinstance(a, grpc.aio.AioRpcError)]
    assert len(recorded) == 1
    assert [e.code() for e in errors] == [grpc.StatusCode.ALREADY_EXISTS]
    assert isinstance(web, ledger_pb2.RecordPurchaseResponse)
    assert web.purchase_id != answers[2].purchase_id, "another caller's key is its own"

    expected = dict.fromkeys(members, 0)
    for i in range(40):
        expected[members[i % 5]] += i + 1
    expected[members[0]] += 0 if recorded[0] is first else 50 - 1  # the duplicate order won instead of #0
    expected[members[2]] += 3  # the web shop's purchase under the till's key
    for member_id, points in expected.items():
        assert (await programme.balance(member_id)).available == points
    async with programme.running.engine.connect() as conn:
        assert await check_ledger(conn) == []


async def test_a_lone_purchase_is_written_at_once(programme: Programme) -> None:
    """Goal: with nothing else in flight a call is a group of one, written without waiting."""
    member_id = await programme.member()
    before = _grouped()
    answer = await programme.till.ledger.RecordPurchase(
        purchase(
            member_ref(member_id),
            store_id=programme.store_id,
            amount_minor=700,
            currency=programme.currency,
            key=new_key(),
        )
    )
    after = _grouped()
    assert answer.points == 7
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


async def test_a_lone_refused_purchase_leaves_nothing_behind(programme: Programme) -> None:
    """Goal: a group of one runs as a lone call; its refusal is its caller's error and keeps nothing: the
    order stays with its first purchase, the key is not spent (the same call refused again, not replayed),
    and a lone purchase retried under its key is a replay in the caller's own scope."""
    member_id = await programme.member()
    first = purchase(
        member_ref(member_id), store_id=programme.store_id, amount_minor=900, currency=programme.currency
    )
    recorded = await programme.till.ledger.RecordPurchase(first)
    assert await programme.till.ledger.RecordPurchase(first) == recorded, "a retry replays the answer"
    same_order = purchase(
        member_ref(member_id),
        store_id=programme.store_id,
        amount_minor=2_500,
        currency=programme.currency,
        order_id=first.order_id,
    )
    before = _grouped()
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await programme.till.ledger.RecordPurchase(same_order)
        assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert _grouped()[0] - before[0] == 2, "each refusal was a group of its own"
    assert (await programme.balance(member_id)).available == 9
    async with programme.running.engine.connect() as conn:
        assert await check_ledger(conn) == []


async def test_concurrent_spends_share_transactions_and_each_is_refused_or_taken_alone(
    programme: Programme,
) -> None:
    """Goal: forty spends at once on four members with 50 points each, ten points a spend, in fewer
    transactions than calls: on each member exactly five are taken and the others refused with
    INSUFFICIENT_POINTS (a refusal never fails its group's neighbours), every answer is its own spend,
    a repeated key replays its first answer, and every ledger invariant holds."""
    members = [await programme.member() for _ in range(4)]
    for member_id in members:
        await programme.till.ledger.RecordPurchase(
            purchase(
                member_ref(member_id),
                store_id=programme.store_id,
                amount_minor=5_000,
                currency=programme.currency,
            )
        )
    spends = [
        ledger_pb2.SpendPointsRequest(
            idempotency_key=new_key(),
            member=member_ref(members[i % 4]),
            points=10,
            channel=common_pb2.CHANNEL_WEBSHOP,
            order_id="w-" + new_key(),
        )
        for i in range(40)
    ]
    before = _grouped("SpendPoints")
    answers = await asyncio.gather(
        *(programme.web.ledger.SpendPoints(s) for s in spends),
        programme.web.ledger.SpendPoints(spends[0]),  # the same call again, same key
        return_exceptions=True,
    )
    groups, calls = (after - was for after, was in zip(_grouped("SpendPoints"), before, strict=True))
    assert calls == 41, "every call went through group commit"
    assert groups < calls, "some calls shared a transaction"

    taken: dict[str, set[str]] = {m: set() for m in members}
    for i, answer in enumerate(answers):
        member_id = members[i % 4]  # the repeat (index 40) is spends[0]'s member, members[0]
        if isinstance(answer, ledger_pb2.SpendPointsResponse):
            assert answer.balance.member_id == member_id, "the caller's own spend, not a neighbour's"
            taken[member_id].add(answer.spend_id)
        else:
            assert isinstance(answer, grpc.aio.AioRpcError), answer
            assert answer.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert reason(answer) == "INSUFFICIENT_POINTS"
    if isinstance(answers[0], ledger_pb2.SpendPointsResponse):
        assert answers[40] == answers[0], "one key, one spend: the repeat replays the first answer"
    # (A refused first call kept nothing, its key included: the repeat was a spend attempt of its own.)
    assert {m: len(ids) for m, ids in taken.items()} == dict.fromkeys(members, 5)
    for member_id in members:
        assert (await programme.balance(member_id)).available == 0
    async with programme.running.engine.connect() as conn:
        assert await check_ledger(conn) == []
