"""geolocation challenges: places, challenges, challenge_places (reference); checkins, checkin_attempts,
checkin_positions, challenge_progress (member-scoped)

Revision ID: 0006_challenges
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_challenges"
down_revision = "0001"
branch_labels = ("challenges",)
depends_on = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "places",
        _text("place_id"),
        _text("name"),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("radius_m", sa.Integer(), nullable=False),
        _text("store_id", nullable=True),
        _text("time_zone"),
        sa.Column("opening_hours", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("archived_at", nullable=True),
        sa.CheckConstraint("radius_m between 10 and 5000", name=op.f("ck_places_radius")),
        sa.CheckConstraint(
            "lat between -90 and 90 and lon between -180 and 180", name=op.f("ck_places_coordinates")
        ),
        sa.PrimaryKeyConstraint("place_id", name=op.f("pk_places")),
    )
    op.create_index(op.f("ix_places_lat_lon"), "places", ["lat", "lon"], unique=False)
    op.create_table(
        "challenges",
        _text("challenge_id"),
        sa.Column("spec", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _ts("opens_at"),
        _ts("closes_at"),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint("opens_at < closes_at", name=op.f("ck_challenges_window")),
        sa.PrimaryKeyConstraint("challenge_id", name=op.f("pk_challenges")),
    )
    op.create_index(op.f("ix_challenges_closes_at"), "challenges", ["closes_at"], unique=False)
    op.create_table(
        "challenge_places",
        _text("challenge_id"),
        _text("place_id"),
        sa.PrimaryKeyConstraint("challenge_id", "place_id", name=op.f("pk_challenge_places")),
    )
    op.create_index(op.f("ix_challenge_places_place_id"), "challenge_places", ["place_id"], unique=False)
    op.create_table(
        "checkins",
        _text("member_id"),
        _text("checkin_id"),
        _text("challenge_id"),
        sa.Column("period", sa.BigInteger(), nullable=False),
        _text("place_id"),
        _text("distance_band"),
        _text("accuracy_band"),
        _ts("checked_in_at"),
        sa.PrimaryKeyConstraint("member_id", "checkin_id", name=op.f("pk_checkins")),
        sa.UniqueConstraint(
            "member_id",
            "challenge_id",
            "period",
            "place_id",
            name=op.f("uq_checkins_member_id_challenge_id_period_place_id"),
        ),
    )
    op.create_table(
        "checkin_attempts",
        _text("member_id"),
        _text("attempt_id"),
        _ts("attempted_at"),
        _text("place_id"),
        _text("outcome"),
        sa.PrimaryKeyConstraint("member_id", "attempt_id", name=op.f("pk_checkin_attempts")),
    )
    op.create_index(
        op.f("ix_checkin_attempts_member_id_attempted_at"),
        "checkin_attempts",
        ["member_id", "attempted_at"],
        unique=False,
    )
    op.create_table(
        "checkin_positions",
        _text("member_id"),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        _ts("checked_in_at"),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_checkin_positions")),
    )
    op.create_index(
        op.f("ix_checkin_positions_checked_in_at"), "checkin_positions", ["checked_in_at"], unique=False
    )
    op.create_table(
        "challenge_progress",
        _text("member_id"),
        _text("challenge_id"),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("visited", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        _ts("completed_at", nullable=True),
        sa.Column("completion", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("member_id", "challenge_id", "period", name=op.f("pk_challenge_progress")),
    )


def downgrade() -> None:
    for name in (
        "challenge_progress",
        "checkin_positions",
        "checkin_attempts",
        "checkins",
        "challenge_places",
        "challenges",
        "places",
    ):
        op.drop_table(name)
