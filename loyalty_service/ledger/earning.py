"""Earning rules: how many points a purchase earns, and which rules gave them.

Pure: no I/O, no clock. Rules are taken as of the purchase's `occurred_at` (`rules_as_of`: per rule_id
the latest version with effective_from <= at, ties to the higher version, dropped if retired), so an
offline sale uploaded on Monday still gets Saturday's double points.

Combination, as `evaluate` implements it:
- A rule applies only if occurred_at is inside its [valid_from, valid_to) window (open ends allowed)
  and its condition matches. Empty condition sets match anything.
- The purchase amount is split into "parts": each line is a part (sku, category, amount); whatever of
  amount_minor the lines do not cover (amount - sum of line amounts, if > 0) is one more part with no
  sku/category. No lines: one part = whole amount. If the lines add up to MORE than amount_minor (an
  order-level discount), each line part is scaled by amount_minor / sum(lines), so no points are
  earned on money that was not paid.
- Base of a part = amount / 10**exponent * sum of points_per_unit of every applying BASE_RATE whose
  currency == purchase currency (base rates add). A BASE_RATE's category/sku conditions restrict
  which parts it rates.
- MULTIPLIER with category or sku conditions is line-level: it multiplies the parts whose
  category/sku match. Without them it is order-level: it multiplies every part. Factors multiply with
  each other (never add). `extra_multiplier` is an order-level multiplier named "tier" (rule_id
  `TIER_RULE_ID`, version 0), applied after the rule multipliers.
- BONUS adds bonus_points once per purchase if its condition matches (category/sku conditions: some
  line matches).
- Omnichannel conditions (journeys, decision 0010) read the member's history as of occurred_at from
  PurchaseFacts: `first_purchase_in_second_channel` (channels_before has another channel, prior_channels
  not this one) and `store_and_online_same_month` (month_channels_before plus this channel hold POS and
  WEBSHOP). Such rules pay once per period: a rule in `claimed_rule_ids` does not apply.
- total = floor(sum over parts of base * product(factors) + sum(bonuses)), rounded down ONCE at the
  end, never below 0. Negative rates, factors or bonuses are programmer errors (asserted).

Attribution in `Earning.applied`: only rules whose exact contribution is non-zero, ordered base
rates, multipliers (tier last), bonuses, each group by rule_id.
- A multiplier's points = floor of the extra it added: sum over parts of
  value_before_this_factor * (factor - 1), factors applied in rule_id order. A factor below 1 takes
  points away, so its points are negative.
- A bonus's points = bonus_points.
- Base rates share what is left: each gets floor of its own exact (pre-multiplier) contribution, and
  the first base rate absorbs the rounding difference, so sum(applied.points) == total exactly. The
  difference is never negative, because floor(a + b) >= floor(a) + floor(b).

Changes to the brief: lines adding up to more than the amount are scaled down (above); the tier
multiplier is attributed as rule "tier"; RuleCondition, EarningRule and PurchaseFacts are
keyword-only (many same-typed fields); rules and purchases assert their invariants on construction.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction

from loyalty_service.kernel.channel import Channel
from loyalty_service.kernel.money import currency_exponent

__all__ = [
    "TIER_RULE_ID",
    "AppliedRule",
    "Earning",
    "EarningRule",
    "PurchaseFacts",
    "PurchaseLine",
    "RuleCondition",
    "RuleKind",
    "evaluate",
    "rules_as_of",
]

TIER_RULE_ID = "tier"
_STORE_AND_ONLINE = frozenset({Channel.POS, Channel.WEBSHOP})


class RuleKind(enum.StrEnum):
    """How a rule acts on the points; the values are stored in the database."""

    BASE_RATE = "base_rate"
    MULTIPLIER = "multiplier"
    BONUS = "bonus"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleCondition:
    """When a rule applies: every non-empty set must match; an empty set matches any."""

    channels: frozenset[Channel] = frozenset()
    store_ids: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()
    min_amount_minor: int = 0
    """The purchase total must be >= this."""
    first_purchase_in_channel: bool = False
    """Only if the member never bought in the purchase's channel before."""
    first_purchase_in_second_channel: bool = False
    """Omnichannel: bought before (by occurred_at) in another channel, never (recorded) in this one."""
    store_and_online_same_month: bool = False
    """Omnichannel: with the month's purchases that occurred before it, POS and WEBSHOP are both there."""

    @property
    def once_per_period(self) -> bool:
        """Paid once per member and period (PurchaseFacts.claimed_rule_ids says which already were)."""
        return self.first_purchase_in_second_channel or self.store_and_online_same_month

    def matches_order(self, purchase: PurchaseFacts) -> bool:
        """The order-level part of the condition (everything but category/sku)."""
        if self.channels and purchase.channel not in self.channels:
            return False
        if self.store_ids and purchase.store_id not in self.store_ids:
            return False
        if purchase.amount_minor < self.min_amount_minor:
            return False
        if self.first_purchase_in_second_channel and (
            purchase.channel in purchase.prior_channels or not purchase.channels_before - {purchase.channel}
        ):
            return False
        if self.store_and_online_same_month and not (
            purchase.month_channels_before | {purchase.channel} >= _STORE_AND_ONLINE
        ):
            return False
        return not (self.first_purchase_in_channel and purchase.channel in purchase.prior_channels)

    def matches_part(self, sku: str | None, category: str | None) -> bool:
        """The line-level part; the uncovered remainder (None, None) matches no set."""
        if self.categories and category not in self.categories:
            return False
        return not (self.skus and sku not in self.skus)


