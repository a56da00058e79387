"""Great-circle distance against an independent formula, and bounding boxes that never miss a point."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from loyalty_service.challenges.geo import (
    EARTH_RADIUS_M,
    bounding_box,
    check_coordinates,
    distance_m,
    is_valid_latitude,
    is_valid_longitude,
)
from tests.challenges import destination, latitudes, longitudes

FAST = settings(max_examples=100, deadline=None)

radii_m = st.floats(0, 5_000) | st.floats(0, 25_000_000)


def unit_vector(lat: float, lon: float) -> tuple[float, float, float]:
    phi, lam = math.radians(lat), math.radians(lon)
    return (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))


def reference_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Independent formula: the angle between unit vectors as atan2(|a x b|, a . b), accurate everywhere."""
    ax, ay, az = unit_vector(lat1, lon1)
    bx, by, bz = unit_vector(lat2, lon2)
    cross = (ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx)
    dot = ax * bx + ay * by + az * bz
    return math.atan2(math.hypot(*cross), dot) * EARTH_RADIUS_M


@FAST
@given(lat1=latitudes, lon1=longitudes, lat2=latitudes, lon2=longitudes)
def test_distance_matches_reference(lat1: float, lon1: float, lat2: float, lon2: float) -> None:
    """Goal: haversine agrees with the vector formula to a millimetre, at any latitude and longitude."""
    assert distance_m(lat1, lon1, lat2, lon2) == pytest.approx(
        reference_distance_m(lat1, lon1, lat2, lon2), abs=1e-3
    )


@FAST
@given(lat=latitudes, lon=longitudes, bearing=st.floats(0, 360), metres=st.floats(0, 10_000))
def test_short_distances_match_reference(lat: float, lon: float, bearing: float, metres: float) -> None:
    """Goal: for place-sized distances the agreement is much finer than a millimetre."""
    lat2, lon2 = destination(lat, lon, bearing, metres)
    assert distance_m(lat, lon, lat2, lon2) == pytest.approx(
        reference_distance_m(lat, lon, lat2, lon2), abs=1e-5
    )
    # The generator's asin loses precision next to the poles, hence the looser check on it.
    assert distance_m(lat, lon, lat2, lon2) == pytest.approx(metres, abs=0.05)


@FAST
@given(lat1=latitudes, lon1=longitudes, lat2=latitudes, lon2=longitudes)
def test_symmetric_and_bounded(lat1: float, lon1: float, lat2: float, lon2: float) -> None:
    """Goal: d(a, b) == d(b, a), and 0 <= d <= half the circumference."""
    d = distance_m(lat1, lon1, lat2, lon2)
    assert d == pytest.approx(distance_m(lat2, lon2, lat1, lon1), abs=1e-6)
    assert 0.0 <= d <= math.pi * EARTH_RADIUS_M


