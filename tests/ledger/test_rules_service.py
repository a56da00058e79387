"""ProgramService earning rules: versions, promotions as of occurred_at, validation, and the cache."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from loyalty.v1 import common_pb2, ledger_pb2, program_pb2

from loyalty_service.proto_time import to_timestamp
from tests.ledger.conftest import make_programme, violations
from tests.support.api import Running, new_key


def _spec(**fields: object) -> program_pb2.EarningRuleSpec:
    return program_pb2.EarningRuleSpec(**fields)  # type: ignore[arg-type]


async def test_versions_apply_as_of_occurred_at(isolated_service: Running) -> None:
    """Goal: a weekend double-points promotion and a later rate change are applied by when the sale
    happened, so an offline sale uploaded after the change still earns by the rules of its day."""
    programme = await make_programme(isolated_service)
    clock = isolated_service.clock
    assert clock is not None
    start = clock.now()
    back = programme.back
    promo = await back.program.CreateEarningRule(
        program_pb2.CreateEarningRuleRequest(
            idempotency_key=new_key(),
            spec=_spec(
                name="double shoes",
                kind=program_pb2.EARNING_RULE_KIND_MULTIPLIER,
                factor="2",
                valid_from=to_timestamp(start - timedelta(days=1)),
                valid_to=to_timestamp(start + timedelta(days=1)),
                condition=program_pb2.RuleCondition(categories=["shoes"]),
            ),
            effective_from=to_timestamp(start - timedelta(days=1)),
        )
    )
    assert promo.rule.version == 1
    assert promo.rule.spec.factor == "2"
    member_id = await programme.member()
    lines = [
        ledger_pb2.PurchaseLine(sku="a", category="shoes", quantity=1, amount_minor=3000),
        ledger_pb2.PurchaseLine(sku="b", category="socks", quantity=1, amount_minor=1000),
    ]
    sale = await programme.buy(member_id, 4000, occurred_at=start - timedelta(hours=1), lines=lines)
    assert sale.points == 70  # 30*2 + 10
    assert {r.name: r.points for r in sale.applied_rules} == {
        f"base {programme.currency}": 40,
        "double shoes": 30,
    }

    clock.advance(timedelta(days=3))
    rules = await back.program.ListEarningRules(program_pb2.ListEarningRulesRequest())
    base = next(r for r in rules.rules if r.spec.kind == program_pb2.EARNING_RULE_KIND_BASE_RATE)
    updated = await back.program.UpdateEarningRule(
        program_pb2.UpdateEarningRuleRequest(
            idempotency_key=new_key(),
            rule_id=base.rule_id,
            spec=_spec(
                name="base x3",
                kind=program_pb2.EARNING_RULE_KIND_BASE_RATE,
                currency=programme.currency,
                points_per_unit="3",
            ),
        )
    )
    assert updated.rule.version == 2
    offline = await programme.buy(member_id, 4000, occurred_at=start - timedelta(hours=2), lines=lines)
    assert offline.points == 70  # still the old rate and the promotion of its day
    today = await programme.buy(member_id, 4000, occurred_at=clock.now(), lines=lines)
    assert today.points == 120  # the new rate, no promotion any more

    clock.advance(timedelta(seconds=1))
    retired = await back.program.RetireEarningRule(
        program_pb2.RetireEarningRuleRequest(idempotency_key=new_key(), rule_id=base.rule_id)
    )
    assert (retired.rule.version, retired.rule.retired) == (3, True)
    assert (await programme.buy(member_id, 4000, occurred_at=clock.now())).points == 0
    history = await back.program.ListEarningRules(program_pb2.ListEarningRulesRequest(include_history=True))
    assert [r.version for r in history.rules if r.rule_id == base.rule_id] == [1, 2, 3]
    then = await back.program.ListEarningRules(program_pb2.ListEarningRulesRequest(as_of=to_timestamp(start)))
    assert {r.spec.name for r in then.rules} == {f"base {programme.currency}", "double shoes"}


async def test_bad_rules_are_refused_by_field(isolated_service: Running) -> None:
    """Goal: each kind's own fields are required and the others' refused; updates never rewrite the past."""
    back = await isolated_service.client("backoffice")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await back.program.CreateEarningRule(
            program_pb2.CreateEarningRuleRequest(
                idempotency_key=new_key(),
                spec=_spec(
                    name="",
                    kind=program_pb2.EARNING_RULE_KIND_BASE_RATE,
                    currency="euro",
                    points_per_unit="-1",
                    factor="2",
                    condition=program_pb2.RuleCondition(channels=[9], min_amount_minor=-1),
                ),  # type: ignore[list-item]
            )
        )
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(caught.value)) == {
        "spec.name",
        "spec.currency",
        "spec.points_per_unit",
        "spec.factor",
        "spec.condition.channels[0]",
        "spec.condition.min_amount_minor",
    }
    bonus = await back.program.CreateEarningRule(
        program_pb2.CreateEarningRuleRequest(
            idempotency_key=new_key(),
            spec=_spec(
                name="first online",
                kind=program_pb2.EARNING_RULE_KIND_BONUS,
                bonus_points=50,
                condition=program_pb2.RuleCondition(
                    channels=[common_pb2.CHANNEL_WEBSHOP], first_purchase_in_channel=True
                ),
            ),
        )
    )
    assert isolated_service.clock is not None
    past = isolated_service.clock.now() - timedelta(days=1)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await back.program.UpdateEarningRule(
            program_pb2.UpdateEarningRuleRequest(
                idempotency_key=new_key(),
                rule_id=bonus.rule.rule_id,
                effective_from=to_timestamp(past),
                spec=_spec(name="first online", kind=program_pb2.EARNING_RULE_KIND_BONUS, bonus_points=60),
            )
        )
    assert "effective_from" in violations(caught.value)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await back.program.RetireEarningRule(
            program_pb2.RetireEarningRuleRequest(
                idempotency_key=new_key(), rule_id="rule_01ARZ3NDEKTSV4RRFFQ69G5FAV"
            )
        )
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


async def test_first_purchase_bonus_once_per_channel(isolated_service: Running) -> None:
    """Goal: a bonus for the first web-shop purchase is given once, not for the second."""
    programme = await make_programme(isolated_service)
    await programme.back.program.CreateEarningRule(
        program_pb2.CreateEarningRuleRequest(
            idempotency_key=new_key(),
            spec=_spec(
                name="first online",
                kind=program_pb2.EARNING_RULE_KIND_BONUS,
                bonus_points=50,
                condition=program_pb2.RuleCondition(
                    channels=[common_pb2.CHANNEL_WEBSHOP], first_purchase_in_channel=True
                ),
            ),
            effective_from=to_timestamp(isolated_service.clock.now() - timedelta(days=1)),  # type: ignore[union-attr]
        )
    )
    member_id = await programme.member()
    points = []
    for _ in range(2):
        request = ledger_pb2.RecordPurchaseRequest(
            idempotency_key=new_key(),
            member=common_pb2.MemberRef(member_id=member_id),
            channel=common_pb2.CHANNEL_WEBSHOP,
            order_id="w-" + new_key(),
            amount=common_pb2.Money(amount_minor=1000, currency=programme.currency),
            occurred_at=to_timestamp(isolated_service.clock.now()),  # type: ignore[union-attr]
        )
        points.append((await programme.web.ledger.RecordPurchase(request)).points)
    assert points == [60, 10]
