"""Play limits, game windows, costs, programme days across midnight and DST, and published odds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_service.games.limits import (
    GameWindow,
    PlayCost,
    PlayCostKind,
    PlayLimits,
    PlayRefusal,
    check_cost,
    check_play,
    day_bounds,
    day_of,
    next_day_start,
    publish_odds,
    remaining_plays,
)

FAST = settings(max_examples=100, deadline=None)
PARIS = ZoneInfo("Europe/Paris")
OPENS = datetime(2025, 3, 1, tzinfo=UTC)
CLOSES = datetime(2025, 4, 1, tzinfo=UTC)
WINDOW = GameWindow(opens_at=OPENS, closes_at=CLOSES)

utc_instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
# Instants within a day of Paris's DST changes, where day arithmetic usually breaks.
dst_changes = [
    datetime(2025, 3, 30, 1, tzinfo=UTC),
    datetime(2025, 10, 26, 1, tzinfo=UTC),
    datetime(2024, 3, 31, 1, tzinfo=UTC),
    datetime(2024, 10, 27, 1, tzinfo=UTC),
]
near_dst = st.builds(
    lambda change, offset_s: change + timedelta(seconds=offset_s),
    st.sampled_from(dst_changes),
    st.integers(-36 * 3600, 36 * 3600),
)


@FAST
@given(now=utc_instants | near_dst)
def test_instant_lies_in_its_day(now: datetime) -> None:
    """Goal: every instant falls in the UTC range of its programme day, start included, end excluded."""
    start, end = day_bounds(day_of(now, PARIS), PARIS)
    assert start <= now < end
    assert next_day_start(now, PARIS) == end
    assert start.tzinfo is UTC


@FAST
@given(day=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)))
def test_days_tile_time(day: date) -> None:
    """Goal: consecutive programme days share their boundary; a day is 23, 24 or 25 hours long."""
    start, end = day_bounds(day, PARIS)
    assert day_bounds(day + timedelta(days=1), PARIS)[0] == end
    assert end - start in {timedelta(hours=23), timedelta(hours=24), timedelta(hours=25)}
    assert day_of(start, PARIS) == day
    assert day_of(end - timedelta(microseconds=1), PARIS) == day


def test_dst_day_lengths_in_paris() -> None:
    """Goal: the spring-forward day is 23 h and the fall-back day 25 h, at Paris midnight."""
    spring = day_bounds(date(2025, 3, 30), PARIS)
    autumn = day_bounds(date(2025, 10, 26), PARIS)
    assert spring == (datetime(2025, 3, 29, 23, tzinfo=UTC), datetime(2025, 3, 30, 22, tzinfo=UTC))
    assert autumn == (datetime(2025, 10, 25, 22, tzinfo=UTC), datetime(2025, 10, 26, 23, tzinfo=UTC))


def test_midnight_edge() -> None:
    """Goal: 23:59:59.999999 Paris is still today, midnight Paris is tomorrow (in winter, 23:00 UTC)."""
    assert day_of(datetime(2025, 1, 14, 22, 59, 59, 999_999, tzinfo=UTC), PARIS) == date(2025, 1, 14)
    assert day_of(datetime(2025, 1, 14, 23, tzinfo=UTC), PARIS) == date(2025, 1, 15)
    assert day_of(datetime(2025, 7, 14, 22, tzinfo=UTC), PARIS) == date(2025, 7, 15)


def test_day_of_refuses_naive_time() -> None:
    """Goal: a naive datetime is a programmer error, not silently local time."""
    with pytest.raises(ValueError, match="aware"):
        day_of(datetime(2025, 1, 1), PARIS)


@FAST
@given(
    per_day=st.none() | st.integers(1, 5),
    total=st.none() | st.integers(1, 10),
    plays_today=st.integers(0, 8),
    plays_total=st.integers(0, 12),
    now=st.datetimes(min_value=datetime(2025, 2, 1), max_value=datetime(2025, 5, 1), timezones=st.just(UTC)),
)
def test_check_play_matches_the_rules(
    per_day: int | None, total: int | None, plays_today: int, plays_total: int, now: datetime
) -> None:
    """Goal: a play is allowed exactly when the window is open and both limits have room, reasons in order."""
    plays_today = min(plays_today, plays_total)
    limits = PlayLimits(plays_per_day=per_day, plays_total=total)
    result = check_play(limits, plays_today, plays_total, now, WINDOW)
    if now < OPENS:
        assert result is PlayRefusal.GAME_NOT_OPEN
    elif now >= CLOSES:
        assert result is PlayRefusal.GAME_ENDED
    elif total is not None and plays_total >= total:
        assert result is PlayRefusal.TOTAL_LIMIT_REACHED
    elif per_day is not None and plays_today >= per_day:
        assert result is PlayRefusal.DAILY_LIMIT_REACHED
    else:
        assert result is None
    left = remaining_plays(limits, plays_today, plays_total)
    in_window = OPENS <= now < CLOSES
    if in_window:
        assert (result is None) == (left is None or left > 0)


def test_limit_edges() -> None:
    """Goal: the last allowed play passes, the next is refused; the window is half-open."""
    limits = PlayLimits(plays_per_day=3, plays_total=10)
    inside = OPENS + timedelta(days=1)
    assert check_play(limits, 2, 2, inside, WINDOW) is None
    assert check_play(limits, 3, 3, inside, WINDOW) is PlayRefusal.DAILY_LIMIT_REACHED
    assert check_play(limits, 0, 9, inside, WINDOW) is None
    assert check_play(limits, 3, 10, inside, WINDOW) is PlayRefusal.TOTAL_LIMIT_REACHED
    assert check_play(limits, 0, 0, OPENS, WINDOW) is None
    assert check_play(limits, 0, 0, OPENS - timedelta(microseconds=1), WINDOW) is PlayRefusal.GAME_NOT_OPEN
    assert check_play(limits, 0, 0, CLOSES, WINDOW) is PlayRefusal.GAME_ENDED
    endless = GameWindow(opens_at=OPENS, closes_at=None)
    assert check_play(limits, 0, 0, datetime(2999, 1, 1, tzinfo=UTC), endless) is None
    assert remaining_plays(limits, 1, 9) == 1
    assert remaining_plays(PlayLimits(plays_per_day=None, plays_total=None), 50, 50) is None


def test_daily_limit_resets_at_paris_midnight() -> None:
    """Goal: plays counted in the day of `now` — 3 plays at 23:30 Paris do not block 00:10 Paris."""
    limits = PlayLimits(plays_per_day=3, plays_total=None)
    late = datetime(2025, 3, 10, 22, 30, tzinfo=UTC)  # 23:30 Paris
    early = datetime(2025, 3, 10, 23, 10, tzinfo=UTC)  # 00:10 Paris next day
    plays = [late - timedelta(minutes=m) for m in (1, 2, 3)]
    start, end = day_bounds(day_of(early, PARIS), PARIS)
    plays_today = sum(start <= p < end for p in plays)
    assert plays_today == 0
    assert check_play(limits, plays_today, 3, early, WINDOW) is None
    start, end = day_bounds(day_of(late, PARIS), PARIS)
    assert check_play(limits, sum(start <= p < end for p in plays), 3, late, WINDOW) is (
        PlayRefusal.DAILY_LIMIT_REACHED
    )


def test_costs() -> None:
    """Goal: a play is affordable exactly when the balance covers the cost; free needs nothing."""
    points = PlayCost(kind=PlayCostKind.POINTS, amount=50)
    tokens = PlayCost(kind=PlayCostKind.PLAY_TOKENS, amount=1)
    free = PlayCost(kind=PlayCostKind.FREE, amount=0)
    assert check_cost(points, points_balance=50, play_tokens_balance=0) is None
    assert check_cost(points, points_balance=49, play_tokens_balance=99) is PlayRefusal.INSUFFICIENT_POINTS
    assert check_cost(tokens, points_balance=99, play_tokens_balance=1) is None
    assert (
        check_cost(tokens, points_balance=99, play_tokens_balance=0) is PlayRefusal.INSUFFICIENT_PLAY_TOKENS
    )
    assert check_cost(free, points_balance=0, play_tokens_balance=0) is None


def test_invalid_settings_are_refused() -> None:
    """Goal: nonsense costs, limits and windows fail at construction."""
    with pytest.raises(ValueError, match="free"):
        PlayCost(kind=PlayCostKind.FREE, amount=1)
    with pytest.raises(ValueError, match="at least 1"):
        PlayCost(kind=PlayCostKind.POINTS, amount=0)
    with pytest.raises(ValueError, match="plays_per_day"):
        PlayLimits(plays_per_day=0, plays_total=None)
    with pytest.raises(ValueError, match="after"):
        GameWindow(opens_at=CLOSES, closes_at=OPENS)
    with pytest.raises(ValueError, match="aware"):
        GameWindow(opens_at=datetime(2025, 1, 1), closes_at=None)
    with pytest.raises(ValueError, match=">= 0"):
        check_play(PlayLimits(plays_per_day=1, plays_total=1), -1, 0, OPENS, WINDOW)


@FAST
@given(
    weights=st.lists(st.integers(1, 10_000), min_size=1, max_size=8),
    scale=st.sampled_from([100, 10_000, 10**6]),
)
def test_published_odds_add_up(weights: list[int], scale: int) -> None:
    """Goal: published integer odds sum to the scale and each is within one unit of the exact value."""
    total = sum(weights)
    exact = {f"o{i}": Fraction(w, total) for i, w in enumerate(weights)}
    published = publish_odds(exact, scale=scale)
    assert sum(published.values()) == scale
    for outcome, probability in exact.items():
        assert abs(published[outcome] - probability * scale) < 1


def test_published_odds_examples() -> None:
    """Goal: thirds round to 33.34/33.33/33.33 %, first outcome takes the tie; bad input refused."""
    third = Fraction(1, 3)
    assert publish_odds({"a": third, "b": third, "c": third}, scale=10_000) == {
        "a": 3334,
        "b": 3333,
        "c": 3333,
    }
    with pytest.raises(ValueError, match="sum to 1"):
        publish_odds({"a": Fraction(1, 2)})
