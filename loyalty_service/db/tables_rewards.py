"""Rewards catalogue (a reference table) and vouchers (member-scoped, `member_id` first in every key).

A voucher is found by its code from any channel without knowing the member, so `voucher_codes` maps the
code (unique across members) to the member, as `member_identifiers` does for identifiers.

Stock: for a reward with limited stock, `stock_total` counts every unit ever made available and
`stock_remaining` what is left, so that at every commit
    stock_total = stock_remaining + vouchers issued (unused) + used + expired
(a cancelled voucher gives its unit back; an expired one does not). `ledger.check` verifies it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from loyalty_service.db.tables import metadata
from loyalty_service.db.tables import timestamp_column as _ts

__all__ = ["rewards", "voucher_codes", "vouchers"]


rewards = Table(
    "rewards",
    metadata,
    Column("reward_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=text("''")),
    Column("points_cost", BigInteger, nullable=False),
    # Channel values ("pos", "webshop", "app") where the voucher is accepted.
    Column("channels", ARRAY(Text), nullable=False),
    # Stores whose tills accept it; empty: all stores.
    Column("store_ids", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    # Both null: unlimited stock.
    Column("stock_total", BigInteger, nullable=True),
    Column("stock_remaining", BigInteger, nullable=True),
    Column("per_member_limit", Integer, nullable=False, server_default=text("0")),
    _ts("visible_from", nullable=True),
    _ts("visible_until", nullable=True),
    Column("voucher_valid_days", Integer, nullable=False),
    # amount_off | percent_off | free_product | free_game_play, with its one value column.
    Column("value_kind", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=True),
    Column("currency", Text, nullable=True),
    Column("percent_off_bp", Integer, nullable=True),
    Column("product_sku", Text, nullable=True),
    Column("game_id", Text, nullable=True),
    _ts("archived_at", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    CheckConstraint("points_cost >= 0", name="cost_not_negative"),
    CheckConstraint("stock_remaining >= 0", name="stock_not_negative"),
    CheckConstraint("stock_remaining <= stock_total", name="stock_within_total"),
    CheckConstraint("(stock_total is null) = (stock_remaining is null)", name="stock_both_or_none"),
    CheckConstraint(
        "value_kind in ('amount_off', 'percent_off', 'free_product', 'free_game_play')", name="value_kind"
    ),
)

vouchers = Table(
    "vouchers",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("voucher_id", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("reward_id", Text, nullable=False),
    # issued | used | cancelled | expired
    Column("state", Text, nullable=False),
    Column("points_charged", BigInteger, nullable=False),
    # The REDEEM entry that took the points (empty when nothing was charged).
    Column("redeem_entry_id", Text, nullable=False, server_default=text("''")),
    Column("source_type", Text, nullable=False),
    Column("source_ref", Text, nullable=False),
    Column("credential_id", Text, nullable=False),
    _ts("issued_at"),
    _ts("valid_until"),
    _ts("used_at", nullable=True),
    Column("used_store_id", Text, nullable=False, server_default=text("''")),
    Column("used_channel", Text, nullable=False, server_default=text("''")),
    Column("used_order_id", Text, nullable=False, server_default=text("''")),
    # When it was cancelled or expired.
    _ts("closed_at", nullable=True),
    PrimaryKeyConstraint("member_id", "voucher_id"),
    CheckConstraint("state in ('issued', 'used', 'cancelled', 'expired')", name="state"),
    CheckConstraint("points_charged >= 0", name="charged_not_negative"),
    Index(None, "member_id", "reward_id"),
    # The expiry job's search: issued vouchers by end of validity.
    Index(None, "valid_until", postgresql_where=text("state = 'issued'")),
)

voucher_codes = Table(
    "voucher_codes",
    metadata,
    # The canonical code, without dashes.
    Column("code", Text, primary_key=True),
    Column("member_id", Text, nullable=False),
    Column("voucher_id", Text, nullable=False),
)