@FAST
@given(
    a=st.tuples(latitudes, longitudes), b=st.tuples(latitudes, longitudes), c=st.tuples(latitudes, longitudes)
)
def test_triangle_inequality(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> None:
    """Goal: going through b is never shorter than going straight from a to c."""
    assert distance_m(*a, *c) <= distance_m(*a, *b) + distance_m(*b, *c) + 1e-6


@FAST
@given(lat=latitudes, lon=longitudes)
def test_zero_and_antipodes(lat: float, lon: float) -> None:
    """Goal: a point is 0 m from itself and pi * R from its antipode (within a millimetre)."""
    assert distance_m(lat, lon, lat, lon) == 0.0
    antipode_lon = lon - 180.0 if lon > 0 else lon + 180.0
    assert distance_m(lat, lon, -lat, antipode_lon) == pytest.approx(math.pi * EARTH_RADIUS_M, abs=1e-3)


def test_known_cases() -> None:
    """Goal: poles, antimeridian and a real city pair give the textbook figures."""
    quarter = math.pi / 2 * EARTH_RADIUS_M
    assert distance_m(90, 0, 0, 123) == pytest.approx(quarter, abs=1e-6)
    assert distance_m(90, -180, 90, 37) == pytest.approx(0.0, abs=1e-6)  # all longitudes meet at the pole
    assert distance_m(-90, 0, 90, 0) == pytest.approx(2 * quarter, abs=1e-6)
    one_degree = math.radians(1) * EARTH_RADIUS_M
    assert distance_m(0, 179.5, 0, -179.5) == pytest.approx(one_degree, abs=1e-6)
    assert distance_m(0, 180, 0, -180) == pytest.approx(0.0, abs=1e-6)
    paris_lyon = distance_m(48.8566, 2.3522, 45.7640, 4.8357)
    assert 391_000 < paris_lyon < 393_000


def test_validation() -> None:
    """Goal: out-of-range and non-finite coordinates are refused with the coordinate named."""
    assert is_valid_latitude(-90)
    assert is_valid_latitude(90)
    assert not is_valid_latitude(90.0000001)
    assert is_valid_longitude(-180)
    assert is_valid_longitude(180)
    assert not is_valid_longitude(-180.0000001)
    for bad in (math.nan, math.inf, -math.inf):
        assert not is_valid_latitude(bad)
        assert not is_valid_longitude(bad)
    with pytest.raises(ValueError, match="latitude"):
        check_coordinates(91, 0)
    with pytest.raises(ValueError, match="longitude"):
        check_coordinates(0, math.nan)
    with pytest.raises(ValueError, match="latitude"):
        distance_m(0, 0, -90.5, 0)
    with pytest.raises(ValueError, match="radius_m"):
        bounding_box(0, 0, -1)
    with pytest.raises(ValueError, match="radius_m"):
        bounding_box(0, 0, math.inf)


def in_some_box(lat: float, lon: float, radius: float, point: tuple[float, float]) -> bool:
    return any(box.contains(*point) for box in bounding_box(lat, lon, radius))


@FAST
@given(lat=latitudes, lon=longitudes, radius=radii_m, bearing=st.floats(0, 360), fraction=st.floats(0, 1))
def test_boxes_hold_every_point_within_radius(
    lat: float, lon: float, radius: float, bearing: float, fraction: float
) -> None:
    """Goal: a point generated inside the circle (or on its edge) is inside one of the boxes."""
    point = destination(lat, lon, bearing, radius * fraction)
    assume(distance_m(lat, lon, *point) <= radius)
    assert in_some_box(lat, lon, radius, point)


@FAST
@given(lat=latitudes, lon=longitudes, radius=radii_m, bearing=st.floats(0, 360))
def test_boxes_hold_the_rim(lat: float, lon: float, radius: float, bearing: float) -> None:
    """Goal: points exactly on the circle, the valid-to-invalid edge, are inside a box."""
    point = destination(lat, lon, bearing, radius)
    if distance_m(lat, lon, *point) <= radius:
        assert in_some_box(lat, lon, radius, point)


@FAST
@given(lat=latitudes, lon=longitudes, radius=radii_m, other_lat=latitudes, other_lon=longitudes)
def test_boxes_hold_arbitrary_points_within_radius(
    lat: float, lon: float, radius: float, other_lat: float, other_lon: float
) -> None:
    """Goal: the containment also holds for points not produced by our generator."""
    if distance_m(lat, lon, other_lat, other_lon) <= radius:
        assert in_some_box(lat, lon, radius, (other_lat, other_lon))


def test_box_shapes() -> None:
    """Goal: one box normally, two across the antimeridian, all longitudes near a pole."""
    (paris,) = bounding_box(48.8566, 2.3522, 5_000)
    assert paris.lon_min < 2.3522 < paris.lon_max
    assert paris.lat_max - paris.lat_min == pytest.approx(2 * math.degrees(5_000.01 / EARTH_RADIUS_M))
    fiji = bounding_box(-17.7, 179.99, 5_000)
    assert len(fiji) == 2
    assert fiji[0].lon_max == 180.0
    assert fiji[1].lon_min == -180.0
    west = bounding_box(-17.7, -179.99, 5_000)
    assert len(west) == 2
    (north,) = bounding_box(89.98, 10.0, 5_000)
    assert (north.lon_min, north.lon_max, north.lat_max) == (-180.0, 180.0, 90.0)
    (south,) = bounding_box(-89.99, 10.0, 5_000)
    assert (south.lon_min, south.lon_max, south.lat_min) == (-180.0, 180.0, -90.0)
    (globe,) = bounding_box(0.0, 0.0, 20_100_000)
    assert (globe.lat_min, globe.lat_max, globe.lon_min, globe.lon_max) == (-90.0, 90.0, -180.0, 180.0)
