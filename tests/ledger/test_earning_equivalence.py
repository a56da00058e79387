"""`evaluate` does its exact arithmetic on integers over a shared denominator; before, it did it with
`fractions.Fraction`. The Fraction implementation is kept here, as first written, and the two must give
the same `Earning` (total, and every applied rule with its points) for any rules and purchase: lines over
and under the total, factors below 1, odd denominators, duplicate rule ids and a rule named "tier".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import event, given, settings
from hypothesis import strategies as st

from loyalty_service.kernel.channel import Channel
from loyalty_service.kernel.money import currency_exponent
from loyalty_service.ledger.earning import (
    TIER_RULE_ID,
    AppliedRule,
    Earning,
    EarningRule,
    PurchaseFacts,
    PurchaseLine,
    RuleCondition,
    RuleKind,
    evaluate,
)

# --- the reference: evaluate with Fractions, as first written ------------------------------------------


@dataclass(frozen=True, slots=True)
class _Part:
    sku: str | None
    category: str | None
    amount_minor: Fraction


def _parts(purchase: PurchaseFacts) -> tuple[_Part, ...]:
    lines_minor = sum(line.amount_minor for line in purchase.lines)
    scale = Fraction(1)
    if lines_minor > purchase.amount_minor:
        scale = Fraction(purchase.amount_minor, lines_minor)
    parts = [_Part(line.sku, line.category, line.amount_minor * scale) for line in purchase.lines]
    if purchase.amount_minor > lines_minor:
        parts.append(_Part(None, None, Fraction(purchase.amount_minor - lines_minor)))
    return tuple(parts)


def _applies(rule: EarningRule, purchase: PurchaseFacts) -> bool:
    if not rule.in_window(purchase.occurred_at):
        return False
    if rule.kind is RuleKind.BASE_RATE and rule.currency != purchase.currency:
        return False
    if not rule.condition.matches_order(purchase):
        return False
    if rule.condition.once_per_period and rule.rule_id in purchase.claimed_rule_ids:
        return False
    if rule.kind is RuleKind.BONUS and (rule.condition.categories or rule.condition.skus):
        return any(rule.condition.matches_part(ln.sku, ln.category) for ln in purchase.lines)
    return True


def _tier_rule(purchase: PurchaseFacts) -> EarningRule:
    return EarningRule(
        rule_id=TIER_RULE_ID,
        version=0,
        name=TIER_RULE_ID,
        kind=RuleKind.MULTIPLIER,
        effective_from=purchase.occurred_at,
        factor=purchase.extra_multiplier,
    )


def reference_evaluate(rules: Iterable[EarningRule], purchase: PurchaseFacts) -> Earning:
    applying = sorted((rule for rule in rules if _applies(rule, purchase)), key=lambda r: r.rule_id)
    by_kind = {kind: [r for r in applying if r.kind is kind] for kind in RuleKind}
    multipliers = [*by_kind[RuleKind.MULTIPLIER], _tier_rule(purchase)]
    parts = _parts(purchase)
    major = Fraction(1, 10 ** currency_exponent(purchase.currency))

    base_exact: dict[str, Fraction] = {}
    values: list[Fraction] = []
    for part in parts:
        units = part.amount_minor * major
        value = Fraction(0)
        for rate in by_kind[RuleKind.BASE_RATE]:
            if rate.condition.matches_part(part.sku, part.category):
                share = units * rate.points_per_unit
                base_exact[rate.rule_id] = base_exact.get(rate.rule_id, Fraction(0)) + share
                value += share
        values.append(value)

    extra_exact: dict[str, Fraction] = {}
    for multiplier in multipliers:
        extra = Fraction(0)
        for index, part in enumerate(parts):
            if multiplier.condition.matches_part(part.sku, part.category):
                extra += values[index] * (multiplier.factor - 1)
                values[index] *= multiplier.factor
        extra_exact[multiplier.rule_id] = extra

    bonuses = [r for r in by_kind[RuleKind.BONUS] if r.bonus_points > 0]
    exact_total = sum(values, Fraction(0)) + sum(r.bonus_points for r in bonuses)
    total = max(0, math.floor(exact_total))
    return Earning(total, _attribute(total, by_kind, multipliers, base_exact, extra_exact))


def _applied(rule: EarningRule, points: int) -> AppliedRule:
    return AppliedRule(rule.rule_id, rule.version, rule.name, rule.kind, points)


def _attribute(
    total: int,
    by_kind: dict[RuleKind, list[EarningRule]],
    multipliers: list[EarningRule],
    base_exact: dict[str, Fraction],
    extra_exact: dict[str, Fraction],
) -> tuple[AppliedRule, ...]:
    multiplied = [
        _applied(m, math.floor(extra_exact[m.rule_id])) for m in multipliers if extra_exact[m.rule_id] != 0
    ]
    bonused = [_applied(b, b.bonus_points) for b in by_kind[RuleKind.BONUS] if b.bonus_points]
    rates = [r for r in by_kind[RuleKind.BASE_RATE] if base_exact.get(r.rule_id, 0) > 0]
    left = total - sum(a.points for a in multiplied) - sum(a.points for a in bonused)
    rated = [_applied(r, math.floor(base_exact[r.rule_id])) for r in rates]
    if not rated:
        assert left == 0, "rounding left over without a base rate to absorb it"
        return (*multiplied, *bonused)
    difference = left - sum(a.points for a in rated)
    assert difference >= 0, "floor(a + b) >= floor(a) + floor(b) was violated"
    rated[0] = _applied(rates[0], rated[0].points + difference)
    return (*rated, *multiplied, *bonused)


# --- strategies: wider than test_earning's, to reach the integer arithmetic's corners --------------------

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
OCCURRED = datetime(2024, 6, 1, 12, tzinfo=UTC)
CATEGORIES = ["wine", "bakery", "toys", ""]
SKUS = ["s1", "s2", "s3"]
CURRENCIES = ["EUR", "JPY", "KWD", "XXX"]
RULE_IDS = ["r0", "r1", "r2", "r3", "r4", TIER_RULE_ID]

# Numerators and denominators with shared and coprime factors, 0 and 1 among them; factors below 1 too.
fractions = st.sampled_from(
    [Fraction(n, d) for n, d in ((1, 1), (2, 1), (3, 2), (1, 2), (10, 1), (7, 3))]
) | st.builds(Fraction, st.integers(0, 40), st.sampled_from([1, 2, 3, 4, 7, 10, 12, 100, 997]))
edges = st.none() | st.none() | st.integers(-2, 2).map(lambda h: OCCURRED + timedelta(hours=h))
rarely = st.sampled_from([False, False, False, True])


def subsets(items: list[object]) -> st.SearchStrategy[frozenset[object]]:
    """Mostly empty (a condition that matches anything), so that most rules apply."""
    return st.just(frozenset()) | st.frozensets(st.sampled_from(items), max_size=2)


line_conditions = st.builds(RuleCondition, categories=subsets(CATEGORIES), skus=subsets(SKUS))
conditions = (
    st.just(RuleCondition())
    | line_conditions
    | st.builds(
        RuleCondition,
        channels=subsets(list(Channel)),
        store_ids=subsets(["st1", "st2"]),
        categories=subsets(CATEGORIES),
        skus=subsets(SKUS),
        min_amount_minor=st.sampled_from([0, 0, 0, 500, 5000]),
        first_purchase_in_channel=rarely,
        first_purchase_in_second_channel=rarely,
        store_and_online_same_month=rarely,
    )
)
"""A third match anything, a third only some lines, a third anything (omnichannel conditions too)."""


def rule_strategy(currency: str) -> st.SearchStrategy[EarningRule]:
    """A rule, mostly in the purchase's currency and mostly a rate or a multiplier."""
    return st.builds(
        EarningRule,
        rule_id=st.sampled_from(RULE_IDS),  # duplicates allowed: evaluate keys some sums by rule_id
        version=st.integers(1, 3),
        name=st.sampled_from(["a", "b"]),
        kind=st.sampled_from([RuleKind.BASE_RATE, RuleKind.MULTIPLIER, RuleKind.MULTIPLIER, RuleKind.BONUS]),
        effective_from=st.just(EPOCH),
        valid_from=edges,
        valid_to=edges,
        currency=st.sampled_from([currency, currency, currency, *CURRENCIES]),
        points_per_unit=fractions,
        factor=fractions,
        bonus_points=st.integers(0, 50),
        condition=conditions,
    )


