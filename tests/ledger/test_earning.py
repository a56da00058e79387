"""Earning rules: examples from the product, and a property test against a reference."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_service.kernel.channel import Channel
from loyalty_service.kernel.money import currency_exponent
from loyalty_service.ledger.earning import (
    TIER_RULE_ID,
    EarningRule,
    PurchaseFacts,
    PurchaseLine,
    RuleCondition,
    RuleKind,
    evaluate,
    rules_as_of,
)

FAST = settings(max_examples=200, deadline=None)
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
SATURDAY = datetime(2024, 6, 1, tzinfo=UTC)
MONDAY = datetime(2024, 6, 3, 9, tzinfo=UTC)


def base_rate(
    rule_id: str,
    per_eur: Fraction | int = 1,
    *,
    version: int = 1,
    effective_from: datetime = EPOCH,
    currency: str = "EUR",
    retired: bool = False,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
) -> EarningRule:
    return EarningRule(
        rule_id=rule_id,
        version=version,
        name=rule_id,
        kind=RuleKind.BASE_RATE,
        effective_from=effective_from,
        retired=retired,
        valid_from=valid_from,
        valid_to=valid_to,
        currency=currency,
        points_per_unit=Fraction(per_eur),
    )


def multiplier(
    rule_id: str,
    factor: Fraction | int,
    *,
    condition: RuleCondition | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
) -> EarningRule:
    return EarningRule(
        rule_id=rule_id,
        version=1,
        name=rule_id,
        kind=RuleKind.MULTIPLIER,
        effective_from=EPOCH,
        valid_from=valid_from,
        valid_to=valid_to,
        factor=Fraction(factor),
        condition=condition or RuleCondition(),
    )


def bonus(rule_id: str, points: int, condition: RuleCondition) -> EarningRule:
    return EarningRule(
        rule_id=rule_id,
        version=1,
        name=rule_id,
        kind=RuleKind.BONUS,
        effective_from=EPOCH,
        bonus_points=points,
        condition=condition,
    )


def purchase(amount_minor: int, **changes: Any) -> PurchaseFacts:
    """A Saturday-afternoon EUR till sale, with `changes` applied."""
    sale = PurchaseFacts(
        channel=Channel.POS,
        store_id="paris-01",
        amount_minor=amount_minor,
        currency="EUR",
        occurred_at=SATURDAY + timedelta(hours=15),
    )
    return replace(sale, **changes)


def test_saturday_promotion_applies_to_purchase_uploaded_monday() -> None:
    """An offline sale from Saturday, uploaded Monday, gets Saturday's double points."""
    versions = [
        base_rate("base", 1),
        base_rate("base", 3, version=2, effective_from=MONDAY - timedelta(hours=12)),
        multiplier(
            "double-saturday",
            2,
            valid_from=SATURDAY,
            valid_to=SATURDAY + timedelta(days=1),
        ),
    ]
    sale = purchase(2500, occurred_at=SATURDAY + timedelta(hours=15))
    earning = evaluate(rules_as_of(versions, sale.occurred_at), sale)
    assert earning.points == 50
    assert [(a.rule_id, a.version, a.points) for a in earning.applied] == [
        ("base", 1, 25),
        ("double-saturday", 1, 25),
    ]
    # The same sale made on Monday gets neither the promotion nor the old rate.
    monday_sale = purchase(2500, occurred_at=MONDAY)
    assert evaluate(rules_as_of(versions, MONDAY), monday_sale).points == 75


def test_category_multiplier_only_on_matching_lines() -> None:
    """A x3 on "wine" triples the wine line, not the bread line nor the rest."""
    lines = (
        PurchaseLine("sku-wine", "wine", 1, 1000),
        PurchaseLine("sku-bread", "bakery", 2, 400),
    )
    rules = [
        base_rate("base", 1),
        multiplier("wine-x3", 3, condition=RuleCondition(categories=frozenset({"wine"}))),
    ]
    earning = evaluate(rules, purchase(2000, lines=lines))
    assert earning.points == 10 * 3 + 4 + 6
    assert [(a.rule_id, a.points) for a in earning.applied] == [
        ("base", 20),
        ("wine-x3", 20),
    ]


