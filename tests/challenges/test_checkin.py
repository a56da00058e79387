"""Check-in rules: each rule at its valid-to-invalid edge, the documented order, bands, and the story."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from loyalty_service.challenges.checkin import (
    Band,
    CheckInAttempt,
    CheckInPolicy,
    PreviousCheckIn,
    RefusalReason,
    band_of,
    check_place_radius_m,
    evaluate_checkin,
    is_plausible_travel,
)
from loyalty_service.challenges.geo import distance_m
from tests.challenges import destination, latitudes, longitudes

FAST = settings(max_examples=100, deadline=None)
NOW = datetime(2025, 6, 12, 10, 0, tzinfo=UTC)
PARIS = (48.8566, 2.3522)
LYON = (45.7640, 4.8357)
POLICY = CheckInPolicy(max_accuracy_m=100.0, hourly_limit=10)
CLOCK_EDGES_US = [300_000_000, 300_000_001, -300_000_000, -300_000_001]

place_radii = st.floats(10, 5_000)


def attempt(**changes: object) -> CheckInAttempt:
    """A check-in that passes every rule: standing on the place centre with a good fix."""
    base = CheckInAttempt(
        place_lat=PARIS[0],
        place_lon=PARIS[1],
        place_radius_m=100.0,
        lat=PARIS[0],
        lon=PARIS[1],
        accuracy_m=10.0,
        device_time=NOW,
        server_time=NOW,
        has_location_consent=True,
        previous=None,
        already_checked_in_this_period=False,
        checkins_last_hour=0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_baseline_is_accepted() -> None:
    """Goal: the helper's attempt passes, so every refusal below comes from the one change made."""
    verdict = evaluate_checkin(attempt(), POLICY)
    assert verdict.accepted
    assert verdict.reason is None
    assert verdict.distance_m == 0.0
    assert (verdict.distance_band, verdict.accuracy_band) == (Band.UP_TO_25_M, Band.UP_TO_25_M)


@FAST
@given(lat=latitudes, lon=longitudes, accuracy=st.floats(0, 10_000), skew_s=st.integers(-10_000, 10_000))
def test_no_consent_refuses_and_reads_nothing(lat: float, lon: float, accuracy: float, skew_s: int) -> None:
    """Goal: without consent the answer is always NO_LOCATION_CONSENT and no distance or band is kept."""
    verdict = evaluate_checkin(
        attempt(
            has_location_consent=False,
            lat=lat,
            lon=lon,
            accuracy_m=accuracy,
            device_time=NOW + timedelta(seconds=skew_s),
            checkins_last_hour=99,
        ),
        POLICY,
    )
    assert not verdict.accepted
    assert verdict.reason is RefusalReason.NO_LOCATION_CONSENT
    assert (verdict.distance_m, verdict.distance_band, verdict.accuracy_band) == (None, None, None)


@FAST
@given(lat=latitudes, lon=longitudes, radius=place_radii, bearing=st.floats(0, 360), fraction=st.floats(0, 2))
def test_radius_rule_everywhere(
    lat: float, lon: float, radius: float, bearing: float, fraction: float
) -> None:
    """Goal: at any latitude, poles and antimeridian included, inside means distance <= radius."""
    point = destination(lat, lon, bearing, radius * fraction)
    verdict = evaluate_checkin(
        attempt(
            place_lat=lat, place_lon=lon, place_radius_m=radius, lat=point[0], lon=point[1], accuracy_m=5.0
        ),
        POLICY,
    )
    inside = distance_m(lat, lon, *point) <= radius
    assert verdict.accepted == inside
    assert verdict.reason is (None if inside else RefusalReason.OUTSIDE_RADIUS)


