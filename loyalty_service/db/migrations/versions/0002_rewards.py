"""rewards catalogue and vouchers

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = ("rewards",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rewards",
        sa.Column("reward_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("points_cost", sa.BigInteger(), nullable=False),
        sa.Column("channels", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("store_ids", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("stock_total", sa.BigInteger(), nullable=True),
        sa.Column("stock_remaining", sa.BigInteger(), nullable=True),
        sa.Column("per_member_limit", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("visible_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("visible_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voucher_valid_days", sa.Integer(), nullable=False),
        sa.Column("value_kind", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.Text(), nullable=True),
        sa.Column("percent_off_bp", sa.Integer(), nullable=True),
        sa.Column("product_sku", sa.Text(), nullable=True),
        sa.Column("game_id", sa.Text(), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("points_cost >= 0", name=op.f("ck_rewards_cost_not_negative")),
        sa.CheckConstraint("stock_remaining >= 0", name=op.f("ck_rewards_stock_not_negative")),
        sa.CheckConstraint("stock_remaining <= stock_total", name=op.f("ck_rewards_stock_within_total")),
        sa.CheckConstraint(
            "(stock_total is null) = (stock_remaining is null)", name=op.f("ck_rewards_stock_both_or_none")
        ),
        sa.CheckConstraint(
            "value_kind in ('amount_off', 'percent_off', 'free_product', 'free_game_play')",
            name=op.f("ck_rewards_value_kind"),
        ),
        sa.PrimaryKeyConstraint("reward_id", name=op.f("pk_rewards")),
    )
    op.create_table(
        "vouchers",
        sa.Column("member_id", sa.Text(), nullable=False),
        sa.Column("voucher_id", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("reward_id", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("points_charged", sa.BigInteger(), nullable=False),
        sa.Column("redeem_entry_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("source_type", sa.Text(), nullable=False),
        sa.Column("source_ref", sa.Text(), nullable=False),
        sa.Column("credential_id", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_store_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("used_channel", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("used_order_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state in ('issued', 'used', 'cancelled', 'expired')", name=op.f("ck_vouchers_state")
        ),
        sa.CheckConstraint("points_charged >= 0", name=op.f("ck_vouchers_charged_not_negative")),
        sa.PrimaryKeyConstraint("member_id", "voucher_id", name=op.f("pk_vouchers")),
    )
    op.create_index(
        op.f("ix_vouchers_member_id_reward_id"), "vouchers", ["member_id", "reward_id"], unique=False
    )
    op.create_index(
        op.f("ix_vouchers_valid_until"),
        "vouchers",
        ["valid_until"],
        unique=False,
        postgresql_where=sa.text("state = 'issued'"),
    )
    op.create_table(
        "voucher_codes",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("member_id", sa.Text(), nullable=False),
        sa.Column("voucher_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_voucher_codes")),
    )


def downgrade() -> None:
    op.drop_table("voucher_codes")
    op.drop_index(op.f("ix_vouchers_valid_until"), table_name="vouchers")
    op.drop_index(op.f("ix_vouchers_member_id_reward_id"), table_name="vouchers")
    op.drop_table("vouchers")
    op.drop_table("rewards")
