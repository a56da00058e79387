"""Prize draws: `draws` (a small reference table) and the per-draw tables, keyed by `draw_id` first.

Citus: the frozen entry list of a draw needs one global order by `entry_id` across every member, so
`draw_entries` cannot be distributed by `member_id` like the ledger. The per-draw tables (`draw_entries`,
`draw_members`, `draw_winners`) are keyed `(draw_id, ...)` and meant to be distributed by `draw_id`,
co-located with each other: a draw's entries live on one shard, so freezing and running a draw are
single-shard. They carry `member_id` in a plain column (not a key), which a member's data export or erasure
reaches through the `(draw_id, member_id)` key of `draw_members` and the index on `draw_entries`.
`draws` is small and read on every purchase (spend sources), so it is a reference table.

The seed (`draws.seed`) is secret until the run: no RPC returns it before `drawn_at` is set.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from loyalty_service.db.tables import metadata
from loyalty_service.db.tables import timestamp_column as _ts

__all__ = ["draw_entries", "draw_members", "draw_winners", "draws"]


draws = Table(
    "draws",
    metadata,
    Column("draw_id", Text, primary_key=True),
    # The DrawSpec as JSON (name, window copy, prizes, sources, beacon source); see draws/store.py.
    Column("spec", JSONB, nullable=False),
    _ts("opens_at"),
    _ts("closes_at"),
    Column("seed", LargeBinary, nullable=False),
    Column("commitment", Text, nullable=False),
    # Set together when the window has closed and the entry list is frozen.
    Column("entry_count", BigInteger, nullable=True),
    Column("entries_digest", Text, nullable=True),
    _ts("frozen_at", nullable=True),
    # Set together by the run.
    Column("beacon", Text, nullable=True),
    _ts("drawn_at", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    CheckConstraint("opens_at < closes_at", name="window"),
    CheckConstraint("(entries_digest is null) = (frozen_at is null)", name="frozen_together"),
    CheckConstraint("drawn_at is null or frozen_at is not null", name="drawn_after_frozen"),
)

draw_entries = Table(
    "draw_entries",
    metadata,
    Column("draw_id", Text, nullable=False),
    Column("entry_id", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    Column("member_ref", Text, nullable=False),
    # direct | passport | challenge | game | purchase
    Column("source_type", Text, nullable=False),
    Column("source_ref", Text, nullable=False),
    _ts("created_at"),
    PrimaryKeyConstraint("draw_id", "entry_id"),
    Index(None, "draw_id", "member_id"),
    Index(None, "draw_id", "source_type", "source_ref"),
)

draw_members = Table(
    "draw_members",
    metadata,
    Column("draw_id", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    Column("member_ref", Text, nullable=False),
    Column("entry_count", BigInteger, nullable=False, server_default=text("0")),
    Column("direct_entries", Integer, nullable=False, server_default=text("0")),
    # Spend counted for the spend source during the window, and the entries it has granted.
    Column("spend_minor", BigInteger, nullable=False, server_default=text("0")),
    Column("spend_entries", BigInteger, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("draw_id", "member_id"),
)

draw_winners = Table(
    "draw_winners",
    metadata,
    Column("draw_id", Text, nullable=False),
    Column("slot", Integer, nullable=False),
    Column("prize_id", Text, nullable=False),
    Column("entry_id", Text, nullable=False),
    Column("member_ref", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    # What was granted: a voucher, or a DRAW_WIN ledger entry.
    Column("voucher_id", Text, nullable=True),
    Column("ledger_entry_id", Text, nullable=True),
    Column("points", BigInteger, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("draw_id", "slot"),
)