@dataclass(frozen=True, slots=True, kw_only=True)
class EarningRule:
    """One version of an earning rule, as marketing saved it."""

    rule_id: str
    version: int
    name: str
    kind: RuleKind
    effective_from: datetime
    """Holds for occurred_at >= effective_from until a later version of the rule."""
    retired: bool = False
    valid_from: datetime | None = None
    """Promotion window on occurred_at, half-open [valid_from, valid_to)."""
    valid_to: datetime | None = None
    currency: str | None = None
    points_per_unit: Fraction = Fraction(0)
    """BASE_RATE: points per one MAJOR currency unit (EUR 1.00); `currency` says which."""
    factor: Fraction = Fraction(1)
    bonus_points: int = 0
    condition: RuleCondition = RuleCondition()

    def __post_init__(self) -> None:
        assert self.effective_from.tzinfo is not None, "effective_from must be aware"
        assert self.points_per_unit >= 0, "negative rate"
        assert self.factor >= 0, "negative factor"
        assert self.bonus_points >= 0, "negative bonus"
        assert self.kind is not RuleKind.BASE_RATE or self.currency, "rate needs currency"

    def in_window(self, at: datetime) -> bool:
        """Whether `at` falls in the promotion window (open ends allowed)."""
        if self.valid_from is not None and at < self.valid_from:
            return False
        return self.valid_to is None or at < self.valid_to


@dataclass(frozen=True, slots=True)
class PurchaseLine:
    sku: str
    category: str
    quantity: int
    amount_minor: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PurchaseFacts:
    """What the evaluation needs to know about a purchase and the member's history."""

    channel: Channel
    store_id: str
    amount_minor: int
    currency: str
    occurred_at: datetime
    lines: tuple[PurchaseLine, ...] = ()
    prior_channels: frozenset[Channel] = frozenset()
    """Channels the member bought in before this purchase."""
    extra_multiplier: Fraction = Fraction(1)
    """Order-level multiplier named "tier", for tier benefits."""
    channels_before: frozenset[Channel] = frozenset()
    """Channels of the member's purchases that occurred before this one (omnichannel conditions)."""
    month_channels_before: frozenset[Channel] = frozenset()
    """The same, limited to this purchase's calendar month (UTC)."""
    claimed_rule_ids: frozenset[str] = frozenset()
    """Once-per-period rules that already paid this member in this purchase's period."""

    def __post_init__(self) -> None:
        assert self.amount_minor >= 0, "negative purchase amount"
        assert all(line.amount_minor >= 0 for line in self.lines), "negative line amount"
        assert self.occurred_at.tzinfo is not None, "occurred_at must be aware"
        assert self.extra_multiplier >= 0, "negative tier multiplier"


@dataclass(frozen=True, slots=True)
class AppliedRule:
    rule_id: str
    version: int
    name: str
    kind: RuleKind
    points: int


@dataclass(frozen=True, slots=True)
class Earning:
    points: int
    applied: tuple[AppliedRule, ...]


def rules_as_of(versions: Iterable[EarningRule], at: datetime) -> tuple[EarningRule, ...]:
    """Per rule_id the version in force at `at`; retired rules dropped; by rule_id."""
    in_force = [rule for rule in versions if rule.effective_from <= at]
    # Sorted oldest first, so each newer version overwrites the older ones of its rule_id.
    latest = {r.rule_id: r for r in sorted(in_force, key=lambda r: (r.effective_from, r.version))}
    return tuple(latest[rule_id] for rule_id in sorted(latest) if not latest[rule_id].retired)


_Part = tuple[str | None, str | None, int]
"""sku, category, and the amount in minor units times the parts' shared denominator."""


def _parts(purchase: PurchaseFacts) -> tuple[int, list[_Part]]:
    """Split the amount into lines plus the uncovered remainder (see module doc), over one denominator."""
    lines_minor = sum(line.amount_minor for line in purchase.lines)
    amount_minor = purchase.amount_minor
    if lines_minor > amount_minor:  # each line scaled by amount_minor / lines_minor
        return lines_minor, [
            (line.sku, line.category, line.amount_minor * amount_minor) for line in purchase.lines
        ]
    parts: list[_Part] = [(line.sku, line.category, line.amount_minor) for line in purchase.lines]
    if amount_minor > lines_minor:
        parts.append((None, None, amount_minor - lines_minor))
    return 1, parts


