"""Geolocation challenges: places, challenges and their places (small reference tables), and the
member-scoped check-ins, attempts, last positions and progress (keyed by `member_id` first, for Citus).

Privacy: no table keeps a reported position except `checkin_positions`, which holds the last accepted
one per member only while the travel check needs it (settings.checkin_position_retention_hours); the
retention task deletes it after that. `checkins` keep the place and coarse distance/accuracy bands.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Double,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

from loyalty_service.db.tables import metadata
from loyalty_service.db.tables import timestamp_column as _ts

__all__ = [
    "challenge_places",
    "challenge_progress",
    "challenges",
    "checkin_attempts",
    "checkin_positions",
    "checkins",
    "places",
]


places = Table(
    "places",
    metadata,
    Column("place_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("lat", Double, nullable=False),
    Column("lon", Double, nullable=False),
    Column("radius_m", Integer, nullable=False),
    Column("store_id", Text, nullable=True),
    Column("time_zone", Text, nullable=False),
    # [[day_of_week, opens_minute, closes_minute], ...]; empty: always open.
    Column("opening_hours", JSONB, nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("archived_at", nullable=True),
    CheckConstraint("radius_m between 10 and 5000", name="radius"),
    CheckConstraint("lat between -90 and 90 and lon between -180 and 180", name="coordinates"),
    # The nearby search: a latitude range scan, longitude filtered from the same index entries.
    Index(None, "lat", "lon"),
)

challenges = Table(
    "challenges",
    metadata,
    Column("challenge_id", Text, primary_key=True),
    # The ChallengeSpec as JSON (name, description, goal, purchase, period, grant); see challenges/store.py.
    Column("spec", JSONB, nullable=False),
    _ts("opens_at"),
    _ts("closes_at"),
    _ts("created_at"),
    _ts("updated_at"),
    CheckConstraint("opens_at < closes_at", name="window"),
    Index(None, "closes_at"),
)

challenge_places = Table(
    "challenge_places",
    metadata,
    Column("challenge_id", Text, nullable=False),
    Column("place_id", Text, nullable=False),
    PrimaryKeyConstraint("challenge_id", "place_id"),
    Index(None, "place_id"),
)

checkins = Table(
    "checkins",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("checkin_id", Text, nullable=False),
    Column("challenge_id", Text, nullable=False),
    Column("period", BigInteger, nullable=False),
    Column("place_id", Text, nullable=False),
    Column("distance_band", Text, nullable=False),
    Column("accuracy_band", Text, nullable=False),
    _ts("checked_in_at"),
    PrimaryKeyConstraint("member_id", "checkin_id"),
    # Once per place per challenge period.
    UniqueConstraint("member_id", "challenge_id", "period", "place_id"),
)

checkin_attempts = Table(
    "checkin_attempts",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("attempt_id", Text, nullable=False),
    _ts("attempted_at"),
    Column("place_id", Text, nullable=False),
    # "ACCEPTED" or the refusal reason.
    Column("outcome", Text, nullable=False),
    PrimaryKeyConstraint("member_id", "attempt_id"),
    Index(None, "member_id", "attempted_at"),
)

checkin_positions = Table(
    "checkin_positions",
    metadata,
    Column("member_id", Text, primary_key=True),
    Column("lat", Double, nullable=False),
    Column("lon", Double, nullable=False),
    _ts("checked_in_at"),
    Index(None, "checked_in_at"),
)

challenge_progress = Table(
    "challenge_progress",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("challenge_id", Text, nullable=False),
    Column("period", BigInteger, nullable=False),
    Column("visited", Integer, nullable=False),
    Column("completed", Boolean, nullable=False),
    _ts("completed_at", nullable=True),
    # The ChallengeCompletion as JSON once completed (what was granted).
    Column("completion", JSONB, nullable=True),
    _ts("updated_at"),
    PrimaryKeyConstraint("member_id", "challenge_id", "period"),
)
