"""Challenge periods, opening hours and local days: the pure rules behind CheckIn."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from loyalty_service.challenges.rules import (
    ChallengeSpec,
    Grant,
    OpeningInterval,
    PlaceSpec,
    is_open_at,
    local_day,
    period_at,
)

OPENS = datetime(2026, 3, 1, 9, tzinfo=UTC)


def _spec(repeat_days: int, days: int = 30) -> ChallengeSpec:
    return ChallengeSpec(
        name="c",
        description="",
        opens_at=OPENS,
        closes_at=OPENS + timedelta(days=days),
        place_ids=("plc_a",),
        goal_places=1,
        requires_purchase=False,
        repeat_period_days=repeat_days,
        grant=Grant(points=1, reward_id="", stamp=False, draw_id=""),
    )


@given(st.integers(0, 10), st.integers(0, 30 * 86_400 - 1))
def test_a_period_holds_now_and_stays_inside_the_window(repeat_days: int, offset_s: int) -> None:
    """Goal: every moment of the window falls in exactly one period, clipped to the window."""
    now = OPENS + timedelta(seconds=offset_s)
    period = period_at(_spec(repeat_days), now)
    assert period is not None
    assert period.starts_at <= now < period.ends_at
    assert period.starts_at >= OPENS
    assert period.ends_at <= OPENS + timedelta(days=30)
    assert period.index == (0 if repeat_days == 0 else offset_s // (repeat_days * 86_400))


def test_outside_the_window_there_is_no_period() -> None:
    """Goal: the edges: opens_at is in, closes_at is out."""
    spec = _spec(1)
    assert period_at(spec, OPENS - timedelta(microseconds=1)) is None
    assert period_at(spec, OPENS + timedelta(days=30)) is None
    assert period_at(spec, OPENS) is not None


def test_opening_hours_are_local_and_may_pass_midnight() -> None:
    """Goal: Friday 22:00-02:00 Paris time is open at 01:30 on Saturday, closed at 02:00."""
    place = PlaceSpec(
        name="Club",
        lat=48.85,
        lon=2.35,
        radius_m=50,
        store_id=None,
        time_zone="Europe/Paris",
        opening_hours=(OpeningInterval(day_of_week=5, opens_minute=22 * 60, closes_minute=26 * 60),),
    )
    saturday_0130_paris = datetime(2026, 3, 7, 0, 30, tzinfo=UTC)  # UTC+1 in March before DST
    assert is_open_at(place, saturday_0130_paris)
    assert not is_open_at(place, saturday_0130_paris + timedelta(minutes=30))
    assert not is_open_at(place, datetime(2026, 3, 6, 20, 59, tzinfo=UTC))  # Friday 21:59
    assert is_open_at(dataclasses.replace(place, opening_hours=()), saturday_0130_paris)


def test_the_local_day_follows_daylight_saving_time() -> None:
    """Goal: the day DST starts in Paris lasts 23 hours."""
    start, end = local_day("Europe/Paris", datetime(2026, 3, 29, 12, tzinfo=UTC))
    assert end - start == timedelta(hours=23)