@FAST
@given(lat=latitudes, lon=longitudes, bearing=st.floats(0, 360), metres=st.floats(10, 5_000))
def test_exactly_at_radius(lat: float, lon: float, bearing: float, metres: float) -> None:
    """Goal: a member exactly on the rim is accepted; a radius one float smaller refuses them."""
    point = destination(lat, lon, bearing, metres)
    rim = distance_m(lat, lon, *point)
    assume(rim >= 10)
    on_rim = attempt(
        place_lat=lat, place_lon=lon, place_radius_m=rim, lat=point[0], lon=point[1], accuracy_m=5.0
    )
    assert evaluate_checkin(on_rim, POLICY).accepted
    smaller = replace(on_rim, place_radius_m=math.nextafter(rim, 0.0))
    assert evaluate_checkin(smaller, POLICY).reason is RefusalReason.OUTSIDE_RADIUS


@FAST
@given(radius=place_radii, max_accuracy=st.floats(1, 10_000))
def test_accuracy_edge(radius: float, max_accuracy: float) -> None:
    """Goal: accuracy equal to min(radius, programme maximum) passes; anything worse is refused."""
    policy = replace(POLICY, max_accuracy_m=max_accuracy)
    limit = min(radius, max_accuracy)
    assert evaluate_checkin(attempt(place_radius_m=radius, accuracy_m=limit), policy).accepted
    worse = attempt(place_radius_m=radius, accuracy_m=math.nextafter(limit, math.inf))
    assert evaluate_checkin(worse, policy).reason is RefusalReason.ACCURACY_TOO_LOW


@FAST
@given(skew_us=st.integers(-3_600_000_000, 3_600_000_000) | st.sampled_from(CLOCK_EDGES_US))
def test_clock_skew(skew_us: int) -> None:
    """Goal: the device clock may be up to 300 s ahead or behind, inclusive; one microsecond more fails."""
    verdict = evaluate_checkin(attempt(device_time=NOW + timedelta(microseconds=skew_us)), POLICY)
    assert verdict.accepted == (abs(skew_us) <= 300_000_000)
    if not verdict.accepted:
        assert verdict.reason is RefusalReason.DEVICE_CLOCK_SKEW


@FAST
@given(
    lat=latitudes,
    lon=longitudes,
    bearing=st.floats(0, 360),
    metres=st.floats(2, 2_000_000),
    max_speed=st.integers(1, 1_000),
)
def test_exactly_at_max_speed(lat: float, lon: float, bearing: float, metres: float, max_speed: int) -> None:
    """Goal: the shortest elapsed time at or under the speed limit passes; one microsecond less fails."""
    here = destination(lat, lon, bearing, metres)
    moved = distance_m(lat, lon, *here)
    assume(moved > 1.0)
    # Microseconds needed at exactly max_speed, rounded up to the clock's resolution.
    needed = Fraction(moved) * 3_600_000_000 / (max_speed * 1000)
    needed_us = math.ceil(needed)
    previous = PreviousCheckIn(lat=lat, lon=lon, at=NOW - timedelta(microseconds=needed_us))
    assert is_plausible_travel(previous, lat=here[0], lon=here[1], now=NOW, max_speed_kmh=max_speed)
    sooner = replace(previous, at=NOW - timedelta(microseconds=needed_us - 1))
    assert not is_plausible_travel(sooner, lat=here[0], lon=here[1], now=NOW, max_speed_kmh=max_speed)


@FAST
@given(speed_kmh=st.floats(0.1, 1_000), minutes=st.integers(1, 24 * 60 - 1))
def test_travel_rule_against_float_model(speed_kmh: float, minutes: int) -> None:
    """Goal: a move along the equator is refused exactly when its plainly computed speed exceeds 250 km/h."""
    metres = speed_kmh * 1000 * minutes / 60
    assume(abs(speed_kmh - 250) > 1e-6)
    lon = math.degrees(metres / 6_371_008.8)
    assume(lon <= 180)
    previous = PreviousCheckIn(lat=0.0, lon=0.0, at=NOW - timedelta(minutes=minutes))
    verdict = evaluate_checkin(
        attempt(place_lat=0.0, place_lon=lon, lat=0.0, lon=lon, previous=previous), POLICY
    )
    assert verdict.accepted == (speed_kmh < 250)
    if not verdict.accepted:
        assert verdict.reason is RefusalReason.IMPOSSIBLE_TRAVEL


