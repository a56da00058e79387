"""Cross-channel bonus stories through gRPC: online then in store pays once; an out-of-order offline
upload does not pay twice; the rule conditions are validated and round-trip."""

from __future__ import annotations

import random
from datetime import timedelta

import grpc
import pytest
from loyalty.v1 import ledger_pb2, program_pb2

from loyalty_service.kernel.channel import Channel
from loyalty_service.proto_time import to_timestamp
from tests.journeys.conftest import now_of, web_order
from tests.journeys.test_domain import MONTHLY, SALE_CHANNELS, SECOND, Sale, _simulate
from tests.ledger.conftest import EPOCH, Programme, make_programme, member_ref, purchase, violations
from tests.support.api import Running, new_key


async def _bonus_rule(programme: Programme, name: str, **condition: bool) -> str:
    spec = program_pb2.EarningRuleSpec(
        name=name,
        kind=program_pb2.EARNING_RULE_KIND_BONUS,
        bonus_points=100 if "first_purchase_in_second_channel" in condition else 30,
        condition=program_pb2.RuleCondition(**condition),
    )
    answer = await programme.back.program.CreateEarningRule(
        program_pb2.CreateEarningRuleRequest(
            idempotency_key=new_key(), spec=spec, effective_from=to_timestamp(EPOCH)
        )
    )
    return str(answer.rule.rule_id)


def _bonuses(answer: ledger_pb2.RecordPurchaseResponse) -> dict[str, int]:
    return {a.name: a.points for a in answer.applied_rules if a.kind == program_pb2.EARNING_RULE_KIND_BONUS}


async def test_online_then_in_store_pays_the_cross_channel_bonuses_once(isolated_service: Running) -> None:
    """Goal: a member who first buys online then in a store gets "second channel" and "store and online
    this month" once each; later purchases in either channel get neither; an offline sale uploaded late,
    earlier in the month than the purchases already recorded, does not pay again."""
    running = isolated_service
    programme = await make_programme(running)
    await _bonus_rule(programme, "second channel", first_purchase_in_second_channel=True)
    await _bonus_rule(programme, "store and online", store_and_online_same_month=True)
    now = now_of(running)
    member = await programme.member()

    online = await web_order(programme, member, 2000, occurred_at=now - timedelta(hours=3))
    assert _bonuses(online) == {}
    in_store = await programme.buy(member, 1000, occurred_at=now - timedelta(hours=2))
    assert _bonuses(in_store) == {"second channel": 100, "store and online": 30}
    assert in_store.points == 10 + 130
    again_store = await programme.buy(member, 1000, occurred_at=now - timedelta(hours=1))
    again_online = await web_order(programme, member, 1000, occurred_at=now - timedelta(minutes=30))
    assert _bonuses(again_store) == _bonuses(again_online) == {}

    # Out of order: a till uploads a sale made before everything above (same month).
    late = purchase(
        member_ref(member),
        store_id=programme.store_id,
        amount_minor=1000,
        currency=programme.currency,
        occurred_at=now - timedelta(hours=4) if (now - timedelta(hours=4)).month == now.month else now,
    )
    synced = await programme.till.ledger.SyncOfflinePurchases(
        ledger_pb2.SyncOfflinePurchasesRequest(purchases=[late])
    )
    assert _bonuses(synced.results[0].purchase) == {}
    assert (await programme.balance(member)).lifetime_earned == 20 + (10 + 130) + 10 + 10 + 10


async def test_store_then_online_uploaded_late_pays_once(isolated_service: Running) -> None:
    """Goal: a store sale recorded first and an online order earlier the same month recorded after it:
    the online order completes nothing as of its time (only purchases before it count), and the store
    sale, already recorded, was not paid twice when a second online order arrives later."""
    running = isolated_service
    programme = await make_programme(running)
    await _bonus_rule(programme, "store and online", store_and_online_same_month=True)
    now = now_of(running)
    member = await programme.member()
    store_sale = await programme.buy(member, 1000, occurred_at=now - timedelta(hours=1))
    assert _bonuses(store_sale) == {}
    online_later = await web_order(programme, member, 1000, occurred_at=now - timedelta(minutes=10))
    assert _bonuses(online_later) == {"store and online": 30}
    online_earlier = await web_order(
        programme,
        member,
        1000,
        occurred_at=max(now - timedelta(hours=2), now.replace(day=1, hour=0, minute=0)),
    )
    assert _bonuses(online_earlier) == {}


async def test_cross_channel_conditions_are_validated_and_round_trip(isolated_service: Running) -> None:
    """Goal: the conditions are for BONUS rules, one per rule; what is saved is listed back."""
    running = isolated_service
    programme = await make_programme(running)
    multiplier = program_pb2.EarningRuleSpec(
        name="x2",
        kind=program_pb2.EARNING_RULE_KIND_MULTIPLIER,
        factor="2",
        condition=program_pb2.RuleCondition(store_and_online_same_month=True),
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await programme.back.program.CreateEarningRule(
            program_pb2.CreateEarningRuleRequest(idempotency_key=new_key(), spec=multiplier)
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "spec.condition.store_and_online_same_month" in violations(refused.value)
    both = program_pb2.EarningRuleSpec(
        name="both",
        kind=program_pb2.EARNING_RULE_KIND_BONUS,
        bonus_points=5,
        condition=program_pb2.RuleCondition(
            store_and_online_same_month=True, first_purchase_in_second_channel=True
        ),
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused_both:
        await programme.back.program.CreateEarningRule(
            program_pb2.CreateEarningRuleRequest(idempotency_key=new_key(), spec=both)
        )
    assert refused_both.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    rule_id = await _bonus_rule(programme, "second", first_purchase_in_second_channel=True)
    listed = await programme.back.program.ListEarningRules(program_pb2.ListEarningRulesRequest())
    saved = next(r for r in listed.rules if r.rule_id == rule_id)
    assert saved.spec.condition.first_purchase_in_second_channel
    assert not saved.spec.condition.store_and_online_same_month


async def test_shuffled_uploads_pay_exactly_what_the_model_pays(isolated_service: Running) -> None:
    """Goal: the service (SQL channel history, claims) pays the same purchases as the pure model of
    tests/journeys/test_domain.py, for sales of both channels recorded in shuffled order."""
    running = isolated_service
    programme = await make_programme(running)
    await _bonus_rule(programme, "second channel", first_purchase_in_second_channel=True)
    await _bonus_rule(programme, "store and online", store_and_online_same_month=True)
    now = now_of(running)
    for seed in range(3):
        rng = random.Random(seed)
        member = await programme.member()
        minutes = rng.sample(range(60, 25 * 24 * 60), 8)
        sales = [Sale(rng.choice(SALE_CHANNELS), now - timedelta(minutes=m)) for m in minutes]
        paid: dict[str, list[int]] = {"second channel": [], "store and online": []}
        for index, sale in enumerate(sales):
            if sale.channel is Channel.POS:
                answer = await programme.buy(member, 1000, occurred_at=sale.occurred_at)
            else:
                answer = await web_order(programme, member, 1000, occurred_at=sale.occurred_at)
            for name in _bonuses(answer):
                paid[name].append(index)
        assert paid["second channel"] == _simulate(sales, SECOND)
        assert paid["store and online"] == _simulate(sales, MONTHLY)