def _applies(rule: EarningRule, purchase: PurchaseFacts) -> bool:
    """Window, order-level condition, and for rates the currency."""
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


_KINDS = tuple(RuleKind)
_TIER_RULE = EarningRule(
    rule_id=TIER_RULE_ID,
    version=0,
    name=TIER_RULE_ID,
    kind=RuleKind.MULTIPLIER,
    effective_from=datetime(1970, 1, 1, tzinfo=UTC),
)
"""The tier multiplier as `Earning.applied` names it; its factor is the purchase's `extra_multiplier`."""


def evaluate(rules: Iterable[EarningRule], purchase: PurchaseFacts) -> Earning:
    """Points for `purchase` under `rules` (already `rules_as_of(..., occurred_at)`).

    Exact rational arithmetic on plain integers: every part's value is a numerator over one shared
    `denominator`, which each multiplier's factor denominator extends. Fractions gave the same values
    (floors of exact rationals are the same however the rationals are written) at several times the cost;
    tests/ledger/test_earning_equivalence.py holds this to the Fraction implementation.
    """
    applying = sorted((rule for rule in rules if _applies(rule, purchase)), key=lambda r: r.rule_id)
    by_kind = {kind: [r for r in applying if r.kind is kind] for kind in _KINDS}
    rates = by_kind[RuleKind.BASE_RATE]
    multipliers = [(rule, rule.factor) for rule in by_kind[RuleKind.MULTIPLIER]]
    multipliers.append((_TIER_RULE, purchase.extra_multiplier))
    denominator, parts = _parts(purchase)
    rates_denominator = math.lcm(*(rate.points_per_unit.denominator for rate in rates))
    denominator *= 10 ** currency_exponent(purchase.currency) * rates_denominator
    rate_numerators = [
        (rate, rate.points_per_unit.numerator * (rates_denominator // rate.points_per_unit.denominator))
        for rate in rates
    ]

    base_exact: dict[str, int] = {}
    values: list[int] = []
    for sku, category, amount in parts:
        value = 0
        for rate, numerator in rate_numerators:
            if rate.condition.matches_part(sku, category):
                share = amount * numerator
                base_exact[rate.rule_id] = base_exact.get(rate.rule_id, 0) + share
                value += share
        values.append(value)
    base_denominator = denominator

    # Per multiplier rule_id: the extra it added, as (numerator, denominator).
    extra_exact: dict[str, tuple[int, int]] = {}
    for multiplier, factor in multipliers:
        top, bottom = factor.numerator, factor.denominator
        extra = 0
        if top != bottom:  # a factor of 1 changes nothing
            for index, (sku, category, _amount) in enumerate(parts):
                if multiplier.condition.matches_part(sku, category):
                    extra += values[index] * (top - bottom)
                    values[index] *= top
                elif bottom != 1:
                    values[index] *= bottom
            denominator *= bottom
        extra_exact[multiplier.rule_id] = (extra, denominator)

    bonus_points = sum(r.bonus_points for r in by_kind[RuleKind.BONUS])
    total = max(0, (sum(values) + bonus_points * denominator) // denominator)
    return Earning(
        total, _attribute(total, by_kind, multipliers, (base_exact, base_denominator), extra_exact)
    )


def _applied(rule: EarningRule, points: int) -> AppliedRule:
    return AppliedRule(rule.rule_id, rule.version, rule.name, rule.kind, points)


def _attribute(
    total: int,
    by_kind: dict[RuleKind, list[EarningRule]],
    multipliers: list[tuple[EarningRule, Fraction]],
    base: tuple[dict[str, int], int],
    extra_exact: dict[str, tuple[int, int]],
) -> tuple[AppliedRule, ...]:
    """Split `total` over the contributing rules so the parts add up exactly."""
    multiplied = []
    for multiplier, _factor in multipliers:
        extra, denominator = extra_exact[multiplier.rule_id]
        if extra != 0:
            multiplied.append(_applied(multiplier, extra // denominator))
    bonused = [_applied(b, b.bonus_points) for b in by_kind[RuleKind.BONUS] if b.bonus_points]
    base_exact, base_denominator = base
    rates = [r for r in by_kind[RuleKind.BASE_RATE] if base_exact.get(r.rule_id, 0) > 0]
    left = total - sum(a.points for a in multiplied) - sum(a.points for a in bonused)
    rated = [_applied(r, base_exact[r.rule_id] // base_denominator) for r in rates]
    if not rated:
        assert left == 0, "rounding left over without a base rate to absorb it"
        return (*multiplied, *bonused)
    difference = left - sum(a.points for a in rated)
    assert difference >= 0, "floor(a + b) >= floor(a) + floor(b) was violated"
    rated[0] = _applied(rates[0], rated[0].points + difference)
    return (*rated, *multiplied, *bonused)