def test_no_elapsed_time() -> None:
    """Goal: with no time elapsed, a real move is impossible but re-reporting the same spot is not."""
    previous = PreviousCheckIn(lat=0.0, lon=0.0, at=NOW)
    far = attempt(place_lat=0.0, place_lon=0.0001, lat=0.0, lon=0.0001, previous=previous)  # ~11 m
    assert evaluate_checkin(far, POLICY).reason is RefusalReason.IMPOSSIBLE_TRAVEL
    near = attempt(place_lat=0.0, place_lon=0.0, lat=0.0, lon=0.000005, previous=previous)  # ~0.56 m
    assert evaluate_checkin(near, POLICY).accepted
    later = replace(previous, at=NOW + timedelta(seconds=5))  # previous after now: counts as 0 elapsed
    assert evaluate_checkin(replace(far, previous=later), POLICY).reason is RefusalReason.IMPOSSIBLE_TRAVEL


def test_story_paris_then_lyon() -> None:
    """Goal: the issue's story — Lyon ten minutes after Paris is refused; the next day it is accepted."""
    assert 391_000 < distance_m(*PARIS, *LYON) < 393_000
    in_paris = PreviousCheckIn(lat=PARIS[0], lon=PARIS[1], at=NOW)
    at_lyon = {
        "place_lat": LYON[0],
        "place_lon": LYON[1],
        "lat": LYON[0],
        "lon": LYON[1],
        "previous": in_paris,
    }
    ten_minutes = NOW + timedelta(minutes=10)
    refused = evaluate_checkin(attempt(**at_lyon, device_time=ten_minutes, server_time=ten_minutes), POLICY)
    assert refused.reason is RefusalReason.IMPOSSIBLE_TRAVEL
    next_day = NOW + timedelta(days=1)
    assert evaluate_checkin(attempt(**at_lyon, device_time=next_day, server_time=next_day), POLICY).accepted
    # By train: 392 km in two hours is under 250 km/h and so accepted too.
    two_hours = NOW + timedelta(hours=2)
    assert evaluate_checkin(attempt(**at_lyon, device_time=two_hours, server_time=two_hours), POLICY).accepted


def test_previous_position_expires() -> None:
    """Goal: a previous position older than the retention setting is ignored, as if erased."""
    policy = replace(POLICY, position_retention_s=3_600)
    old = PreviousCheckIn(lat=LYON[0], lon=LYON[1], at=NOW - timedelta(seconds=3_601))
    assert evaluate_checkin(attempt(previous=old), policy).accepted
    kept = replace(old, at=NOW - timedelta(seconds=3_600))
    assert evaluate_checkin(attempt(previous=kept), policy).reason is RefusalReason.IMPOSSIBLE_TRAVEL


def test_rate_limit_and_already_checked_in_edges() -> None:
    """Goal: the last allowed attempt of the hour passes, the next is refused; a repeat visit is refused."""
    assert evaluate_checkin(attempt(checkins_last_hour=9), POLICY).accepted
    assert evaluate_checkin(attempt(checkins_last_hour=10), POLICY).reason is RefusalReason.RATE_LIMITED
    repeat = attempt(already_checked_in_this_period=True)
    assert evaluate_checkin(repeat, POLICY).reason is RefusalReason.ALREADY_CHECKED_IN


ORDER = [
    RefusalReason.NO_LOCATION_CONSENT,
    RefusalReason.RATE_LIMITED,
    RefusalReason.DEVICE_CLOCK_SKEW,
    RefusalReason.ALREADY_CHECKED_IN,
    RefusalReason.ACCURACY_TOO_LOW,
    RefusalReason.OUTSIDE_RADIUS,
    RefusalReason.IMPOSSIBLE_TRAVEL,
]


