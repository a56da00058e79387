"""Places, challenges and progress as protobuf messages, both directions (validation at the edge)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import available_timezones

from loyalty.v1 import challenges_pb2

from loyalty_service.challenges.checkin import PLACE_RADIUS_M_MAX, PLACE_RADIUS_M_MIN
from loyalty_service.challenges.geo import is_valid_latitude, is_valid_longitude
from loyalty_service.challenges.member_store import ProgressRow
from loyalty_service.challenges.rules import (
    CHALLENGE_PLACES_MAX,
    REPEAT_PERIOD_DAYS_MAX,
    ChallengeSpec,
    Grant,
    OpeningInterval,
    Period,
    PlaceSpec,
)
from loyalty_service.challenges.store import ChallengeRow, PlaceRow
from loyalty_service.proto_time import to_timestamp
from loyalty_service.validation import Checks

__all__ = [
    "challenge_message",
    "check_position",
    "place_message",
    "progress_message",
    "read_challenge_spec",
    "read_place_spec",
]

_OPENING_HOURS_MAX = 28
_GRANT_POINTS_MAX = 10_000_000
_ZONES = frozenset(available_timezones())


def check_position(checks: Checks, lat: float, lon: float, prefix: str = "") -> None:
    if not is_valid_latitude(lat):
        checks.fail(f"{prefix}latitude", "a finite number of degrees in [-90, 90]")
    if not is_valid_longitude(lon):
        checks.fail(f"{prefix}longitude", "a finite number of degrees in [-180, 180]")


def _read_hours(checks: Checks, hours: Sequence[challenges_pb2.OpeningHours]) -> tuple[OpeningInterval, ...]:
    checks.count("spec.opening_hours", len(hours), minimum=0, maximum=_OPENING_HOURS_MAX)
    result = []
    for i, h in enumerate(hours[:_OPENING_HOURS_MAX]):
        field = f"spec.opening_hours[{i}]"
        checks.count(f"{field}.day_of_week", h.day_of_week, minimum=1, maximum=7)
        checks.count(f"{field}.opens_minute", h.opens_minute, minimum=0, maximum=1439)
        if not h.opens_minute < h.closes_minute <= h.opens_minute + 1440:
            checks.fail(f"{field}.closes_minute", "after opens_minute, at most 24 hours later")
        result.append(
            OpeningInterval(
                day_of_week=h.day_of_week, opens_minute=h.opens_minute, closes_minute=h.closes_minute
            )
        )
    return tuple(result)


def read_place_spec(checks: Checks, spec: challenges_pb2.PlaceSpec, *, present: bool) -> PlaceSpec | None:
    if not present:
        checks.fail("spec", "required")
        return None
    name = checks.text("spec.name", spec.name, max_length=128)
    check_position(checks, spec.latitude, spec.longitude, "spec.")
    if not PLACE_RADIUS_M_MIN <= spec.radius_m <= PLACE_RADIUS_M_MAX:
        checks.fail("spec.radius_m", f"must be between {PLACE_RADIUS_M_MIN} and {PLACE_RADIUS_M_MAX} metres")
    store_id = checks.code("spec.store_id", spec.store_id, required=False) or None
    time_zone = spec.time_zone or "UTC"
    if time_zone not in _ZONES:
        checks.fail("spec.time_zone", "an IANA time zone such as Europe/Paris")
    hours = _read_hours(checks, spec.opening_hours)
    return PlaceSpec(
        name=name,
        lat=spec.latitude if math.isfinite(spec.latitude) else 0.0,
        lon=spec.longitude if math.isfinite(spec.longitude) else 0.0,
        radius_m=spec.radius_m,
        store_id=store_id,
        time_zone=time_zone,
        opening_hours=hours,
    )


def _read_grant(checks: Checks, grant: challenges_pb2.ChallengeGrant) -> Grant:
    checks.count("spec.grant.points", grant.points, minimum=0, maximum=_GRANT_POINTS_MAX)
    checks.entity_id("spec.grant.reward_id", grant.reward_id, "rwd", required=False)
    checks.entity_id("spec.grant.draw_id", grant.draw_id, "drw", required=False)
    if not (grant.points or grant.reward_id or grant.stamp or grant.draw_id):
        checks.fail("spec.grant", "grant points, a reward, a stamp and/or draw entries")
    return Grant(points=grant.points, reward_id=grant.reward_id, stamp=grant.stamp, draw_id=grant.draw_id)


def read_challenge_spec(
    checks: Checks, spec: challenges_pb2.ChallengeSpec, *, present: bool
) -> ChallengeSpec | None:
    if not present:
        checks.fail("spec", "required")
        return None
    name = checks.text("spec.name", spec.name, max_length=128)
    description = checks.text("spec.description", spec.description, required=False, max_length=1024)
    opens_at, closes_at = checks.window(
        spec, "opens_at", "closes_at", prefix="spec.", start_required=True, end_required=True
    )
    place_ids = tuple(spec.place_ids)
    checks.count("spec.place_ids", len(place_ids), minimum=1, maximum=CHALLENGE_PLACES_MAX)
    for i, place_id in enumerate(place_ids[:CHALLENGE_PLACES_MAX]):
        checks.entity_id(f"spec.place_ids[{i}]", place_id, "plc")
    if len(set(place_ids)) != len(place_ids):
        checks.fail("spec.place_ids", "each place once")
    checks.count("spec.goal_places", spec.goal_places, minimum=1, maximum=max(1, len(place_ids)))
    checks.count(
        "spec.repeat_period_days", spec.repeat_period_days, minimum=0, maximum=REPEAT_PERIOD_DAYS_MAX
    )
    grant = _read_grant(checks, spec.grant)
    if opens_at is None or closes_at is None:
        return None
    return ChallengeSpec(
        name=name,
        description=description,
        opens_at=opens_at,
        closes_at=closes_at,
        place_ids=place_ids,
        goal_places=spec.goal_places,
        requires_purchase=spec.requires_purchase,
        repeat_period_days=spec.repeat_period_days,
        grant=grant,
    )


def place_spec_message(spec: PlaceSpec) -> challenges_pb2.PlaceSpec:
    return challenges_pb2.PlaceSpec(
        name=spec.name,
        latitude=spec.lat,
        longitude=spec.lon,
        radius_m=spec.radius_m,
        store_id=spec.store_id or "",
        time_zone=spec.time_zone,
        opening_hours=[
            challenges_pb2.OpeningHours(
                day_of_week=h.day_of_week, opens_minute=h.opens_minute, closes_minute=h.closes_minute
            )
            for h in spec.opening_hours
        ],
    )


def place_message(row: PlaceRow) -> challenges_pb2.Place:
    message = challenges_pb2.Place(
        place_id=row.place_id,
        spec=place_spec_message(row.spec),
        created_at=to_timestamp(row.created_at),
        updated_at=to_timestamp(row.updated_at),
    )
    if row.archived_at is not None:
        message.archived_at.CopyFrom(to_timestamp(row.archived_at))
    return message


def challenge_message(row: ChallengeRow) -> challenges_pb2.Challenge:
    spec = row.spec
    return challenges_pb2.Challenge(
        challenge_id=row.challenge_id,
        spec=challenges_pb2.ChallengeSpec(
            name=spec.name,
            description=spec.description,
            opens_at=to_timestamp(spec.opens_at),
            closes_at=to_timestamp(spec.closes_at),
            place_ids=list(spec.place_ids),
            goal_places=spec.goal_places,
            requires_purchase=spec.requires_purchase,
            repeat_period_days=spec.repeat_period_days,
            grant=challenges_pb2.ChallengeGrant(
                points=spec.grant.points,
                reward_id=spec.grant.reward_id,
                stamp=spec.grant.stamp,
                draw_id=spec.grant.draw_id,
            ),
        ),
        created_at=to_timestamp(row.created_at),
        updated_at=to_timestamp(row.updated_at),
    )


def progress_message(
    challenge: ChallengeRow, period: Period, progress: ProgressRow | None, visited: Sequence[str]
) -> challenges_pb2.ChallengeProgress:
    message = challenges_pb2.ChallengeProgress(
        challenge_id=challenge.challenge_id,
        period=period.index,
        period_starts_at=to_timestamp(period.starts_at),
        period_ends_at=to_timestamp(period.ends_at),
        visited_place_ids=sorted(visited),
        goal_places=challenge.spec.goal_places,
    )
    completed_at: datetime | None = None if progress is None else progress.completed_at
    if completed_at is not None:
        message.completed_at.CopyFrom(to_timestamp(completed_at))
    return message
