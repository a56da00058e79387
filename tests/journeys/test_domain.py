"""The pure journey rules: referral codes, self-referral keys, and the cross-channel earning conditions
(ledger.earning with the facts journeys.api computes) against a reference model, out-of-order uploads too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from loyalty_service.journeys import domain
from loyalty_service.kernel.channel import Channel
from loyalty_service.ledger.earning import EarningRule, PurchaseFacts, RuleCondition, RuleKind, evaluate

START = datetime(2026, 1, 1, tzinfo=UTC)
SALE_CHANNELS = (Channel.POS, Channel.WEBSHOP)


# --- referral codes ---------------------------------------------------------------------------------


@given(st.randoms(use_true_random=False))
def test_a_code_reads_back_however_it_is_typed(rng: random.Random) -> None:
    """Goal: a shown code typed in lower case, without or with extra dashes and spaces, is the same code."""
    code = domain.new_code(rng.choice)
    shown = domain.format_code(code)
    assert len(shown) == 9
    assert shown[4] == "-"
    assert domain.parse_code(shown) == code
    assert domain.parse_code(f"  {shown.lower()} ") == code
    assert domain.parse_code(" ".join(code)) == code


def test_look_alike_letters_read_as_digits() -> None:
    """Goal: I, L read as 1 and O as 0 (Crockford), so a code read aloud still works."""
    assert domain.parse_code("I0LO-ABCD") == "1010ABCD"
    assert domain.parse_code("ilo1-abcd") == "1101ABCD"


@given(st.text(max_size=20))
def test_anything_else_is_no_code_or_a_well_formed_one(text: str) -> None:
    """Goal: parse_code never raises; what it accepts is 8 characters of the alphabet."""
    code = domain.parse_code(text)
    assert code is None or (len(code) == domain.CODE_LENGTH and set(code) <= set(domain.CODE_ALPHABET))


def test_codes_come_from_the_csprng_and_differ() -> None:
    """Goal: the default draw uses `secrets`; a thousand codes do not collide (40 bits)."""
    codes = {domain.new_code() for _ in range(1000)}
    assert len(codes) == 1000


# --- self-referral -------------------------------------------------------------------------------------


def test_same_person_by_email_variants_phone_card() -> None:
    """Goal: a +tag, Gmail dots and googlemail.com do not make another person; different people differ."""
    referrer = [("email", "jane.doe@gmail.com"), ("phone", "+33612345678")]
    assert domain.same_person(referrer, [("email", "janedoe+promo@googlemail.com")])
    assert domain.same_person(referrer, [("phone", "+33612345678")])
    assert domain.same_person([("email", "bob+x@shop.fr")], [("email", "bob@shop.fr")])
    assert not domain.same_person([("email", "b.ob@shop.fr")], [("email", "bob@shop.fr")])
    assert not domain.same_person(referrer, [("email", "john@gmail.com"), ("card", "ABC123")])
    assert not domain.same_person(referrer, [])


@given(st.integers(0, 50), st.integers(0, 50))
def test_referral_limit(made: int, maximum: int) -> None:
    """Goal: 0 means no limit; otherwise `maximum` referrals a year earn a bonus, not one more."""
    assert domain.under_referral_limit(made, maximum) == (maximum == 0 or made < maximum)


@given(st.datetimes(timezones=st.just(UTC)))
def test_month_key_and_start(at: datetime) -> None:
    """Goal: the month of an instant starts at or before it, and has the same key."""
    start = domain.month_start(at)
    assert start <= at < start + timedelta(days=32)
    assert domain.month_key(start) == domain.month_key(at)


# --- cross-channel conditions: simulation of the production evaluation ----------------------------------


@dataclass(frozen=True)
class Sale:
    channel: Channel
    occurred_at: datetime


def _rule(condition: RuleCondition) -> EarningRule:
    return EarningRule(
        rule_id="omni",
        version=1,
        name="omni",
        kind=RuleKind.BONUS,
        effective_from=START - timedelta(days=1),
        bonus_points=50,
        condition=condition,
    )


def _simulate(recorded: list[Sale], condition: RuleCondition) -> list[int]:
    """Evaluate each sale in recording order as the service does; returns the indexes that were paid."""
    rule = _rule(condition)
    paid: list[int] = []
    claimed: set[str] = set()
    for index, sale in enumerate(recorded):
        earlier = recorded[:index]
        period = domain.month_key(sale.occurred_at) if condition.store_and_online_same_month else domain.ONCE
        facts = PurchaseFacts(
            channel=sale.channel,
            store_id="s1",
            amount_minor=1000,
            currency="EUR",
            occurred_at=sale.occurred_at,
            prior_channels=frozenset(s.channel for s in earlier),
            channels_before=frozenset(s.channel for s in earlier if s.occurred_at < sale.occurred_at),
            month_channels_before=frozenset(
                s.channel
                for s in earlier
                if s.occurred_at < sale.occurred_at
                and domain.month_key(s.occurred_at) == domain.month_key(sale.occurred_at)
            ),
            claimed_rule_ids=frozenset({"omni"}) if period in claimed else frozenset(),
        )
        if evaluate([rule], facts).points:
            paid.append(index)
            claimed.add(period)
    return paid


sales = st.lists(
    st.tuples(st.sampled_from(SALE_CHANNELS), st.integers(0, 90 * 24 * 60)),
    min_size=1,
    max_size=14,
    unique_by=lambda sale: sale[1],
).map(lambda items: [Sale(channel, START + timedelta(minutes=minute)) for channel, minute in items])

MONTHLY = RuleCondition(store_and_online_same_month=True)
SECOND = RuleCondition(first_purchase_in_second_channel=True)


def _months_with_both(recorded: list[Sale]) -> set[str]:
    months: dict[str, set[Channel]] = {}
    for sale in recorded:
        months.setdefault(domain.month_key(sale.occurred_at), set()).add(sale.channel)
    return {month for month, channels in months.items() if channels >= set(SALE_CHANNELS)}


@given(sales, st.randoms(use_true_random=False))
def test_monthly_bonus_is_paid_at_most_once_per_month_whatever_the_upload_order(
    history: list[Sale], rng: random.Random
) -> None:
    """Goal: out-of-order uploads never pay a month twice, and only a month with both channels pays;
    each payment is at a purchase that completes the set with purchases that occurred before it."""
    recorded = list(history)
    rng.shuffle(recorded)
    paid = _simulate(recorded, MONTHLY)
    months = [domain.month_key(recorded[i].occurred_at) for i in paid]
    assert len(months) == len(set(months))
    assert set(months) <= _months_with_both(recorded)
    for index in paid:
        sale = recorded[index]
        seen = {
            s.channel
            for s in recorded[:index]
            if s.occurred_at < sale.occurred_at
            and domain.month_key(s.occurred_at) == domain.month_key(sale.occurred_at)
        }
        assert seen | {sale.channel} >= set(SALE_CHANNELS)


@given(sales)
def test_monthly_bonus_in_time_order_pays_every_such_month_at_the_completing_purchase(
    history: list[Sale],
) -> None:
    """Goal (reference model): recorded in the order they happened, each month with a store and an
    online purchase pays exactly once, at the first purchase after which both channels were seen."""
    recorded = sorted(history, key=lambda s: s.occurred_at)
    expected: list[int] = []
    seen: dict[str, set[Channel]] = {}
    for index, sale in enumerate(recorded):
        month = domain.month_key(sale.occurred_at)
        before = set(seen.setdefault(month, set()))
        seen[month].add(sale.channel)
        if seen[month] >= set(SALE_CHANNELS) and not before >= set(SALE_CHANNELS):
            expected.append(index)
    assert _simulate(recorded, MONTHLY) == expected


@given(sales, st.randoms(use_true_random=False))
def test_second_channel_bonus_is_paid_at_most_once(history: list[Sale], rng: random.Random) -> None:
    """Goal: "first purchase in a second channel" pays once per member at most, whatever the order, and
    in time order exactly once when two channels were used: at the first purchase in the second one."""
    shuffled = list(history)
    rng.shuffle(shuffled)
    assert len(_simulate(shuffled, SECOND)) <= 1
    recorded = sorted(history, key=lambda s: s.occurred_at)
    first_other = next((i for i, s in enumerate(recorded) if s.channel != recorded[0].channel), None)
    assert _simulate(recorded, SECOND) == ([] if first_other is None else [first_other])