def test_bonus_for_first_online_purchase() -> None:
    """The welcome bonus goes to a member's first web-shop order only."""
    welcome = bonus(
        "welcome-online",
        100,
        RuleCondition(channels=frozenset({Channel.WEBSHOP}), first_purchase_in_channel=True),
    )
    rules = [base_rate("base", 1), welcome]
    first = purchase(1000, channel=Channel.WEBSHOP, prior_channels=frozenset({Channel.POS}))
    again = purchase(1000, channel=Channel.WEBSHOP, prior_channels=frozenset({Channel.WEBSHOP}))
    in_store = purchase(1000, channel=Channel.POS)
    assert evaluate(rules, first).points == 110
    assert evaluate(rules, first).applied[-1].rule_id == "welcome-online"
    assert evaluate(rules, again).points == 10
    assert evaluate(rules, in_store).points == 10


def test_rounds_down_once_at_the_end() -> None:
    """Three lines of 0.5 points each earn 1 point, not 0 (no rounding per line)."""
    lines = tuple(PurchaseLine(f"sku-{n}", "misc", 1, 50) for n in range(3))
    earning = evaluate([base_rate("base", 1)], purchase(150, lines=lines))
    assert earning.points == 1
    assert [a.points for a in earning.applied] == [1]


def test_first_base_rate_absorbs_rounding() -> None:
    """Attributions add up to the total; the first base rate gets the rounding gain."""
    rules = [base_rate("a-base", 1), base_rate("b-extra", Fraction(1, 2)), multiplier("m", 2)]
    earning = evaluate(rules, purchase(1050))  # 10.5 + 5.25, doubled: 31.5 -> 31
    assert earning.points == 31
    points = {a.rule_id: a.points for a in earning.applied}
    assert points == {"m": 15, "b-extra": 5, "a-base": 11}
    assert sum(points.values()) == earning.points


def test_currency_exponent_and_mismatch() -> None:
    """Rates count major units (JPY has none), and only rate their own currency."""
    yen = base_rate("yen", Fraction(1, 100), currency="JPY")
    assert evaluate([yen], purchase(1000, currency="JPY")).points == 10
    nothing = evaluate([base_rate("base", 1)], purchase(1000, currency="USD"))
    assert nothing.points == 0
    assert nothing.applied == ()


def test_lines_over_total_are_scaled_to_what_was_paid() -> None:
    """An order-level discount below the sum of lines earns on the amount paid."""
    lines = (PurchaseLine("a", "x", 1, 1000), PurchaseLine("b", "y", 1, 1000))
    assert evaluate([base_rate("base", 1)], purchase(1000, lines=lines)).points == 10


def test_tier_multiplier_is_attributed_last() -> None:
    """The tier multiplier acts order-wide and shows as the "tier" multiplier."""
    rules = [base_rate("base", 1), multiplier("m", 2)]
    earning = evaluate(rules, purchase(1000, extra_multiplier=Fraction(3, 2)))
    assert earning.points == 30
    assert [(a.rule_id, a.points) for a in earning.applied] == [
        ("base", 10),
        ("m", 10),
        (TIER_RULE_ID, 10),
    ]


def test_retired_rule_and_window_edges() -> None:
    """A retired version removes the rule; valid_to is exclusive, valid_from inclusive."""
    retire_at = SATURDAY
    versions = [
        base_rate("base", 1),
        base_rate("base", 1, version=2, effective_from=retire_at, retired=True),
    ]
    assert rules_as_of(versions, retire_at - timedelta(microseconds=1)) == (versions[0],)
    assert rules_as_of(versions, retire_at) == ()
    boxed = base_rate("boxed", 1, valid_from=SATURDAY, valid_to=SATURDAY + timedelta(days=1))
    at_start = purchase(1000, occurred_at=SATURDAY)
    at_end = purchase(1000, occurred_at=SATURDAY + timedelta(days=1))
    assert evaluate([boxed], at_start).points == 10
    assert evaluate([boxed], at_end).points == 0


