"""Omnichannel journeys: the journey settings row (reference), click-and-collect pickups, referral codes
and referrals, and the once-per-period claims of cross-channel earning rules (member-scoped, keyed by
`member_id` first for Citus; `referral_codes` is a lookup table like `member_identifiers`).
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

from loyalty_service.db.tables import metadata, now_column
from loyalty_service.db.tables import timestamp_column as _ts

__all__ = ["journey_settings", "pickups", "referral_codes", "referrals", "rule_claims"]

journey_settings = Table(
    "journey_settings",
    metadata,
    Column("settings_id", Integer, primary_key=True),
    Column("pickup_deadline_days", Integer, nullable=False, server_default=text("14")),
    Column("pickup_bonus_points", BigInteger, nullable=False, server_default=text("0")),
    Column("referrer_bonus_points", BigInteger, nullable=False, server_default=text("0")),
    Column("referee_bonus_points", BigInteger, nullable=False, server_default=text("0")),
    Column("referrals_per_year_max", Integer, nullable=False, server_default=text("0")),
    now_column("updated_at"),
    CheckConstraint("settings_id = 1", name="singleton"),
)

pickups = Table(
    "pickups",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("purchase_id", Text, nullable=False),
    Column("order_store_id", Text, nullable=False),
    Column("order_id", Text, nullable=False),
    Column("pickup_store_id", Text, nullable=False),
    # The purchase's pending lot (None when the order earned nothing).
    Column("lot_id", Text, nullable=True),
    Column("points", BigInteger, nullable=False),
    # awaiting | collected | cancelled
    Column("status", Text, nullable=False),
    _ts("deadline_at"),
    _ts("created_at"),
    _ts("collected_at", nullable=True),
    Column("collected_by", Text, nullable=True),
    _ts("cancelled_at", nullable=True),
    Column("cancel_reason", Text, nullable=True),
    Column("bonus_points", BigInteger, nullable=False, server_default=text("0")),
    Column("bonus_entry_id", Text, nullable=True),
    PrimaryKeyConstraint("member_id", "purchase_id"),
    CheckConstraint("status in ('awaiting', 'collected', 'cancelled')", name="status"),
    # The maintenance task: awaiting orders past their deadline.
    Index(None, "status", "deadline_at"),
    # A till finds an order by its id alone (the web shop's store_id is optional in ConfirmPickup).
    Index(None, "order_id"),
)

referral_codes = Table(
    "referral_codes",
    metadata,
    # Normalised: upper case, no separators.
    Column("code", Text, primary_key=True),
    Column("member_id", Text, nullable=False),
    _ts("created_at"),
    Index(None, "member_id", unique=True),
)

referrals = Table(
    "referrals",
    metadata,
    # The new member (referee): one referral at most.
    Column("member_id", Text, nullable=False),
    Column("referrer_id", Text, nullable=False),
    # pending | over_limit | rewarded | self_referral
    Column("status", Text, nullable=False),
    _ts("enrolled_at"),
    _ts("rewarded_at", nullable=True),
    Column("purchase_id", Text, nullable=True),
    Column("referrer_points", BigInteger, nullable=False, server_default=text("0")),
    Column("referee_points", BigInteger, nullable=False, server_default=text("0")),
    Column("referrer_entry_id", Text, nullable=True),
    Column("referee_entry_id", Text, nullable=True),
    PrimaryKeyConstraint("member_id"),
    CheckConstraint("status in ('pending', 'over_limit', 'rewarded', 'self_referral')", name="status"),
    # The yearly limit counts a referrer's referrals by enrolment time.
    Index(None, "referrer_id", "enrolled_at"),
)

rule_claims = Table(
    "rule_claims",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("rule_id", Text, nullable=False),
    # "2026-03" for a monthly condition, "once" for a once-per-member one.
    Column("period", Text, nullable=False),
    Column("purchase_id", Text, nullable=False),
    _ts("claimed_at"),
    PrimaryKeyConstraint("member_id", "rule_id", "period"),
)
