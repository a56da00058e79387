"""Great-circle distance and bounding boxes for "places within D metres" on a spherical Earth.

The Earth is a sphere of radius `EARTH_RADIUS_M` = 6 371 008.8 m, the IUGG mean radius R1 = (2a + b) / 3
of WGS 84. Against the ellipsoid the spherical distance is off by at most about 0.5 %, i.e. 25 m at the
largest place radius (5 km); radius checks and "nearby" lists tolerate that, and a sphere keeps every
formula closed-form and the same in Python and SQL.

`distance_m` is the haversine formula written so it stays accurate everywhere: the angle comes from
atan2(sqrt(h), sqrt(1 - h)) with 1 - h computed as its own sum of squares (the haversine to the
antipode of the second point), so neither tiny nor nearly antipodal distances lose precision.

`bounding_box` turns "within radius_m of (lat, lon)" into one or two latitude/longitude boxes that an
index on (lat, lon) can answer; rows inside a box are then filtered by `distance_m`. Boxes may hold a
little more than the circle, never less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "EARTH_RADIUS_M",
    "BoundingBox",
    "bounding_box",
    "check_coordinates",
    "distance_m",
    "is_valid_latitude",
    "is_valid_longitude",
]

EARTH_RADIUS_M = 6_371_008.8
"""IUGG mean Earth radius in metres (see the module docstring)."""

_HALF_CIRCUMFERENCE_M = math.pi * EARTH_RADIUS_M
_BOX_MARGIN_M = 0.01
"""Added to every box radius so floating-point rounding can never leave a point just inside the
circle outside its box; a centimetre more in a prefilter costs nothing."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BoundingBox:
    """Degrees, bounds included: lat_min <= lat <= lat_max and lon_min <= lon <= lon_max."""

    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.lat_min <= lat <= self.lat_max and self.lon_min <= lon <= self.lon_max


def is_valid_latitude(lat: float) -> bool:
    """Finite and within [-90, 90] degrees."""
    return math.isfinite(lat) and -90.0 <= lat <= 90.0


def is_valid_longitude(lon: float) -> bool:
    """Finite and within [-180, 180] degrees (both ends name the antimeridian)."""
    return math.isfinite(lon) and -180.0 <= lon <= 180.0


def check_coordinates(lat: float, lon: float) -> None:
    """Raise ValueError naming the bad coordinate; positions come from untrusted devices."""
    if not is_valid_latitude(lat):
        raise ValueError(f"latitude must be a finite number in [-90, 90], got {lat!r}")
    if not is_valid_longitude(lon):
        raise ValueError(f"longitude must be a finite number in [-180, 180], got {lon!r}")


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points given in degrees.

    Longitudes need no normalising: only sin and cos of their difference are used, so
    179.9 and -179.9 are 0.2 degrees apart as they should be.
    """
    check_coordinates(lat1, lon1)
    check_coordinates(lat2, lon2)
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dlat = (phi2 - phi1) / 2
    half_sum_lat = (phi1 + phi2) / 2
    half_dlon = math.radians(lon2 - lon1) / 2
    cos_product = math.cos(phi1) * math.cos(phi2)
    haversine = math.sin(half_dlat) ** 2 + cos_product * math.sin(half_dlon) ** 2
    # 1 - haversine, as the haversine between point 1 and the antipode of point 2: no cancellation.
    complement = math.sin(half_sum_lat) ** 2 + cos_product * math.cos(half_dlon) ** 2
    angle = 2 * math.atan2(math.sqrt(haversine), math.sqrt(complement))
    return min(angle * EARTH_RADIUS_M, _HALF_CIRCUMFERENCE_M)


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[BoundingBox, ...]:
    """Boxes that together hold every point within `radius_m` of (lat, lon).

    One box normally; two when the circle crosses the antimeridian (one each side, both including
    +-180); a single box spanning all longitudes when the circle reaches a pole, since every meridian
    then passes through it. The longitude half-width is asin(sin r / cos lat) (J. P. Matuschek,
    "Finding Points Within a Distance of a Latitude/Longitude Using Bounding Coordinates"): the
    widest point of the circle is not at the centre's latitude, so r / cos lat would be too narrow.
    """
    check_coordinates(lat, lon)
    if not (math.isfinite(radius_m) and radius_m >= 0):
        raise ValueError(f"radius_m must be a finite number >= 0, got {radius_m!r}")
    angle = (radius_m + _BOX_MARGIN_M) / EARTH_RADIUS_M
    lat_min = lat - math.degrees(angle)
    lat_max = lat + math.degrees(angle)
    if lat_min <= -90.0 or lat_max >= 90.0 or angle >= math.pi / 2:
        return (
            BoundingBox(
                lat_min=max(lat_min, -90.0), lat_max=min(lat_max, 90.0), lon_min=-180.0, lon_max=180.0
            ),
        )
    ratio = math.sin(angle) / math.cos(math.radians(lat))
    if ratio >= 1.0:
        return (BoundingBox(lat_min=lat_min, lat_max=lat_max, lon_min=-180.0, lon_max=180.0),)
    half_width = math.degrees(math.asin(ratio))
    lon_min, lon_max = lon - half_width, lon + half_width
    if lon_min <= -180.0:
        return (
            BoundingBox(lat_min=lat_min, lat_max=lat_max, lon_min=lon_min + 360.0, lon_max=180.0),
            BoundingBox(lat_min=lat_min, lat_max=lat_max, lon_min=-180.0, lon_max=lon_max),
        )
    if lon_max >= 180.0:
        return (
            BoundingBox(lat_min=lat_min, lat_max=lat_max, lon_min=lon_min, lon_max=180.0),
            BoundingBox(lat_min=lat_min, lat_max=lat_max, lon_min=-180.0, lon_max=lon_max - 360.0),
        )
    return (BoundingBox(lat_min=lat_min, lat_max=lat_max, lon_min=lon_min, lon_max=lon_max),)
