"""status tiers: tier_ladders (reference); tier_status, tier_history, tier_contributions (member-scoped)

Revision ID: 0007_tiers
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_tiers"
down_revision = "0001"
branch_labels = ("tiers",)
depends_on = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "tier_ladders",
        sa.Column("version", sa.Integer(), nullable=False),
        _ts("effective_from"),
        sa.Column("spec", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _text("created_by"),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("version", name="pk_tier_ladders"),
    )
    op.create_table(
        "tier_status",
        _text("member_id"),
        _text("tier_id"),
        _ts("held_until", nullable=True),
        sa.Column("change_seq", sa.Integer(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("member_id", name="pk_tier_status"),
    )
    op.create_table(
        "tier_history",
        _text("member_id"),
        sa.Column("seq", sa.Integer(), nullable=False),
        _text("from_tier_id"),
        _text("tier_id"),
        _text("reason"),
        _ts("effective_at"),
        _ts("held_until", nullable=True),
        _ts("previous_held_until", nullable=True),
        sa.Column("qualifying_value", sa.BigInteger(), nullable=False),
        _text("purchase_id", nullable=True),
        _ts("recorded_at"),
        sa.PrimaryKeyConstraint("member_id", "seq", name="pk_tier_history"),
    )
    op.create_table(
        "tier_contributions",
        _text("member_id"),
        _text("purchase_id"),
        _ts("occurred_at"),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("points_earned", sa.BigInteger(), nullable=False),
        sa.Column("spend_minor", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        _text("currency"),
        sa.PrimaryKeyConstraint("member_id", "purchase_id", name="pk_tier_contributions"),
    )
    op.create_index(
        "ix_tier_contributions_member_id_occurred_at", "tier_contributions", ["member_id", "occurred_at"]
    )
    op.create_index("ix_tier_status_held_until", "tier_status", ["held_until"])


def downgrade() -> None:
    op.drop_table("tier_contributions")
    op.drop_table("tier_history")
    op.drop_table("tier_status")
    op.drop_table("tier_ladders")
