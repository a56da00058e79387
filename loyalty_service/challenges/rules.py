"""Places and challenges as values: specs, challenge periods, opening hours, "the same day".

Pure: no await, SQLAlchemy or grpc; time comes in as arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "CHALLENGE_PLACES_MAX",
    "REPEAT_PERIOD_DAYS_MAX",
    "ChallengeSpec",
    "Grant",
    "OpeningInterval",
    "Period",
    "PlaceSpec",
    "is_open_at",
    "local_day",
    "period_at",
    "spec_changes_after_open",
]

CHALLENGE_PLACES_MAX = 100
REPEAT_PERIOD_DAYS_MAX = 366
_MINUTES_PER_DAY = 1440


@dataclass(frozen=True, slots=True, kw_only=True)
class OpeningInterval:
    day_of_week: int
    """1 = Monday ... 7 = Sunday, local time."""
    opens_minute: int
    """[0, 1440) after local midnight."""
    closes_minute: int
    """(opens_minute, opens_minute + 1440]; past 1440 runs into the next day."""

    def contains(self, weekday: int, minute: int) -> bool:
        if weekday == self.day_of_week and self.opens_minute <= minute < self.closes_minute:
            return True
        next_day = self.day_of_week % 7 + 1
        return weekday == next_day and minute < self.closes_minute - _MINUTES_PER_DAY


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceSpec:
    name: str
    lat: float
    lon: float
    radius_m: int
    store_id: str | None
    time_zone: str
    """IANA name; "UTC" when not given."""
    opening_hours: tuple[OpeningInterval, ...]
    """Empty: always open."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    points: int
    reward_id: str
    stamp: bool
    draw_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChallengeSpec:
    name: str
    description: str
    opens_at: datetime
    closes_at: datetime
    place_ids: tuple[str, ...]
    goal_places: int
    requires_purchase: bool
    repeat_period_days: int
    """0: once per member over the window."""
    grant: Grant


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    index: int
    starts_at: datetime
    ends_at: datetime


def period_at(spec: ChallengeSpec, now: datetime) -> Period | None:
    """The challenge period holding `now`, or None outside the window."""
    if not spec.opens_at <= now < spec.closes_at:
        return None
    if spec.repeat_period_days == 0:
        return Period(index=0, starts_at=spec.opens_at, ends_at=spec.closes_at)
    length = timedelta(days=spec.repeat_period_days)
    index = (now - spec.opens_at) // length
    starts_at = spec.opens_at + index * length
    return Period(index=index, starts_at=starts_at, ends_at=min(starts_at + length, spec.closes_at))


def is_open_at(place: PlaceSpec, now: datetime) -> bool:
    """Whether the place's opening hours hold `now` (always, without opening hours)."""
    if not place.opening_hours:
        return True
    local = now.astimezone(ZoneInfo(place.time_zone))
    minute = local.hour * 60 + local.minute
    return any(i.contains(local.isoweekday(), minute) for i in place.opening_hours)


def local_day(time_zone: str, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the local calendar day holding `now`, in UTC (a DST day lasts 23 or 25 hours)."""
    zone = ZoneInfo(time_zone)
    local = now.astimezone(zone)
    start = datetime(local.year, local.month, local.day, tzinfo=zone)
    following = start.date() + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def spec_changes_after_open(before: ChallengeSpec, after: ChallengeSpec) -> list[str]:
    """Fields an update may not change once the window has opened (progress depends on them)."""
    fixed = ("opens_at", "place_ids", "goal_places", "requires_purchase", "repeat_period_days")
    return [name for name in fixed if getattr(before, name) != getattr(after, name)]