# --- property test against a small reference implementation -------------------------

CATEGORIES = ["wine", "bakery", "toys"]
SKUS = ["s1", "s2", "s3"]
CURRENCIES = ["EUR", "JPY", "KWD"]
OCCURRED = SATURDAY + timedelta(hours=12)


def subsets(items: Sequence[object]) -> st.SearchStrategy[frozenset[object]]:
    return st.frozensets(st.sampled_from(items), max_size=2)


conditions = st.builds(
    RuleCondition,
    channels=subsets(list(Channel)),
    store_ids=subsets(["st1", "st2"]),
    categories=subsets(CATEGORIES),
    skus=subsets(SKUS),
    min_amount_minor=st.sampled_from([0, 0, 500, 5000]),
    first_purchase_in_channel=st.booleans(),
)
edges = st.none() | st.integers(-3, 3).map(lambda h: OCCURRED + timedelta(hours=h))
fractions = st.sampled_from([Fraction(n, d) for n in (0, 1, 2, 3, 5, 7) for d in (1, 2, 3, 10)])


@st.composite
def rule_sets(draw: st.DrawFn) -> list[EarningRule]:
    """Rules with distinct ids, as `rules_as_of` would return them."""
    ids = draw(st.lists(st.sampled_from([f"r{n}" for n in range(6)]), unique=True))
    return [
        EarningRule(
            rule_id=rule_id,
            version=1,
            name=rule_id,
            kind=draw(st.sampled_from(list(RuleKind))),
            effective_from=EPOCH,
            valid_from=draw(edges),
            valid_to=draw(edges),
            currency=draw(st.sampled_from(CURRENCIES)),
            points_per_unit=draw(fractions),
            factor=draw(fractions),
            bonus_points=draw(st.integers(0, 50)),
            condition=draw(conditions),
        )
        for rule_id in ids
    ]


lines_strategy = st.lists(
    st.builds(
        PurchaseLine,
        sku=st.sampled_from(SKUS),
        category=st.sampled_from(CATEGORIES),
        quantity=st.integers(1, 3),
        amount_minor=st.integers(0, 20_000),
    ),
    max_size=4,
).map(tuple)
purchases = st.builds(
    PurchaseFacts,
    channel=st.sampled_from(list(Channel)),
    store_id=st.sampled_from(["st1", "st2"]),
    amount_minor=st.sampled_from([0, 499, 500, 5000]) | st.integers(0, 60_000),
    currency=st.sampled_from(CURRENCIES),
    occurred_at=st.just(OCCURRED),
    lines=lines_strategy,
    prior_channels=subsets(list(Channel)),
    extra_multiplier=st.sampled_from([Fraction(1), Fraction(1), Fraction(3, 2), Fraction(2)]),
)


