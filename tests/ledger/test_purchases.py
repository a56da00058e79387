"""RecordPurchase, RecordRefund and SyncOfflinePurchases through real gRPC on a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from loyalty.v1 import common_pb2, ledger_pb2

from loyalty_service.proto_time import to_timestamp
from tests.ledger.conftest import Programme, card_ref, member_ref, purchase, reason, violations
from tests.support.api import new_key


def refund(
    programme: Programme, order_id: str, amount_minor: int, **fields: object
) -> ledger_pb2.RecordRefundRequest:
    return ledger_pb2.RecordRefundRequest(
        idempotency_key=new_key(),
        channel=common_pb2.CHANNEL_POS,
        store_id=programme.store_id,
        order_id=order_id,
        amount=common_pb2.Money(amount_minor=amount_minor, currency=programme.currency),
        occurred_at=to_timestamp(datetime.now(UTC)),
        **fields,  # type: ignore[arg-type]
    )


async def test_purchase_credits_points_by_the_rules(programme: Programme) -> None:
    """Goal: a till's sale earns 1 point per unit, names the rule that gave them, shows in the balance."""
    member_id = await programme.member()
    answer = await programme.buy(member_id, 12_345)
    assert answer.points == 123
    assert answer.member_id == member_id
    assert answer.entry_id.startswith("ent_")
    assert [(r.name, r.points) for r in answer.applied_rules] == [(f"base {programme.currency}", 123)]
    assert answer.balance.available == 123
    assert answer.balance.lifetime_earned == 123
    assert (await programme.balance(member_id)).available == 123


async def test_same_key_same_answer_and_changed_payload_refused(programme: Programme) -> None:
    """Goal: a retry gets the first answer and no second credit; the same key with another sale is refused."""
    member_id = await programme.member()
    request = purchase(
        member_ref(member_id), store_id=programme.store_id, amount_minor=1000, currency=programme.currency
    )
    first = await programme.till.ledger.RecordPurchase(request)
    again = await programme.till.ledger.RecordPurchase(request)
    assert again == first
    changed = ledger_pb2.RecordPurchaseRequest()
    changed.CopyFrom(request)
    changed.amount.amount_minor = 2000
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.till.ledger.RecordPurchase(changed)
    assert caught.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert reason(caught.value) == "IDEMPOTENCY_KEY_REUSED"
    assert (await programme.balance(member_id)).available == 10


async def test_same_order_under_new_key_is_already_exists(programme: Programme) -> None:
    """Goal: one sale is credited once, even when a till sends it again under a fresh key."""
    member_id = await programme.member()
    await programme.buy(member_id, 1000, order_id="order-dup-" + new_key())
    order_id = "order-" + new_key()
    await programme.buy(member_id, 1000, order_id=order_id)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.buy(member_id, 1000, order_id=order_id)
    assert caught.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert reason(caught.value) == "DUPLICATE_ORDER"
    assert (await programme.balance(member_id)).available == 20


