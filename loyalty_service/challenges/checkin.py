"""The check-in rules: is a member at a challenge place, honestly, and allowed to check in now.

`evaluate_checkin` applies the rules in this order and reports the first that fails:

1. NO_LOCATION_CONSENT: without consent the position is not even looked at (no distance, no bands).
2. RATE_LIMITED: a member over the hourly limit learns nothing more, so repeated attempts cannot be
   used to probe where the radius or the speed limit lies.
3. DEVICE_CLOCK_SKEW: a device clock far from the server's marks a replayed or tampered request.
4. ALREADY_CHECKED_IN: true wherever the member stands; the most useful answer when it holds.
5. ACCURACY_TOO_LOW: a vague fix cannot prove presence, and "outside" would be a guess.
6. OUTSIDE_RADIUS
7. IMPOSSIBLE_TRAVEL: last, so it is reported only for a check-in that would otherwise pass,
   which is exactly the spoofed one.

Privacy: the verdict carries coarse distance and accuracy bands for storage; the raw position is not
stored. The last accepted position is used only while younger than `position_retention_s`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from loyalty_service.challenges.geo import check_coordinates, distance_m

__all__ = [
    "PLACE_RADIUS_M_MAX",
    "PLACE_RADIUS_M_MIN",
    "Band",
    "CheckInAttempt",
    "CheckInPolicy",
    "CheckInVerdict",
    "PreviousCheckIn",
    "RefusalReason",
    "band_of",
    "check_place_radius_m",
    "evaluate_checkin",
    "is_plausible_travel",
]

PLACE_RADIUS_M_MIN = 10
PLACE_RADIUS_M_MAX = 5000


class RefusalReason(enum.StrEnum):
    """Why a check-in is refused; sent to the app with FAILED_PRECONDITION."""

    NO_LOCATION_CONSENT = "NO_LOCATION_CONSENT"
    RATE_LIMITED = "RATE_LIMITED"
    DEVICE_CLOCK_SKEW = "DEVICE_CLOCK_SKEW"
    ALREADY_CHECKED_IN = "ALREADY_CHECKED_IN"
    ACCURACY_TOO_LOW = "ACCURACY_TOO_LOW"
    OUTSIDE_RADIUS = "OUTSIDE_RADIUS"
    IMPOSSIBLE_TRAVEL = "IMPOSSIBLE_TRAVEL"


class Band(enum.StrEnum):
    """A coarse bucket of metres, upper bound included ("0-25m" is 0 <= x <= 25)."""

    UP_TO_25_M = "0-25m"
    UP_TO_100_M = "25-100m"
    UP_TO_500_M = "100-500m"
    OVER_500_M = ">500m"


_BAND_UPPER_BOUNDS_M = ((25.0, Band.UP_TO_25_M), (100.0, Band.UP_TO_100_M), (500.0, Band.UP_TO_500_M))


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviousCheckIn:
    """The member's last accepted check-in: its position and server time."""

    lat: float
    lon: float
    at: datetime

    def __post_init__(self) -> None:
        check_coordinates(self.lat, self.lon)
        _require_aware(self.at, "previous.at")


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckInAttempt:
    """Everything the rules need about one CheckIn request, gathered by the service."""

    place_lat: float
    place_lon: float
    place_radius_m: float
    lat: float
    """Reported position, degrees."""
    lon: float
    accuracy_m: float
    """Reported horizontal accuracy (radius of the device's confidence circle)."""
    device_time: datetime
    server_time: datetime
    has_location_consent: bool
    previous: PreviousCheckIn | None
    already_checked_in_this_period: bool
    checkins_last_hour: int
    """Check-in attempts by the member in the hour before this one; counting refused attempts too
    is what makes the limit stop probing."""

    def __post_init__(self) -> None:
        check_coordinates(self.place_lat, self.place_lon)
        check_coordinates(self.lat, self.lon)
        if not (math.isfinite(self.place_radius_m) and self.place_radius_m > 0):
            raise ValueError("place_radius_m must be a finite number > 0")
        if not (math.isfinite(self.accuracy_m) and self.accuracy_m >= 0):
            raise ValueError("accuracy_m must be a finite number >= 0")
        _require_aware(self.device_time, "device_time")
        _require_aware(self.server_time, "server_time")
        if self.checkins_last_hour < 0:
            raise ValueError("checkins_last_hour must be >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckInPolicy:
    """Programme settings for check-ins."""

    max_accuracy_m: float
    """Worst accepted accuracy, whatever the place radius; the place radius may lower it."""
    hourly_limit: int
    """Check-in attempts allowed per member per hour."""
    max_clock_skew_s: int = 300
    """Largest accepted |device time - server time|, seconds."""
    max_speed_kmh: int = 250
    """Fastest plausible travel between two check-ins (a fast train), km/h."""
    stationary_tolerance_m: float = 1.0
    """Moves up to this far are plausible even with no time elapsed (repeated fixes, rounding)."""
    position_retention_s: int = 86_400
    """How long the last accepted position is kept for the travel check; older ones are ignored."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_accuracy_m) and self.max_accuracy_m > 0):
            raise ValueError("max_accuracy_m must be a finite number > 0")
        if not (math.isfinite(self.stationary_tolerance_m) and self.stationary_tolerance_m >= 0):
            raise ValueError("stationary_tolerance_m must be a finite number >= 0")
        for name in ("hourly_limit", "max_clock_skew_s", "max_speed_kmh", "position_retention_s"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckInVerdict:
    """The decision; distance and bands are None only when consent is missing."""

    accepted: bool
    reason: RefusalReason | None
    distance_m: float | None
    """Distance from the place centre; not to be stored (use the band)."""
    distance_band: Band | None
    accuracy_band: Band | None


def check_place_radius_m(radius_m: float) -> None:
    """Raise ValueError unless a place radius is within [10, 5000] metres (back office CRUD)."""
    if not (math.isfinite(radius_m) and PLACE_RADIUS_M_MIN <= radius_m <= PLACE_RADIUS_M_MAX):
        raise ValueError(
            f"radius_m must be in [{PLACE_RADIUS_M_MIN}, {PLACE_RADIUS_M_MAX}], got {radius_m!r}"
        )


def band_of(metres: float) -> Band:
    """The coarse band stored instead of an exact distance or accuracy."""
    for upper_m, band in _BAND_UPPER_BOUNDS_M:
        if metres <= upper_m:
            return band
    return Band.OVER_500_M


def evaluate_checkin(attempt: CheckInAttempt, policy: CheckInPolicy) -> CheckInVerdict:
    """Accept the check-in or name the first rule it breaks (order in the module docstring)."""
    if not attempt.has_location_consent:
        return CheckInVerdict(
            accepted=False,
            reason=RefusalReason.NO_LOCATION_CONSENT,
            distance_m=None,
            distance_band=None,
            accuracy_band=None,
        )
    distance = distance_m(attempt.place_lat, attempt.place_lon, attempt.lat, attempt.lon)
    reason = _first_refusal(attempt, policy, distance)
    return CheckInVerdict(
        accepted=reason is None,
        reason=reason,
        distance_m=distance,
        distance_band=band_of(distance),
        accuracy_band=band_of(attempt.accuracy_m),
    )


def is_plausible_travel(
    previous: PreviousCheckIn,
    *,
    lat: float,
    lon: float,
    now: datetime,
    max_speed_kmh: int,
    stationary_tolerance_m: float = 0.0,
) -> bool:
    """Whether moving from `previous` to (lat, lon) by `now` is possible at `max_speed_kmh`.

    Compared exactly (Fraction of the float distance against integer microseconds), so a move at
    exactly the maximum speed is accepted. Elapsed time is server time; a negative elapsed time
    (clock change on the server) counts as zero, which refuses any real move.
    """
    moved_m = distance_m(previous.lat, previous.lon, lat, lon)
    if moved_m <= stationary_tolerance_m:
        return True
    elapsed_us = max(0, _microseconds(now - previous.at))
    # moved_m / elapsed_h <= max_speed_kmh * 1000  <=>  moved_m * 3_600_000_000 <= speed_m_per_h * elapsed_us
    return Fraction(moved_m) * 3_600_000_000 <= max_speed_kmh * 1000 * elapsed_us


def _first_refusal(attempt: CheckInAttempt, policy: CheckInPolicy, distance: float) -> RefusalReason | None:
    if attempt.checkins_last_hour >= policy.hourly_limit:
        return RefusalReason.RATE_LIMITED
    if abs(attempt.device_time - attempt.server_time) > timedelta(seconds=policy.max_clock_skew_s):
        return RefusalReason.DEVICE_CLOCK_SKEW
    if attempt.already_checked_in_this_period:
        return RefusalReason.ALREADY_CHECKED_IN
    if attempt.accuracy_m > min(attempt.place_radius_m, policy.max_accuracy_m):
        return RefusalReason.ACCURACY_TOO_LOW
    if distance > attempt.place_radius_m:
        return RefusalReason.OUTSIDE_RADIUS
    previous = attempt.previous
    if previous is not None and _is_recent(previous, attempt.server_time, policy):
        plausible = is_plausible_travel(
            previous,
            lat=attempt.lat,
            lon=attempt.lon,
            now=attempt.server_time,
            max_speed_kmh=policy.max_speed_kmh,
            stationary_tolerance_m=policy.stationary_tolerance_m,
        )
        if not plausible:
            return RefusalReason.IMPOSSIBLE_TRAVEL
    return None


def _is_recent(previous: PreviousCheckIn, now: datetime, policy: CheckInPolicy) -> bool:
    """A previous position older than the retention should already be erased; ignore it if not."""
    return now - previous.at <= timedelta(seconds=policy.position_retention_s)


def _microseconds(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
