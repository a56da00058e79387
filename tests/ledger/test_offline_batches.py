"""SyncOfflinePurchases in chunk transactions: each item still behaves exactly like its RecordPurchase.

The service writes a batch in transactions of several purchases, rerun with a savepoint per purchase when
one is refused (`Runtime.write_each`); these tests hold it to the per-item semantics across chunk
boundaries.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import grpc
from loyalty.v1 import common_pb2, ledger_pb2

from loyalty_service.ledger.check import check_ledger
from tests.ledger.conftest import Programme, member_ref, purchase
from tests.support.api import new_key


async def test_bad_items_never_fail_their_neighbours_across_chunks(programme: Programme) -> None:
    """Goal: 130 items over three chunks with failures in each: every good item is credited once,
    every bad one gets its own error and leaves nothing behind, balances add up per member."""
    members = [await programme.member() for _ in range(4)]
    now = datetime.now(UTC)
    rng = random.Random(7)
    items: list[ledger_pb2.RecordPurchaseRequest] = []
    expected: dict[str, int] = dict.fromkeys(members, 0)
    duplicate_order = "dup-" + new_key()
    outcome: list[str] = []
    for i in range(130):
        member_id = rng.choice(members)
        amount = rng.randrange(100, 5000)
        when = now - timedelta(hours=rng.randrange(1, 48))
        # Every 17th item repeats an order of the same batch (DUPLICATE_ORDER after its first),
        # every 29th names a member that does not exist (NOT_FOUND).
        order = duplicate_order if i % 17 == 5 else None
        ref = member_ref("mem_01J0000000000000000000000Z" if i % 29 == 11 else member_id)
        if i % 31 == 13:  # too old for an offline upload: FAILED_PRECONDITION
            when = now - timedelta(days=45)
        items.append(
            purchase(
                ref,
                store_id=programme.store_id,
                amount_minor=amount,
                currency=programme.currency,
                order_id=order,
                occurred_at=when,
            )
        )
        if i % 29 == 11:
            outcome.append("not_found")
        elif i % 31 == 13:
            outcome.append("too_old")
        elif order is not None and "credited_duplicate" in outcome:
            outcome.append("duplicate_order")
        else:
            outcome.append("credited_duplicate" if order is not None else "credited")
            expected[member_id] += amount // 100
    answer = await programme.till.ledger.SyncOfflinePurchases(
        ledger_pb2.SyncOfflinePurchasesRequest(purchases=items)
    )
    assert [r.index for r in answer.results] == list(range(130))
    for i, (result, wanted) in enumerate(zip(answer.results, outcome, strict=True)):
        if wanted.startswith("credited"):
            assert result.HasField("purchase"), (i, result)
            assert result.purchase.points == items[i].amount.amount_minor // 100
            assert not result.duplicate
        elif wanted == "not_found":
            assert result.error.code == grpc.StatusCode.NOT_FOUND.value[0], (i, result)
        elif wanted == "too_old":
            assert result.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0], (i, result)
            assert "older than" in result.error.message
        else:
            assert result.error.code == grpc.StatusCode.ALREADY_EXISTS.value[0], (i, result)
            assert "already recorded" in result.error.message
    for member_id, points in expected.items():
        assert (await programme.balance(member_id)).available == points
    # The whole upload again: every credited item is a duplicate with its first answer, nothing moves.
    again = await programme.till.ledger.SyncOfflinePurchases(
        ledger_pb2.SyncOfflinePurchasesRequest(purchases=items)
    )
    for first, second in zip(answer.results, again.results, strict=True):
        if first.HasField("purchase"):
            assert second.duplicate
            assert second.purchase == first.purchase
    for member_id, points in expected.items():
        assert (await programme.balance(member_id)).available == points


async def test_one_key_twice_in_a_batch_is_one_purchase(programme: Programme) -> None:
    """Goal: the same request twice under one key in one upload: credited once, the second a replay."""
    member_id = await programme.member()
    item = purchase(
        member_ref(member_id), store_id=programme.store_id, amount_minor=700, currency=programme.currency
    )
    answer = await programme.till.ledger.SyncOfflinePurchases(
        ledger_pb2.SyncOfflinePurchasesRequest(purchases=[item, item])
    )
    assert not answer.results[0].duplicate
    assert answer.results[1].duplicate
    assert answer.results[1].purchase == answer.results[0].purchase
    assert (await programme.balance(member_id)).available == 7


async def test_concurrent_uploads_on_the_same_members_all_land(programme: Programme) -> None:
    """Goal: four uploads at once, each touching the same members in a different order: no deadlock
    surfaces, every purchase is credited exactly once."""
    members = [await programme.member() for _ in range(5)]
    uploads = []
    for u in range(4):
        order = members[u:] + members[:u]
        uploads.append(
            [
                purchase(
                    member_ref(order[i % len(order)]),
                    store_id=programme.store_id,
                    amount_minor=100,
                    currency=programme.currency,
                )
                for i in range(60)
            ]
        )
    answers = await asyncio.gather(
        *(
            programme.till.ledger.SyncOfflinePurchases(ledger_pb2.SyncOfflinePurchasesRequest(purchases=u))
            for u in uploads
        )
    )
    assert all(r.HasField("purchase") for a in answers for r in a.results)
    assert sum([(await programme.balance(m)).available for m in members]) == 4 * 60


async def test_spends_racing_uploads_on_the_same_members_keep_every_ledger_exact(
    programme: Programme,
) -> None:
    """Goal: an upload reads each member's ledger without locking it again (the chunk locked it first);
    spends on the same members through the single-call path, at the same time, neither lose nor double
    a point, and every ledger invariant holds afterwards."""
    members = [await programme.member() for _ in range(4)]
    for member_id in members:
        await programme.buy(member_id, 10_000)  # 100 points each
    uploads = [
        [
            purchase(
                member_ref(members[(u + i) % len(members)]),
                store_id=programme.store_id,
                amount_minor=100,
                currency=programme.currency,
            )
            for i in range(40)
        ]
        for u in range(3)
    ]
    spends = [
        ledger_pb2.SpendPointsRequest(
            idempotency_key=new_key(),
            member=member_ref(members[i % len(members)]),
            points=3,
            channel=common_pb2.CHANNEL_WEBSHOP,
            order_id="w-" + new_key(),
        )
        for i in range(40)
    ]
    outcomes = await asyncio.gather(
        *(
            programme.till.ledger.SyncOfflinePurchases(ledger_pb2.SyncOfflinePurchasesRequest(purchases=u))
            for u in uploads
        ),
        *(programme.web.ledger.SpendPoints(s) for s in spends),
    )
    assert all(r.HasField("purchase") for a in outcomes[: len(uploads)] for r in a.results)
    for member_id in members:  # 100 + 30 credited - 10 spends of 3
        assert (await programme.balance(member_id)).available == 100 + 30 - 30
    async with programme.running.engine.connect() as conn:
        assert await check_ledger(conn) == []