lines_strategy = st.lists(
    st.builds(
        PurchaseLine,
        sku=st.sampled_from(SKUS),
        category=st.sampled_from(CATEGORIES),
        quantity=st.integers(1, 3),
        amount_minor=st.integers(0, 30_000) | st.sampled_from([0, 1, 3, 7]),
    ),
    max_size=5,
).map(tuple)


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[EarningRule], PurchaseFacts]:
    currency = draw(st.sampled_from(CURRENCIES))
    rules = draw(st.lists(rule_strategy(currency), min_size=1, max_size=7))
    purchase = PurchaseFacts(
        channel=draw(st.sampled_from(list(Channel))),
        store_id=draw(st.sampled_from(["st1", "st2"])),
        amount_minor=draw(
            st.sampled_from([0, 1, 499, 500, 5000]) | st.integers(0, 100_000) | st.integers(1000, 10**7)
        ),
        currency=currency,
        occurred_at=OCCURRED,
        lines=draw(lines_strategy),
        prior_channels=draw(subsets(list(Channel))),
        extra_multiplier=draw(
            st.sampled_from([Fraction(1), Fraction(1), Fraction(3, 2), Fraction(1, 3), Fraction(0)])
            | fractions
        ),
        channels_before=draw(subsets(list(Channel))),
        month_channels_before=draw(subsets(list(Channel))),
        claimed_rule_ids=draw(subsets(RULE_IDS)),
    )
    return rules, purchase


