"""Prize selection: outcomes follow the weights, exhausted prizes are never drawn, odds stay honest."""

from __future__ import annotations

import random
import secrets
from collections import Counter
from fractions import Fraction
from typing import assert_type

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_service.games.prizes import (
    NO_PRIZE,
    DrawEntriesGrant,
    Outcome,
    PlayTokensGrant,
    PointsGrant,
    Prize,
    RewardGrant,
    StampGrant,
    after_win,
    choose,
    effective_table,
    is_available,
    odds,
    outcome_for_draw,
    stock_after_update,
)

FAST = settings(max_examples=100, deadline=None)

# Chi-square critical values at p = 0.001, by degrees of freedom (standard tables).
CHI_SQUARE_CRITICAL_P001 = {1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467, 5: 20.515}


def prize(
    prize_id: str, weight: int, *, stock: int | None = None, cap: int | None = None, won: int = 0
) -> Prize:
    return Prize(
        prize_id=prize_id,
        weight=weight,
        stock_remaining=stock,
        daily_cap=cap,
        won_today=won,
        grant=PointsGrant(points=100),
    )


prize_specs = st.tuples(
    st.integers(1, 1_000), st.none() | st.integers(0, 3), st.none() | st.integers(0, 3), st.integers(0, 3)
)
prizes_strategy = st.lists(prize_specs, max_size=6).map(
    lambda specs: [prize(f"p{i}", w, stock=s, cap=c, won=n) for i, (w, s, c, n) in enumerate(specs)]
)


def chi_square(observed: Counter[Outcome], table: tuple[tuple[Outcome, int], ...], draws: int) -> float:
    total = sum(weight for _, weight in table)
    return sum(
        (observed[outcome] - draws * weight / total) ** 2 / (draws * weight / total)
        for outcome, weight in table
    )


def test_outcomes_follow_weights_chi_square() -> None:
    """Goal: 100 000 seeded draws fit the weights (chi-square below the p=0.001 critical value)."""
    table = effective_table(
        [prize("a", 1), prize("b", 5), prize("c", 20), prize("d", 74)], no_prize_weight=900
    )
    rng = random.Random(20240508)
    draws = 100_000
    observed = Counter(choose(table, rng.randrange).outcome for _ in range(draws))
    statistic = chi_square(observed, table, draws)
    assert statistic < CHI_SQUARE_CRITICAL_P001[len(table) - 1]


def test_chi_square_with_exhausted_prize_goes_to_no_prize() -> None:
    """Goal: with a prize out of stock, draws fit the table where its weight went to "no prize"."""
    prizes = [
        prize("gone", 300, stock=0),
        prize("capped", 100, cap=2, won=2),
        prize("b", 200),
        prize("c", 50),
    ]
    table = effective_table(prizes, no_prize_weight=350)
    assert dict(table) == {prizes[2]: 200, prizes[3]: 50, NO_PRIZE: 750}
    rng = random.Random(7)
    draws = 50_000
    observed = Counter(choose(table, rng.randrange).outcome for _ in range(draws))
    assert observed[prizes[0]] == observed[prizes[1]] == 0
    assert chi_square(observed, table, draws) < CHI_SQUARE_CRITICAL_P001[len(table) - 1]


@FAST
@given(prizes=prizes_strategy, no_prize_weight=st.integers(0, 1_000))
def test_weight_is_conserved(prizes: list[Prize], no_prize_weight: int) -> None:
    """Goal: removing exhausted prizes never changes the total weight, so odds stay honest."""
    if not prizes and no_prize_weight == 0:
        with pytest.raises(ValueError, match="at least one"):
            effective_table(prizes, no_prize_weight)
        return
    table = effective_table(prizes, no_prize_weight)
    assert sum(w for _, w in table) == sum(p.weight for p in prizes) + no_prize_weight
    assert all(w > 0 for _, w in table)
    assert sum(odds(table).values()) == 1


@FAST
@given(prizes=prizes_strategy, no_prize_weight=st.integers(0, 1_000), seed=st.integers(0, 2**32))
def test_exhausted_prizes_are_never_chosen(prizes: list[Prize], no_prize_weight: int, seed: int) -> None:
    """Goal: a prize out of stock or at its daily cap is not in the table and never drawn."""
    if not prizes and no_prize_weight == 0:
        return
    table = effective_table(prizes, no_prize_weight)
    in_table = {outcome for outcome, _ in table}
    for p in prizes:
        assert (p in in_table) == is_available(p)
    rng = random.Random(seed)
    for _ in range(50):
        outcome = choose(table, rng.randrange).outcome
        assert outcome is NO_PRIZE or is_available(outcome)


@FAST
@given(weights=st.lists(st.integers(1, 40), min_size=1, max_size=5), no_prize_weight=st.integers(0, 40))
def test_every_draw_maps_to_exactly_weight_outcomes(weights: list[int], no_prize_weight: int) -> None:
    """Goal: enumerating all draws 0..total-1 yields each outcome exactly `weight` times (exact fairness)."""
    table = effective_table([prize(f"p{i}", w) for i, w in enumerate(weights)], no_prize_weight)
    total = sum(w for _, w in table)
    counts = Counter(outcome_for_draw(table, draw) for draw in range(total))
    assert counts == Counter(dict(table))
    assert odds(table) == {outcome: Fraction(w, total) for outcome, w in table}