def reference(rules: list[EarningRule], p: PurchaseFacts) -> tuple[int, dict[str, int]]:
    """Straight-line total, plus each multiplier's floor(extra) by telescoping sums."""

    def order_ok(rule: EarningRule) -> bool:
        c = rule.condition
        return (
            (rule.valid_from is None or rule.valid_from <= p.occurred_at)
            and (rule.valid_to is None or p.occurred_at < rule.valid_to)
            and (not c.channels or p.channel in c.channels)
            and (not c.store_ids or p.store_id in c.store_ids)
            and p.amount_minor >= c.min_amount_minor
            and not (c.first_purchase_in_channel and p.channel in p.prior_channels)
        )

    def line_ok(rule: EarningRule, sku: str | None, category: str | None) -> bool:
        c = rule.condition
        return (not c.categories or category in c.categories) and (not c.skus or sku in c.skus)

    live = sorted((r for r in rules if order_ok(r)), key=lambda r: r.rule_id)
    covered = sum(line.amount_minor for line in p.lines)
    ratio = Fraction(p.amount_minor, covered) if covered > p.amount_minor else Fraction(1)
    parts: list[tuple[str | None, str | None, Fraction]] = [
        (line.sku, line.category, line.amount_minor * ratio) for line in p.lines
    ]
    if p.amount_minor > covered:
        parts.append((None, None, Fraction(p.amount_minor - covered)))
    scale = Fraction(1, 10 ** currency_exponent(p.currency))
    factors: list[tuple[str, EarningRule | None, Fraction]] = [
        (r.rule_id, r, r.factor) for r in live if r.kind is RuleKind.MULTIPLIER
    ]
    factors.append((TIER_RULE_ID, None, p.extra_multiplier))

    def value_after(k: int) -> Fraction:
        """Sum over parts of base times the first k factors that cover the part."""
        total = Fraction(0)
        for sku, category, amount in parts:
            rate = sum(
                (
                    r.points_per_unit
                    for r in live
                    if r.kind is RuleKind.BASE_RATE and r.currency == p.currency and line_ok(r, sku, category)
                ),
                Fraction(0),
            )
            value = amount * scale * rate
            for _, rule, factor in factors[:k]:
                if rule is None or line_ok(rule, sku, category):
                    value *= factor
            total += value
        return total

    bonuses = sum(
        r.bonus_points
        for r in live
        if r.kind is RuleKind.BONUS
        and (
            not (r.condition.categories or r.condition.skus)
            or any(line_ok(r, ln.sku, ln.category) for ln in p.lines)
        )
    )
    values = [value_after(k) for k in range(len(factors) + 1)]
    extras = {
        rule_id: math.floor(values[k + 1] - values[k])
        for k, (rule_id, _, _) in enumerate(factors)
        if values[k + 1] != values[k]
    }
    return math.floor(values[-1] + bonuses), extras


@FAST
@given(rule_sets(), purchases, st.randoms(use_true_random=False))
def test_matches_reference(rules: list[EarningRule], p: PurchaseFacts, rng: random.Random) -> None:
    """evaluate agrees with the reference on total and multiplier attribution."""
    shuffled = list(rules)
    rng.shuffle(shuffled)
    earning = evaluate(shuffled, p)
    total, extras = reference(rules, p)
    assert earning.points == total
    assert earning.points >= 0
    assert sum(a.points for a in earning.applied) == earning.points
    multipliers = {a.rule_id: a.points for a in earning.applied if a.kind is RuleKind.MULTIPLIER}
    assert multipliers == extras
    kinds = list(RuleKind)
    order = [(kinds.index(a.kind), a.rule_id == TIER_RULE_ID, a.rule_id) for a in earning.applied]
    assert order == sorted(order)
    assert all(a.points >= 0 for a in earning.applied if a.kind is not RuleKind.MULTIPLIER)


@FAST
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.integers(1, 4),
            st.integers(-5, 5),
            st.booleans(),
        ),
        max_size=12,
        unique_by=lambda t: (t[0], t[1]),
    ),
    st.integers(-5, 5),
)
def test_rules_as_of_picks_latest_effective_version(
    specs: list[tuple[str, int, int, bool]], at_day: int
) -> None:
    """Per rule, the version with the latest effective_from <= at wins; retired drops it."""
    versions = [
        base_rate(
            rule_id,
            version=version,
            effective_from=SATURDAY + timedelta(days=day),
            retired=retired,
        )
        for rule_id, version, day, retired in specs
    ]
    at = SATURDAY + timedelta(days=at_day)
    expected = []
    for rule_id in sorted({v.rule_id for v in versions}):
        held = [v for v in versions if v.rule_id == rule_id and v.effective_from <= at]
        if held:
            best = max(held, key=lambda v: (v.effective_from, v.version))
            if not best.retired:
                expected.append(best)
    assert rules_as_of(versions, at) == tuple(expected)
