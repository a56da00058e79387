"""The unknown card story: a till credits a provisional member, the card is linked later, the points move."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import grpc
import pytest
from loyalty.v1 import common_pb2, ledger_pb2, members_pb2

from loyalty_service.ledger.check import check_ledger
from loyalty_service.proto_time import to_timestamp
from tests.ledger.conftest import Programme, card_ref, purchase, reason
from tests.support.api import new_key


async def test_unknown_card_then_link_merges_the_ledger(programme: Programme) -> None:
    """Goal: two sales on a new card accrue to one provisional member; linking the card moves its points,
    purchases and lots to the real member with a pair of merge entries, and later refunds follow them."""
    card = "NEW" + secrets.token_hex(5).upper()
    first = await programme.till.ledger.RecordPurchase(
        purchase(card_ref(card), store_id=programme.store_id, amount_minor=4000, currency=programme.currency)
    )
    assert first.provisional_member_created
    order_id = "o-" + new_key()
    second = await programme.till.ledger.RecordPurchase(
        purchase(
            card_ref(card),
            store_id=programme.store_id,
            amount_minor=2000,
            currency=programme.currency,
            order_id=order_id,
        )
    )
    assert not second.provisional_member_created
    provisional = second.member_id
    assert provisional == first.member_id
    assert second.balance.available == 60

    real = await programme.member()
    await programme.buy(real, 1000)
    linked = await programme.web.members.LinkIdentifier(
        members_pb2.LinkIdentifierRequest(
            idempotency_key=new_key(),
            member_id=real,
            identifier=common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_CARD, value=card),
        )
    )
    assert (linked.merged_member_id, linked.merged_points) == (provisional, 60)
    balance = await programme.balance(real)
    assert (balance.available, balance.lifetime_earned) == (70, 70)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programme.balance(provisional)
    assert reason(caught.value) == "MEMBER_CLOSED"

    history = await programme.back.ledger.ListLedgerEntries(
        ledger_pb2.ListLedgerEntriesRequest(member_id=real)
    )
    assert (history.entries[0].type, history.entries[0].points) == (ledger_pb2.ENTRY_TYPE_MERGE_IN, 60)
    old = await programme.back.ledger.ListLedgerEntries(
        ledger_pb2.ListLedgerEntriesRequest(member_id=provisional)
    )
    assert (old.entries[0].type, old.entries[0].points, old.entries[0].balance_after) == (
        ledger_pb2.ENTRY_TYPE_MERGE_OUT,
        -60,
        0,
    )

    refund = await programme.till.ledger.RecordRefund(
        ledger_pb2.RecordRefundRequest(
            idempotency_key=new_key(),
            channel=common_pb2.CHANNEL_POS,
            store_id=programme.store_id,
            order_id=order_id,
            amount=common_pb2.Money(amount_minor=2000, currency=programme.currency),
            occurred_at=to_timestamp(datetime.now(UTC)),
        )
    )
    assert (refund.member_id, refund.points_reversed, refund.balance.available) == (real, 20, 50)
    # The card now names the real member: a sale on it credits them, no new provisional member.
    third = await programme.till.ledger.RecordPurchase(
        purchase(card_ref(card), store_id=programme.store_id, amount_minor=500, currency=programme.currency)
    )
    assert (third.member_id, third.provisional_member_created) == (real, False)
    async with programme.running.engine.connect() as conn:
        problems = await check_ledger(conn)
    assert [p for p in problems if real in p or provisional in p] == []


async def test_spend_on_provisional_then_merge_keeps_spend_cancellable(programme: Programme) -> None:
    """Goal: a spend made before the merge can still be cancelled after it, on the real member."""
    card = "SPD" + secrets.token_hex(5).upper()
    first = await programme.till.ledger.RecordPurchase(
        purchase(card_ref(card), store_id=programme.store_id, amount_minor=3000, currency=programme.currency)
    )
    spent = await programme.till.ledger.SpendPoints(
        ledger_pb2.SpendPointsRequest(
            idempotency_key=new_key(),
            member=card_ref(card),
            points=10,
            channel=common_pb2.CHANNEL_POS,
            store_id=programme.store_id,
            order_id="s1",
        )
    )
    real = await programme.member()
    await programme.web.members.LinkIdentifier(
        members_pb2.LinkIdentifierRequest(
            idempotency_key=new_key(),
            member_id=real,
            identifier=common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_CARD, value=card),
        )
    )
    assert (await programme.balance(real)).available == 20
    back = await programme.till.ledger.CancelSpend(
        ledger_pb2.CancelSpendRequest(idempotency_key=new_key(), member_id=real, spend_id=spent.spend_id)
    )
    assert back.balance.available == 30
    assert first.member_id != real
