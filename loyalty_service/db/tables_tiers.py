"""Status tiers: ladder versions (a small reference table) and the member-scoped status, history and
qualifying contributions (keyed by `member_id` first, for Citus).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, PrimaryKeyConstraint, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

from loyalty_service.db.tables import metadata
from loyalty_service.db.tables import timestamp_column as _ts

__all__ = ["tier_contributions", "tier_history", "tier_ladders", "tier_status"]

tier_ladders = Table(
    "tier_ladders",
    metadata,
    Column("version", Integer, nullable=False),
    _ts("effective_from"),
    Column("spec", JSONB, nullable=False),
    Column("created_by", Text, nullable=False),
    _ts("created_at"),
    PrimaryKeyConstraint("version"),
)

tier_status = Table(
    "tier_status",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("tier_id", Text, nullable=False),
    _ts("held_until", nullable=True),
    Column("change_seq", Integer, nullable=False),  # the latest tier_history seq (0: none)
    _ts("updated_at"),
    PrimaryKeyConstraint("member_id"),
    Index(None, "held_until"),
)

tier_history = Table(
    "tier_history",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("from_tier_id", Text, nullable=False),
    Column("tier_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
    _ts("effective_at"),
    _ts("held_until", nullable=True),
    _ts("previous_held_until", nullable=True),
    Column("qualifying_value", BigInteger, nullable=False),
    Column("purchase_id", Text, nullable=True),
    _ts("recorded_at"),
    PrimaryKeyConstraint("member_id", "seq"),
)

tier_contributions = Table(
    "tier_contributions",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("purchase_id", Text, nullable=False),
    _ts("occurred_at"),
    Column("points", BigInteger, nullable=False),
    Column("points_earned", BigInteger, nullable=False),
    Column("spend_minor", BigInteger, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    PrimaryKeyConstraint("member_id", "purchase_id"),
    Index(None, "member_id", "occurred_at"),
)