def _outcome(rules: list[EarningRule], purchase: PurchaseFacts, implementation: object) -> object:
    assert callable(implementation)
    try:
        return implementation(rules, purchase)
    except AssertionError as error:  # both must refuse the same inputs (duplicate rule ids can) alike
        return ("AssertionError", str(error).splitlines()[0])


@settings(max_examples=600, deadline=None)
@given(cases())
def test_integer_evaluate_equals_fraction_evaluate(case: tuple[list[EarningRule], PurchaseFacts]) -> None:
    """Goal: the same Earning, field for field, as the Fraction implementation."""
    rules, purchase = case
    outcome = _outcome(rules, purchase, evaluate)
    assert outcome == _outcome(rules, purchase, reference_evaluate)
    event("earned" if isinstance(outcome, Earning) and outcome.points else "nothing earned")
    if isinstance(outcome, Earning):
        event(f"{sum(a.kind is RuleKind.MULTIPLIER for a in outcome.applied)} multipliers attributed")


def test_examples_equal_fraction_evaluate() -> None:
    """Goal: hand-picked corners: scaled lines with a coprime total, a x1/3 tier, stacked odd rates."""
    rate = EarningRule(
        rule_id="r0",
        version=1,
        name="rate",
        kind=RuleKind.BASE_RATE,
        effective_from=EPOCH,
        currency="EUR",
        points_per_unit=Fraction(7, 3),
    )
    rate_wine = EarningRule(
        rule_id="r1",
        version=1,
        name="wine rate",
        kind=RuleKind.BASE_RATE,
        effective_from=EPOCH,
        currency="EUR",
        points_per_unit=Fraction(5, 997),
        condition=RuleCondition(categories=frozenset({"wine"})),
    )
    half_wine = EarningRule(
        rule_id="r2",
        version=1,
        name="half wine",
        kind=RuleKind.MULTIPLIER,
        effective_from=EPOCH,
        factor=Fraction(1, 2),
        condition=RuleCondition(categories=frozenset({"wine"})),
    )
    lines = (PurchaseLine("s1", "wine", 1, 1001), PurchaseLine("s2", "toys", 1, 2003))
    for amount_minor in (0, 1, 1000, 3003, 3004, 10_000):
        for tier in (Fraction(1), Fraction(1, 3), Fraction(0), Fraction(5, 4)):
            purchase = PurchaseFacts(
                channel=Channel.POS,
                store_id="st1",
                amount_minor=amount_minor,
                currency="EUR",
                occurred_at=OCCURRED,
                lines=lines,
                extra_multiplier=tier,
            )
            rules = [rate, rate_wine, half_wine]
            assert evaluate(rules, purchase) == reference_evaluate(rules, purchase)