@FAST
@given(seed=st.integers(0, 2**32))
def test_choice_records_draw_for_replay(seed: int) -> None:
    """Goal: the stored draw and total weight replay to the same outcome."""
    table = effective_table([prize("a", 3), prize("b", 7)], no_prize_weight=10)
    choice = choose(table, random.Random(seed).randrange)
    assert choice.total_weight == 20
    assert 0 <= choice.draw < 20
    assert outcome_for_draw(table, choice.draw) == choice.outcome


def test_production_random_source_works() -> None:
    """Goal: `secrets.randbelow` fits the injected random source signature."""
    table = effective_table([prize("a", 1)], no_prize_weight=1)
    assert choose(table, secrets.randbelow).outcome in {table[0][0], NO_PRIZE}


def test_out_of_range_random_source_is_refused() -> None:
    """Goal: a faulty random source cannot silently pick the last outcome."""
    table = effective_table([prize("a", 1)], no_prize_weight=1)
    with pytest.raises(ValueError, match="outside"):
        choose(table, lambda n: n)
    with pytest.raises(ValueError, match="outside"):
        choose(table, lambda n: -1)
    with pytest.raises(ValueError, match="outside"):
        outcome_for_draw(table, 2)


def test_daily_cap_edge() -> None:
    """Goal: a capped prize is available below its cap and removed exactly at it."""
    p = prize("a", 5, cap=2, won=1, stock=10)
    assert is_available(p)
    won = after_win(p)
    assert (won.won_today, won.stock_remaining) == (2, 9)
    assert not is_available(won)
    with pytest.raises(ValueError, match="not available"):
        after_win(won)
    assert effective_table([won], no_prize_weight=0) == ((NO_PRIZE, 5),)


def test_stock_edge() -> None:
    """Goal: the last unit of stock can be won once, then the prize leaves the table."""
    p = prize("a", 5, stock=1)
    assert is_available(p)
    assert not is_available(after_win(p))
    assert is_available(after_win(prize("u", 1)))  # unlimited stays unlimited


def test_invalid_prizes_are_refused() -> None:
    """Goal: non-positive weights, negative counters, duplicate ids and empty grants fail loudly."""
    with pytest.raises(ValueError, match="weight"):
        prize("a", 0)
    with pytest.raises(ValueError, match="stock"):
        prize("a", 1, stock=-1)
    with pytest.raises(ValueError, match="daily_cap"):
        prize("a", 1, cap=-1)
    with pytest.raises(ValueError, match="won_today"):
        prize("a", 1, won=-1)
    with pytest.raises(ValueError, match="twice"):
        effective_table([prize("a", 1), prize("a", 2)], no_prize_weight=0)
    with pytest.raises(ValueError, match="no_prize_weight"):
        effective_table([prize("a", 1)], no_prize_weight=-1)
    with pytest.raises(ValueError, match="empty"):
        odds(())
    with pytest.raises(ValueError, match="> 0"):
        odds(((NO_PRIZE, 0),))
    with pytest.raises(ValueError, match="points"):
        PointsGrant(points=0)
    with pytest.raises(ValueError, match="entry"):
        DrawEntriesGrant(draw_id="d", entries=0)
    with pytest.raises(ValueError, match="token"):
        PlayTokensGrant(tokens=0)


def test_grants_are_a_tagged_union() -> None:
    """Goal: each grant kind is its own frozen type the service can match on."""
    grants = [
        PointsGrant(points=50),
        RewardGrant(reward_id="rwd_1"),
        StampGrant(passport_id="pass_1", stamp_id="stamp_3"),
        DrawEntriesGrant(draw_id="draw_1", entries=2),
        PlayTokensGrant(tokens=1),
    ]
    kinds = []
    for grant in grants:
        match grant:
            case PointsGrant(points=n) | PlayTokensGrant(tokens=n):
                kinds.append(("amount", n))
            case RewardGrant() | StampGrant() | DrawEntriesGrant():
                kinds.append((type(grant).__name__, 0))
    assert len(kinds) == 5
    table = effective_table([prize("a", 1)], no_prize_weight=3)
    assert_type(odds(table), dict[Outcome, Fraction])
    assert odds(table)[NO_PRIZE] == Fraction(3, 4)


_UPDATES = st.one_of(st.none(), st.integers(0, 30))


@given(st.lists(st.one_of(st.tuples(st.just("update"), _UPDATES), st.just(("play", None))), max_size=80))
def test_game_updates_never_give_a_prize_beyond_its_total(steps: list[tuple[str, int | None]]) -> None:
    """Goal: whatever the updates (totals raised, lowered, unlimited) and plays in between, a kept prize's
    stock left is always its current total minus everything it has given (never below 0), so it is never
    won more than max(total, wins before the update) times."""
    total: int | None = 5
    remaining, wins = stock_after_update(total, 0), 0
    assert remaining == 5
    for kind, value in steps:
        if kind == "update":
            before = wins
            total, remaining = value, stock_after_update(value, wins)
        elif remaining is None or remaining > 0:
            wins += 1
            remaining = None if remaining is None else remaining - 1
        if total is None:
            assert remaining is None
        else:
            assert remaining == max(0, total - wins)
            assert wins <= max(total, before if kind == "update" else wins)


def test_stock_after_update_edges() -> None:
    """Goal: the valid edge (all given: 0 left) and the invalid one (negative counts) just outside it."""
    assert stock_after_update(3, 3) == 0
    assert stock_after_update(3, 5) == 0
    assert stock_after_update(None, 7) is None
    assert stock_after_update(10, 0) == 10
    with pytest.raises(ValueError, match=">= 0"):
        stock_after_update(-1, 0)
    with pytest.raises(ValueError, match=">= 0"):
        stock_after_update(1, -1)
