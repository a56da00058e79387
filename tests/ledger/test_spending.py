"""SpendPoints, CancelSpend, AdjustPoints, GetBalance and ListLedgerEntries through real gRPC."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from loyalty.v1 import common_pb2, ledger_pb2

from tests.ledger.conftest import Programme, member_ref, reason, violations
from tests.support.api import Client, new_key


def spend(member_id: str, points: int, **fields: object) -> ledger_pb2.SpendPointsRequest:
    values: dict[str, object] = {
        "idempotency_key": new_key(),
        "member": member_ref(member_id),
        "points": points,
        "channel": common_pb2.CHANNEL_WEBSHOP,
        "order_id": "w-" + new_key(),
    }
    values.update(fields)
    return ledger_pb2.SpendPointsRequest(**values)  # type: ignore[arg-type]


async def test_spend_and_cancel_once(programme: Programme) -> None:
    """Goal: a spend takes points, its cancellation gives them back once, a second cancellation is refused."""
    member_id = await programme.member()
    await programme.buy(member_id, 10_000)
    spent = await programme.web.ledger.SpendPoints(spend(member_id, 30))
    assert spent.balance.available == 70
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.web.ledger.SpendPoints(spend(member_id, 71))
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(caught.value) == "INSUFFICIENT_POINTS"
    cancel = ledger_pb2.CancelSpendRequest(
        idempotency_key=new_key(), member_id=member_id, spend_id=spent.spend_id
    )
    back = await programme.web.ledger.CancelSpend(cancel)
    assert (back.points_returned, back.balance.available) == (30, 100)
    assert await programme.web.ledger.CancelSpend(cancel) == back
    cancel.idempotency_key = new_key()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.web.ledger.CancelSpend(cancel)
    assert reason(caught.value) == "SPEND_ALREADY_CANCELLED"
    cancel.spend_id = "spd_01ARZ3NDEKTSV4RRFFQ69G5FAV"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.web.ledger.CancelSpend(cancel)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


async def test_bad_spend_is_invalid_argument(programme: Programme) -> None:
    """Goal: zero, negative or huge points, no member and a bad channel are refused by field."""
    for points in (0, -5, 10**12):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await programme.web.ledger.SpendPoints(spend(await programme.member(), points))
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "points" in violations(caught.value)
    request = ledger_pb2.SpendPointsRequest(idempotency_key=new_key(), points=1, channel=7)  # type: ignore[arg-type]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.web.ledger.SpendPoints(request)
    assert {"member", "channel", "order_id"} <= set(violations(caught.value))


async def test_adjust_both_ways_with_reason(programme: Programme) -> None:
    """Goal: the back office corrects up and down with a reason; a debit past zero leaves a debt."""
    member_id = await programme.member()
    up = await programme.back.ledger.AdjustPoints(
        ledger_pb2.AdjustPointsRequest(
            idempotency_key=new_key(), member_id=member_id, points=25, reason="goodwill"
        )
    )
    assert up.balance.available == 25
    down = await programme.back.ledger.AdjustPoints(
        ledger_pb2.AdjustPointsRequest(
            idempotency_key=new_key(), member_id=member_id, points=-30, reason="fraud"
        )
    )
    assert down.balance.available == -5
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.back.ledger.AdjustPoints(
            ledger_pb2.AdjustPointsRequest(idempotency_key=new_key(), member_id=member_id, points=0)
        )
    assert set(violations(caught.value)) == {"points", "reason"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.web.ledger.AdjustPoints(
            ledger_pb2.AdjustPointsRequest(
                idempotency_key=new_key(), member_id=member_id, points=1, reason="x"
            )
        )
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_member_token_sees_only_its_own_ledger(programme: Programme) -> None:
    """Goal: the app reads its member's balance and history, and gets PERMISSION_DENIED for anyone else."""
    mine, theirs = await programme.member(), await programme.member()
    await programme.buy(mine, 500)
    app: Client = await programme.running.member_client(mine)
    balance = await app.ledger.GetBalance(ledger_pb2.GetBalanceRequest(member=member_ref(mine)))
    assert balance.balance.available == 5
    listing = await app.ledger.ListLedgerEntries(ledger_pb2.ListLedgerEntriesRequest(member_id=mine))
    assert [e.type for e in listing.entries] == [ledger_pb2.ENTRY_TYPE_EARN]
    for call in (
        app.ledger.GetBalance(ledger_pb2.GetBalanceRequest(member=member_ref(theirs))),
        app.ledger.ListLedgerEntries(ledger_pb2.ListLedgerEntriesRequest(member_id=theirs)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_entries_newest_first_with_cursor_and_filters(programme: Programme) -> None:
    """Goal: history pages newest first without gaps or repeats, and filters by type and channel."""
    member_id = await programme.member()
    for amount in range(100, 800, 100):
        await programme.buy(member_id, amount)
    await programme.web.ledger.SpendPoints(spend(member_id, 3))
    seen: list[ledger_pb2.LedgerEntry] = []
    token = ""
    for _ in range(10):
        page = await programme.back.ledger.ListLedgerEntries(
            ledger_pb2.ListLedgerEntriesRequest(member_id=member_id, page_size=3, page_token=token)
        )
        seen.extend(page.entries)
        token = page.next_page_token
        if not token:
            break
    assert [e.points for e in seen] == [-3, 7, 6, 5, 4, 3, 2, 1]
    assert seen[0].balance_after == 25
    assert seen[0].channel == common_pb2.CHANNEL_WEBSHOP
    assert (seen[1].store_id, seen[1].source_type) == (programme.store_id, "purchase")
    assert (seen[1].HasField("occurred_at"), seen[1].HasField("recorded_at")) == (True, True)
    spends = await programme.back.ledger.ListLedgerEntries(
        ledger_pb2.ListLedgerEntriesRequest(member_id=member_id, types=[ledger_pb2.ENTRY_TYPE_SPEND])
    )
    assert [e.points for e in spends.entries] == [-3]
    pos = await programme.back.ledger.ListLedgerEntries(
        ledger_pb2.ListLedgerEntriesRequest(member_id=member_id, channels=[common_pb2.CHANNEL_POS])
    )
    assert len(pos.entries) == 7
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.back.ledger.ListLedgerEntries(
            ledger_pb2.ListLedgerEntriesRequest(member_id=member_id, page_size=501, page_token="garbage")
        )
    assert set(violations(caught.value)) == {"page_size", "page_token"}


async def test_twenty_racing_calls_with_one_key_have_one_effect(programme: Programme) -> None:
    """Goal: 20 concurrent identical spends under one key: one spend, twenty identical answers."""
    member_id = await programme.member()
    await programme.buy(member_id, 10_000)
    request = spend(member_id, 10)
    answers = await asyncio.gather(*(programme.web.ledger.SpendPoints(request) for _ in range(20)))
    assert all(answer == answers[0] for answer in answers)
    assert (await programme.balance(member_id)).available == 90
    entries = await programme.back.ledger.ListLedgerEntries(
        ledger_pb2.ListLedgerEntriesRequest(member_id=member_id, types=[ledger_pb2.ENTRY_TYPE_SPEND])
    )
    assert len(entries.entries) == 1
