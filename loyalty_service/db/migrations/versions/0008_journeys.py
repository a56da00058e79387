"""omnichannel journeys: journey_settings (reference), pickups, referral_codes, referrals, rule_claims

Revision ID: 0008_journeys
Revises: 0001
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0008_journeys"
down_revision = "0001"
branch_labels = ("journeys",)
depends_on = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _big(name: str, *, default: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default=sa.text("0") if default else None)


def upgrade() -> None:
    op.create_table(
        "journey_settings",
        sa.Column("settings_id", sa.Integer(), nullable=False),
        sa.Column("pickup_deadline_days", sa.Integer(), nullable=False, server_default=sa.text("14")),
        _big("pickup_bonus_points", default=True),
        _big("referrer_bonus_points", default=True),
        _big("referee_bonus_points", default=True),
        sa.Column("referrals_per_year_max", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("settings_id = 1", name=op.f("ck_journey_settings_singleton")),
        sa.PrimaryKeyConstraint("settings_id", name=op.f("pk_journey_settings")),
    )
    op.execute("insert into journey_settings (settings_id) values (1)")
    op.create_table(
        "pickups",
        _text("member_id"),
        _text("purchase_id"),
        _text("order_store_id"),
        _text("order_id"),
        _text("pickup_store_id"),
        _text("lot_id", nullable=True),
        _big("points"),
        _text("status"),
        _ts("deadline_at"),
        _ts("created_at"),
        _ts("collected_at", nullable=True),
        _text("collected_by", nullable=True),
        _ts("cancelled_at", nullable=True),
        _text("cancel_reason", nullable=True),
        _big("bonus_points", default=True),
        _text("bonus_entry_id", nullable=True),
        sa.CheckConstraint(
            "status in ('awaiting', 'collected', 'cancelled')", name=op.f("ck_pickups_status")
        ),
        sa.PrimaryKeyConstraint("member_id", "purchase_id", name=op.f("pk_pickups")),
    )
    op.create_index(op.f("ix_pickups_status_deadline_at"), "pickups", ["status", "deadline_at"], unique=False)
    op.create_index(op.f("ix_pickups_order_id"), "pickups", ["order_id"], unique=False)
    op.create_table(
        "referral_codes",
        _text("code"),
        _text("member_id"),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_referral_codes")),
    )
    op.create_index(op.f("ix_referral_codes_member_id"), "referral_codes", ["member_id"], unique=True)
    op.create_table(
        "referrals",
        _text("member_id"),
        _text("referrer_id"),
        _text("status"),
        _ts("enrolled_at"),
        _ts("rewarded_at", nullable=True),
        _text("purchase_id", nullable=True),
        _big("referrer_points", default=True),
        _big("referee_points", default=True),
        _text("referrer_entry_id", nullable=True),
        _text("referee_entry_id", nullable=True),
        sa.CheckConstraint(
            "status in ('pending', 'over_limit', 'rewarded', 'self_referral')",
            name=op.f("ck_referrals_status"),
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_referrals")),
    )
    op.create_index(
        op.f("ix_referrals_referrer_id_enrolled_at"),
        "referrals",
        ["referrer_id", "enrolled_at"],
        unique=False,
    )
    op.create_table(
        "rule_claims",
        _text("member_id"),
        _text("rule_id"),
        _text("period"),
        _text("purchase_id"),
        _ts("claimed_at"),
        sa.PrimaryKeyConstraint("member_id", "rule_id", "period", name=op.f("pk_rule_claims")),
    )
    _backfill_referral_codes()


_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # as loyalty_service.journeys.codes


def _backfill_referral_codes() -> None:
    """Members enrolled before this revision get a referral code too (CSPRNG, like new ones)."""
    bind = op.get_bind()
    members = bind.execute(sa.text("select member_id from members where status = 'active'")).scalars()
    taken: set[str] = set()
    for member_id in members:
        code = "".join(secrets.choice(_ALPHABET) for _ in range(8))
        while code in taken:
            code = "".join(secrets.choice(_ALPHABET) for _ in range(8))
        taken.add(code)
        bind.execute(
            sa.text(
                "insert into referral_codes (code, member_id, created_at) values (:code, :member, now())"
            ),
            {"code": code, "member": member_id},
        )


def downgrade() -> None:
    for table in ("rule_claims", "referrals", "referral_codes", "pickups", "journey_settings"):
        op.drop_table(table)