async def test_bad_purchase_is_invalid_argument_naming_every_field(programme: Programme) -> None:
    """Goal: every invalid field is named at once, and nothing is written."""
    member_id = await programme.member()
    request = ledger_pb2.RecordPurchaseRequest(
        idempotency_key="",
        channel=99,  # type: ignore[arg-type]
        store_id=programme.store_id,
        order_id="x" * 300,
        amount=common_pb2.Money(amount_minor=0, currency="eur"),
        occurred_at=to_timestamp(datetime.now(UTC) + timedelta(hours=1)),
        lines=[ledger_pb2.PurchaseLine(sku="s" * 300, quantity=0, amount_minor=-1)],
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.till.ledger.RecordPurchase(request)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(caught.value)) >= {
        "idempotency_key",
        "member",
        "channel",
        "order_id",
        "amount.amount_minor",
        "amount.currency",
        "occurred_at",
        "lines[0].sku",
        "lines[0].quantity",
        "lines[0].amount_minor",
    }
    too_many = purchase(
        member_ref(member_id),
        store_id=programme.store_id,
        amount_minor=100,
        currency=programme.currency,
        lines=[ledger_pb2.PurchaseLine(sku="a", quantity=1, amount_minor=1)] * 201,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.till.ledger.RecordPurchase(too_many)
    assert "lines" in violations(caught.value)
    balance = await programme.balance(member_id)
    assert (balance.available, balance.pending) == (0, 0)


async def test_unknown_member_is_not_found(programme: Programme) -> None:
    """Goal: an unknown member id is NOT_FOUND, and an unknown card outside a till is NOT_FOUND too."""
    request = purchase(
        member_ref("mem_01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        store_id=programme.store_id,
        amount_minor=100,
        currency=programme.currency,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.till.ledger.RecordPurchase(request)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    online = purchase(
        card_ref("UNKNOWN" + new_key()[2:10].upper()),
        store_id="",
        amount_minor=100,
        currency=programme.currency,
        channel=common_pb2.CHANNEL_WEBSHOP,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.web.ledger.RecordPurchase(online)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


async def test_till_of_another_store_is_permission_denied(programme: Programme) -> None:
    """Goal: a till credits only its own store's sales, in the POS channel; the web shop only WEBSHOP."""
    member_id = await programme.member()
    other_till = await programme.running.client("pos", store_id=await programme.running.store())
    request = purchase(
        member_ref(member_id), store_id=programme.store_id, amount_minor=100, currency=programme.currency
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await other_till.ledger.RecordPurchase(request)
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.web.ledger.RecordPurchase(request)
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_refund_reverses_in_proportion_and_never_more(programme: Programme) -> None:
    """Goal: three refunds of a third reverse exactly what the sale earned; a fourth is refused."""
    member_id = await programme.member()
    order_id = "o-" + new_key()
    await programme.buy(member_id, 1000, order_id=order_id)  # 10 points
    reversed_points = []
    for amount in (333, 333, 334):
        answer = await programme.till.ledger.RecordRefund(refund(programme, order_id, amount))
        reversed_points.append(answer.points_reversed)
    assert sum(reversed_points) == 10
    assert answer.refunded_total.amount_minor == 1000
    assert answer.balance.available == 0
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.till.ledger.RecordRefund(refund(programme, order_id, 1))
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(caught.value) == "REFUND_EXCEEDS_PURCHASE"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.till.ledger.RecordRefund(refund(programme, "no-such-order", 1))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


async def test_refund_after_spending_leaves_a_debt_that_blocks_spending(programme: Programme) -> None:
    """Goal: a refund of spent points takes the balance below zero, and spending is refused until repaid."""
    member_id = await programme.member()
    order_id = "o-" + new_key()
    await programme.buy(member_id, 5000, order_id=order_id)  # 50
    await programme.web.ledger.SpendPoints(
        ledger_pb2.SpendPointsRequest(
            idempotency_key=new_key(),
            member=member_ref(member_id),
            points=40,
            channel=common_pb2.CHANNEL_WEBSHOP,
            order_id="w-1",
        )
    )
    answer = await programme.till.ledger.RecordRefund(refund(programme, order_id, 5000))
    assert answer.points_reversed == 50
    assert answer.balance.available == -40
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.web.ledger.SpendPoints(
            ledger_pb2.SpendPointsRequest(
                idempotency_key=new_key(),
                member=member_ref(member_id),
                points=1,
                channel=common_pb2.CHANNEL_WEBSHOP,
                order_id="w-2",
            )
        )
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(caught.value) == "INSUFFICIENT_POINTS"
    repaid = await programme.buy(member_id, 6000)  # 60 earned, 40 pay the debt
    assert repaid.balance.available == 20


async def test_offline_sync_gives_a_result_per_item(programme: Programme) -> None:
    """Goal: one upload, a result per item: credited, duplicate with the first answer, or its own error."""
    member_id = await programme.member()
    now = datetime.now(UTC)
    ok = purchase(
        member_ref(member_id),
        store_id=programme.store_id,
        amount_minor=1000,
        currency=programme.currency,
        occurred_at=now - timedelta(days=2),
    )
    old = purchase(
        member_ref(member_id),
        store_id=programme.store_id,
        amount_minor=1000,
        currency=programme.currency,
        occurred_at=now - timedelta(days=40),
    )
    bad = purchase(
        member_ref(member_id), store_id=programme.store_id, amount_minor=-5, currency=programme.currency
    )
    first = await programme.till.ledger.SyncOfflinePurchases(
        ledger_pb2.SyncOfflinePurchasesRequest(purchases=[ok, old, bad])
    )
    assert [r.index for r in first.results] == [0, 1, 2]
    assert first.results[0].purchase.points == 10
    assert not first.results[0].duplicate
    assert first.results[1].error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert first.results[2].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert first.results[2].error.field_violations[0].field == "amount.amount_minor"
    again = await programme.till.ledger.SyncOfflinePurchases(
        ledger_pb2.SyncOfflinePurchasesRequest(purchases=[ok])
    )
    assert again.results[0].duplicate
    assert again.results[0].purchase == first.results[0].purchase
    # The same item sent through RecordPurchase is the same request under the same key.
    assert await programme.till.ledger.RecordPurchase(ok) == first.results[0].purchase
    assert (await programme.balance(member_id)).available == 10
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.till.ledger.SyncOfflinePurchases(ledger_pb2.SyncOfflinePurchasesRequest())
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
