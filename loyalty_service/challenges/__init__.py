"""Geolocation challenges: the pure rules of distance, nearby search boxes and check-ins.

The service (`service.py`, `visits.py`) gathers the place, consent, previous check-in and counters, calls
`evaluate_checkin`, and stores only the bands of the verdict; `nearby.py` answers ListNearbyChallenges,
`program_rpcs.py` the back office, `grants.py` completions, `privacy.py` export, erasure and retention.
"""

from __future__ import annotations

from loyalty_service.challenges.checkin import (
    PLACE_RADIUS_M_MAX,
    PLACE_RADIUS_M_MIN,
    Band,
    CheckInAttempt,
    CheckInPolicy,
    CheckInVerdict,
    PreviousCheckIn,
    RefusalReason,
    band_of,
    check_place_radius_m,
    evaluate_checkin,
    is_plausible_travel,
)
from loyalty_service.challenges.geo import (
    EARTH_RADIUS_M,
    BoundingBox,
    bounding_box,
    check_coordinates,
    distance_m,
    is_valid_latitude,
    is_valid_longitude,
)

__all__ = [
    "EARTH_RADIUS_M",
    "PLACE_RADIUS_M_MAX",
    "PLACE_RADIUS_M_MIN",
    "Band",
    "BoundingBox",
    "CheckInAttempt",
    "CheckInPolicy",
    "CheckInVerdict",
    "PreviousCheckIn",
    "RefusalReason",
    "band_of",
    "bounding_box",
    "check_coordinates",
    "check_place_radius_m",
    "distance_m",
    "evaluate_checkin",
    "is_plausible_travel",
    "is_valid_latitude",
    "is_valid_longitude",
]
