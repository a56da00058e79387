"""Shared test helpers: coordinate strategies with the poles and antimeridian, a point generator."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from loyalty_service.challenges.geo import EARTH_RADIUS_M

latitudes = st.floats(-90, 90) | st.sampled_from([-90.0, 90.0, -89.9999, 89.9999, 0.0])
longitudes = st.floats(-180, 180) | st.sampled_from([-180.0, 180.0, -179.9999, 179.9999, 0.0])


def destination(lat: float, lon: float, bearing_deg: float, distance: float) -> tuple[float, float]:
    """The point `distance` metres from (lat, lon) along `bearing_deg` (test-only generator of points)."""
    phi1, lam1, theta = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    delta = distance / EARTH_RADIUS_M
    sin_phi2 = math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta)
    phi2 = math.asin(max(-1.0, min(1.0, sin_phi2)))
    lam2 = lam1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi1), math.cos(delta) - math.sin(phi1) * sin_phi2
    )
    lon2 = (math.degrees(lam2) + 540.0) % 360.0 - 180.0
    return max(-90.0, min(90.0, math.degrees(phi2))), lon2
