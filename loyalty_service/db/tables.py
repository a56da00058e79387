"""The schema, as SQLAlchemy Core tables (no ORM: the hot paths are plain statements).

Citus-ready (docs/decisions/0002-storage-layout.md): member-scoped tables carry `member_id` first in their
primary key and in every unique key, so they can be distributed on it. Look-up tables that must be
unique across members (identifiers, orders, idempotency keys) are keyed by what they look up.
Catalogue tables (stores, credentials, rules, settings) are small reference tables.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["metadata", "now_column", "timestamp_column"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def timestamp_column(name: str, *, nullable: bool = False) -> Column[object]:
    """A timezone-aware timestamp column (every table of every feature uses these two)."""
    return Column(name, DateTime(timezone=True), nullable=nullable)


def now_column(name: str) -> Column[object]:
    """A timestamp the database sets to now() when the row is inserted."""
    return Column(name, DateTime(timezone=True), nullable=False, server_default=text("now()"))


# --- programme (reference tables) -------------------------------------------------------------------

stores = Table(
    "stores",
    metadata,
    Column("store_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    now_column("created_at"),
)

credentials = Table(
    "credentials",
    metadata,
    Column("credential_id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("store_id", Text, ForeignKey("stores.store_id"), nullable=True),
    Column("name", Text, nullable=False),
    Column("key_hash", LargeBinary, nullable=False, unique=True),
    now_column("created_at"),
    timestamp_column("revoked_at", nullable=True),
    CheckConstraint("kind in ('pos', 'webshop', 'app_backend', 'backoffice')", name="kind"),
    CheckConstraint("(kind = 'pos') = (store_id is not null)", name="pos_has_store"),
)

program_settings = Table(
    "program_settings",
    metadata,
    Column("settings_id", Integer, primary_key=True),
    Column("pending_days", Integer, nullable=False, server_default=text("0")),
    Column("expiry_months", Integer, nullable=False, server_default=text("0")),
    Column("offline_max_age_days", Integer, nullable=False, server_default=text("30")),
    # Bumped by every earning-rule change, so each process knows when its cached rules are stale.
    Column("rules_revision", BigInteger, nullable=False, server_default=text("0")),
    # Likewise for draws, play-token rules and tier ladders, which purchases consult (program/revisions.py).
    Column("draws_revision", BigInteger, nullable=False, server_default=text("0")),
    Column("token_rules_revision", BigInteger, nullable=False, server_default=text("0")),
    Column("ladders_revision", BigInteger, nullable=False, server_default=text("0")),
    now_column("updated_at"),
    CheckConstraint("settings_id = 1", name="singleton"),
)

earning_rules = Table(
    "earning_rules",
    metadata,
    Column("rule_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
    timestamp_column("effective_from"),
    Column("retired", Boolean, nullable=False, server_default=text("false")),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    timestamp_column("valid_from", nullable=True),
    timestamp_column("valid_to", nullable=True),
    Column("currency", Text, nullable=True),
    Column("points_per_unit", Text, nullable=False, server_default=text("'0'")),
    Column("factor", Text, nullable=False, server_default=text("'1'")),
    Column("bonus_points", BigInteger, nullable=False, server_default=text("0")),
    Column("condition", JSONB, nullable=False),
    Column("created_by", Text, nullable=False),
    now_column("created_at"),
    PrimaryKeyConstraint("rule_id", "version"),
)

# --- members -------------------------------------------------------------------------------------

members = Table(
    "members",
    metadata,
    Column("member_id", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("display_name", Text, nullable=False, server_default=text("''")),
    Column("merged_into", Text, nullable=True),
    now_column("created_at"),
    # Set while the member is a referee whose referral is pending (journeys, through members.api): the
    # look-up every purchase makes says whether the referral must be read at all.
    Column("pending_referral", Boolean, nullable=False, server_default=text("false")),
    CheckConstraint("status in ('active', 'provisional', 'closed', 'erased')", name="status"),
)

# Keyed by the identifier: it is how a member is found, and it is unique across members.
member_identifiers = Table(
    "member_identifiers",
    metadata,
    Column("kind", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    now_column("linked_at"),
    PrimaryKeyConstraint("kind", "value"),
    Index(None, "member_id"),
)

member_consents = Table(
    "member_consents",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("channel", Text, nullable=False),
    timestamp_column("changed_at"),
    PrimaryKeyConstraint("member_id", "purpose"),
)

consent_changes = Table(
    "consent_changes",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("change_seq", BigInteger, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("channel", Text, nullable=False),
    Column("credential_id", Text, nullable=False),
    timestamp_column("changed_at"),
    PrimaryKeyConstraint("member_id", "change_seq"),
)

# --- the ledger ----------------------------------------------------------------------------------

# The head of a member's ledger: the materialised balance and the sequence counters, one row locked by
# every change to the member so that changes to one member are serialised and gap-free.
accounts = Table(
    "accounts",
    metadata,
    Column("member_id", Text, primary_key=True),
    # Spendable now; negative while a refund reversal left a debt.
    Column("available", BigInteger, nullable=False, server_default=text("0")),
    Column("pending", BigInteger, nullable=False, server_default=text("0")),
    Column("lifetime_earned", BigInteger, nullable=False, server_default=text("0")),
    Column("entry_seq", BigInteger, nullable=False, server_default=text("0")),
    Column("event_seq", BigInteger, nullable=False, server_default=text("0")),
    Column("consent_seq", BigInteger, nullable=False, server_default=text("0")),
    # The newest entry's hash-chain hash (ledger.chain); 32 zero bytes before the first entry.
    Column(
        "last_entry_hash", LargeBinary, nullable=False, server_default=text("decode(repeat('00', 32), 'hex')")
    ),
    # The earliest time a pending lot becomes available / a lot expires; the jobs find members by them.
    timestamp_column("next_release_at", nullable=True),
    timestamp_column("next_expiry_at", nullable=True),
    now_column("updated_at"),
    CheckConstraint("pending >= 0", name="pending_not_negative"),
    Index(None, "next_release_at", postgresql_where=text("next_release_at is not null")),
    Index(None, "next_expiry_at", postgresql_where=text("next_expiry_at is not null")),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("entry_seq", BigInteger, nullable=False),
    Column("entry_id", Text, nullable=False),
    Column("entry_type", Text, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("channel", Text, nullable=False),
    Column("store_id", Text, nullable=False, server_default=text("''")),
    Column("source_type", Text, nullable=False),
    Column("source_ref", Text, nullable=False),
    Column("reason", Text, nullable=False, server_default=text("''")),
    Column("credential_id", Text, nullable=False),
    timestamp_column("occurred_at"),
    # Set by the service (not a default): it is covered by entry_hash, computed before the insert.
    timestamp_column("recorded_at"),
    # SHA-256 over the previous entry's hash and this entry's content (ledger.chain).
    Column("entry_hash", LargeBinary, nullable=False),
    PrimaryKeyConstraint("member_id", "entry_seq"),
    UniqueConstraint("member_id", "entry_id"),
)

lots = Table(
    "lots",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("lot_id", Text, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    timestamp_column("earned_at"),
    timestamp_column("available_at"),
    timestamp_column("expires_at", nullable=True),
    Column("entry_id", Text, nullable=False),
    # Whether the pending points became available (and paid any debt): the release runs once per lot.
    Column("released", Boolean, nullable=False, server_default=text("false")),
    PrimaryKeyConstraint("member_id", "lot_id"),
    CheckConstraint("remaining >= 0 and remaining <= points", name="remaining_in_range"),
    Index("ix_lots_open", "member_id", postgresql_where=text("remaining > 0")),
    Index("ix_lots_unreleased", "member_id", postgresql_where=text("not released")),
)

# Which lots a debit took points from: a cancelled spend puts them back where they came from.
lot_takes = Table(
    "lot_takes",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("entry_id", Text, nullable=False),
    Column("lot_id", Text, nullable=False),
    Column("points", BigInteger, nullable=False),
    PrimaryKeyConstraint("member_id", "entry_id", "lot_id"),
)

purchases = Table(
    "purchases",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("purchase_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("order_id", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("lot_id", Text, nullable=True),
    Column("refunded_minor", BigInteger, nullable=False, server_default=text("0")),
    Column("reversed_points", BigInteger, nullable=False, server_default=text("0")),
    Column("lines", JSONB, nullable=False),
    Column("applied_rules", JSONB, nullable=False),
    Column("credential_id", Text, nullable=False),
    timestamp_column("occurred_at"),
    now_column("recorded_at"),
    PrimaryKeyConstraint("member_id", "purchase_id"),
    CheckConstraint("refunded_minor <= amount_minor and reversed_points <= points", name="refund_within"),
)

# One purchase per (channel, store, order): keyed by the order so that the check holds across members.
purchase_orders = Table(
    "purchase_orders",
    metadata,
    Column("channel", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("order_id", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    Column("purchase_id", Text, nullable=False),
    PrimaryKeyConstraint("channel", "store_id", "order_id"),
)

refunds = Table(
    "refunds",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("refund_id", Text, nullable=False),
    Column("purchase_id", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("points_reversed", BigInteger, nullable=False),
    Column("lines", JSONB, nullable=False),
    Column("entry_id", Text, nullable=True),
    timestamp_column("occurred_at"),
    now_column("recorded_at"),
    PrimaryKeyConstraint("member_id", "refund_id"),
)

spends = Table(
    "spends",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("spend_id", Text, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("channel", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("order_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("entry_id", Text, nullable=False),
    Column("cancel_entry_id", Text, nullable=True),
    now_column("created_at"),
    timestamp_column("cancelled_at", nullable=True),
    PrimaryKeyConstraint("member_id", "spend_id"),
)

# --- cross-cutting -------------------------------------------------------------------------------

# The first answer to each (credential, key): a retry gets it back byte for byte.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("method", Text, nullable=False),
    Column("request_hash", LargeBinary, nullable=False),
    Column("response", LargeBinary, nullable=True),
    now_column("created_at"),
    PrimaryKeyConstraint("scope", "idempotency_key"),
    Index(None, "created_at"),
)

# The outbox: every change writes its events here in the same transaction.
events = Table(
    "events",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    timestamp_column("occurred_at"),
    now_column("created_at"),
    # The programme feed's cursor, taken at insert: it orders a member's events like `seq` (decision 0005).
    Column("event_id", BigInteger, Identity(always=True), nullable=False),
    PrimaryKeyConstraint("member_id", "seq"),
    Index(None, "created_at"),
)
