"""Time for the domain: calendar-month arithmetic and an injectable clock.

Domain code never calls `datetime.now()`; it receives `now` as an argument, and the
servicer takes it from a `Clock` so tests can pin or advance time.

`add_months` counts calendar months and clamps to the end of a shorter month
(Jan 31 + 1 month = Feb 28 or 29), keeping time of day and tzinfo. Clamping is
not reversible: add_months(add_months(Jan 31, 1), 1) is Mar 28, not Mar 31, so
expiry dates are always computed from the original instant, never chained.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock", "add_months"]


def add_months(dt: datetime, months: int) -> datetime:
    """`dt` moved by whole calendar months (negative allowed), day clamped to month end.

    Programmes state expiry in months ("points expire after 24 months"), and members
    read that on a calendar, so a fixed number of days would be wrong.
    """
    month_index = dt.year * 12 + (dt.month - 1) + months
    year, month_zero_based = divmod(month_index, 12)
    month = month_zero_based + 1
    last_day = calendar.monthrange(year, month)[1]
    return dt.replace(year=year, month=month, day=min(dt.day, last_day))


class Clock(Protocol):
    """Source of the current time; always timezone-aware UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock, used by the running service."""

    __slots__ = ()

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to; for tests and deterministic replays."""

    __slots__ = ("_now",)

    def __init__(self, now: datetime) -> None:
        assert now.tzinfo is not None, "FixedClock needs an aware datetime"
        self._now = now

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward (never back: a clock going backwards hides ordering bugs)."""
        assert delta >= timedelta(0), "a clock never goes backwards"
        self._now += delta
        return self._now