@FAST
@given(failing=st.sets(st.sampled_from(ORDER)))
def test_documented_order(failing: set[RefusalReason]) -> None:
    """Goal: with several rules broken at once, the reason reported is the first in the documented order."""
    lyon_ten_minutes_ago = PreviousCheckIn(lat=LYON[0], lon=LYON[1], at=NOW - timedelta(minutes=10))
    breaks: dict[RefusalReason, dict[str, object]] = {
        RefusalReason.NO_LOCATION_CONSENT: {"has_location_consent": False},
        RefusalReason.RATE_LIMITED: {"checkins_last_hour": 10},
        RefusalReason.DEVICE_CLOCK_SKEW: {"device_time": NOW - timedelta(hours=1)},
        RefusalReason.ALREADY_CHECKED_IN: {"already_checked_in_this_period": True},
        RefusalReason.ACCURACY_TOO_LOW: {"accuracy_m": 150.0},
        RefusalReason.OUTSIDE_RADIUS: {"lat": PARIS[0] + 0.01},  # ~1.1 km north
        RefusalReason.IMPOSSIBLE_TRAVEL: {"previous": lyon_ten_minutes_ago},
    }
    changes: dict[str, object] = {}
    for reason in failing:
        changes.update(breaks[reason])
    verdict = evaluate_checkin(attempt(**changes), POLICY)
    expected = next((reason for reason in ORDER if reason in failing), None)
    assert verdict.reason is expected
    assert verdict.accepted == (expected is None)


def test_bands() -> None:
    """Goal: bands include their upper bound and are the only positional data meant for storage."""
    assert band_of(0.0) is Band.UP_TO_25_M
    assert band_of(25.0) is Band.UP_TO_25_M
    assert band_of(math.nextafter(25.0, math.inf)) is Band.UP_TO_100_M
    assert band_of(100.0) is Band.UP_TO_100_M
    assert band_of(500.0) is Band.UP_TO_500_M
    assert band_of(500.5) is Band.OVER_500_M
    verdict = evaluate_checkin(attempt(lat=PARIS[0] + 0.0005, accuracy_m=60.0), POLICY)  # ~56 m north
    assert (verdict.distance_band, verdict.accuracy_band) == (Band.UP_TO_100_M, Band.UP_TO_100_M)
    assert str(Band.OVER_500_M) == ">500m"


def test_invalid_input_is_refused() -> None:
    """Goal: bad coordinates, accuracies, counters, naive times, policies and place radii are refused."""
    bad_attempts: list[tuple[dict[str, object], str]] = [
        ({"lat": 90.5}, "latitude"),
        ({"place_lon": math.inf}, "longitude"),
        ({"accuracy_m": -1.0}, "accuracy_m"),
        ({"accuracy_m": math.nan}, "accuracy_m"),
        ({"place_radius_m": 0.0}, "place_radius_m"),
        ({"checkins_last_hour": -1}, "checkins_last_hour"),
        ({"device_time": datetime(2025, 1, 1)}, "aware"),
    ]
    for changes, field in bad_attempts:
        with pytest.raises(ValueError, match=field):
            attempt(**changes)
    with pytest.raises(ValueError, match="aware"):
        PreviousCheckIn(lat=0, lon=0, at=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="hourly_limit"):
        CheckInPolicy(max_accuracy_m=10, hourly_limit=0)
    with pytest.raises(ValueError, match="max_accuracy_m"):
        CheckInPolicy(max_accuracy_m=math.inf, hourly_limit=1)
    check_place_radius_m(10)
    check_place_radius_m(5_000)
    for bad in (9.99, 5_000.01, math.nan):
        with pytest.raises(ValueError, match="radius_m"):
            check_place_radius_m(bad)
