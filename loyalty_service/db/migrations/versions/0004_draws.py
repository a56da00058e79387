"""prize draws: draws (reference), draw_entries, draw_members, draw_winners (keyed by draw_id)

Revision ID: 0004_draws
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_draws"
down_revision = "0001"
branch_labels = ("draws",)
depends_on = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "draws",
        sa.Column("draw_id", sa.Text(), nullable=False),
        sa.Column("spec", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _ts("opens_at"),
        _ts("closes_at"),
        sa.Column("seed", sa.LargeBinary(), nullable=False),
        sa.Column("commitment", sa.Text(), nullable=False),
        sa.Column("entry_count", sa.BigInteger(), nullable=True),
        sa.Column("entries_digest", sa.Text(), nullable=True),
        _ts("frozen_at", nullable=True),
        sa.Column("beacon", sa.Text(), nullable=True),
        _ts("drawn_at", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint("opens_at < closes_at", name=op.f("ck_draws_window")),
        sa.CheckConstraint(
            "(entries_digest is null) = (frozen_at is null)", name=op.f("ck_draws_frozen_together")
        ),
        sa.CheckConstraint(
            "drawn_at is null or frozen_at is not null", name=op.f("ck_draws_drawn_after_frozen")
        ),
        sa.PrimaryKeyConstraint("draw_id", name=op.f("pk_draws")),
    )
    op.create_table(
        "draw_entries",
        sa.Column("draw_id", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.Text(), nullable=False),
        sa.Column("member_id", sa.Text(), nullable=False),
        sa.Column("member_ref", sa.Text(), nullable=False),
        sa.Column("source_type", sa.Text(), nullable=False),
        sa.Column("source_ref", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("draw_id", "entry_id", name=op.f("pk_draw_entries")),
    )
    op.create_index(
        op.f("ix_draw_entries_draw_id_member_id"), "draw_entries", ["draw_id", "member_id"], unique=False
    )
    op.create_index(
        op.f("ix_draw_entries_draw_id_source_type_source_ref"),
        "draw_entries",
        ["draw_id", "source_type", "source_ref"],
        unique=False,
    )
    op.create_table(
        "draw_members",
        sa.Column("draw_id", sa.Text(), nullable=False),
        sa.Column("member_id", sa.Text(), nullable=False),
        sa.Column("member_ref", sa.Text(), nullable=False),
        sa.Column("entry_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("direct_entries", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("spend_minor", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("spend_entries", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("draw_id", "member_id", name=op.f("pk_draw_members")),
    )
    op.create_table(
        "draw_winners",
        sa.Column("draw_id", sa.Text(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("prize_id", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.Text(), nullable=False),
        sa.Column("member_ref", sa.Text(), nullable=False),
        sa.Column("member_id", sa.Text(), nullable=False),
        sa.Column("voucher_id", sa.Text(), nullable=True),
        sa.Column("ledger_entry_id", sa.Text(), nullable=True),
        sa.Column("points", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("draw_id", "slot", name=op.f("pk_draw_winners")),
    )


def downgrade() -> None:
    op.drop_table("draw_winners")
    op.drop_table("draw_members")
    op.drop_index(op.f("ix_draw_entries_draw_id_source_type_source_ref"), table_name="draw_entries")
    op.drop_index(op.f("ix_draw_entries_draw_id_member_id"), table_name="draw_entries")
    op.drop_table("draw_entries")
    op.drop_table("draws")
