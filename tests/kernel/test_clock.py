"""Calendar-month arithmetic and the injectable clocks."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_service.kernel.clock import Clock, FixedClock, SystemClock, add_months

FAST = settings(max_examples=200, deadline=None)

instants = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2500, 12, 31, 23, 59, 59),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=2))]),
)
month_counts = st.integers(min_value=-240, max_value=240)


def reference_add_months(dt: datetime, months: int) -> datetime:
    """Written differently on purpose: step one month at a time, clamp at the end."""
    year, month = dt.year, dt.month
    step = 1 if months >= 0 else -1
    for _ in range(abs(months)):
        month += step
        if month == 13:
            year, month = year + 1, 1
        elif month == 0:
            year, month = year - 1, 12
    days_in_month = calendar.monthrange(year, month)[1]
    day = dt.day if dt.day <= days_in_month else days_in_month
    return datetime(year, month, day, dt.hour, dt.minute, dt.second, dt.microsecond, dt.tzinfo)


def test_month_end_clamps() -> None:
    """Jan 31 + 1 month lands on the last day of February, leap or not."""
    jan31 = datetime(2023, 1, 31, 10, 30, tzinfo=UTC)
    assert add_months(jan31, 1) == datetime(2023, 2, 28, 10, 30, tzinfo=UTC)
    leap = datetime(2024, 1, 31, 23, 59, 59, 999, tzinfo=UTC)
    assert add_months(leap, 1) == datetime(2024, 2, 29, 23, 59, 59, 999, tzinfo=UTC)
    assert add_months(datetime(2024, 2, 29, tzinfo=UTC), 12) == datetime(2025, 2, 28, tzinfo=UTC)


def test_year_boundaries_and_negative_months() -> None:
    """Months carry into years in both directions."""
    dec = datetime(2024, 12, 15, tzinfo=UTC)
    assert add_months(dec, 1) == datetime(2025, 1, 15, tzinfo=UTC)
    assert add_months(dec, -12) == datetime(2023, 12, 15, tzinfo=UTC)
    assert add_months(datetime(2024, 3, 31, tzinfo=UTC), -1) == datetime(2024, 2, 29, tzinfo=UTC)
    assert add_months(dec, 0) == dec


@FAST
@given(instants, month_counts)
def test_matches_reference(dt: datetime, months: int) -> None:
    """add_months agrees with a month-by-month reference and keeps time and tzinfo."""
    result = add_months(dt, months)
    assert result == reference_add_months(dt, months)
    assert result.tzinfo is dt.tzinfo
    assert result.time() == dt.time()


@FAST
@given(instants, month_counts, month_counts)
def test_chained_never_drifts_past_month_end(dt: datetime, a: int, b: int) -> None:
    """Chaining stays inside real months, equals chaining the reference, never gains days."""
    chained = add_months(add_months(dt, a), b)
    assert chained == reference_add_months(reference_add_months(dt, a), b)
    assert chained.day <= calendar.monthrange(chained.year, chained.month)[1]
    assert chained.day <= dt.day
    months_moved = (chained.year - dt.year) * 12 + chained.month - dt.month
    assert months_moved == a + b


def test_fixed_clock_advances_only_forward() -> None:
    """FixedClock stands still until advanced, and refuses to go back."""
    start = datetime(2024, 6, 1, tzinfo=UTC)
    clock: Clock = FixedClock(start)
    assert clock.now() == start
    assert isinstance(clock, FixedClock)
    assert clock.advance(timedelta(hours=1)) == start + timedelta(hours=1)
    with pytest.raises(AssertionError):
        clock.advance(timedelta(seconds=-1))


def test_system_clock_is_utc_aware() -> None:
    """SystemClock gives aware UTC instants close to the real time."""
    clock: Clock = SystemClock()
    now = clock.now()
    assert now.tzinfo is UTC
    assert abs(datetime.now(UTC) - now) < timedelta(seconds=5)
