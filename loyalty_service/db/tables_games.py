"""Games, play tokens, passports and leaderboards (docs: README "Games, passports and leaderboards").

Catalogue tables (`games`, `game_prizes`, `game_prize_days`, `play_token_rules`, `passports`,
`passport_cursors`) are small reference tables. Member-scoped tables carry `member_id` first in every key
(Citus). `leaderboard_scores` is member-scoped too; its ranking index is `(board, period, score desc)`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from loyalty_service.db.tables import metadata
from loyalty_service.db.tables import timestamp_column as _ts

__all__ = [
    "game_plays",
    "game_prize_days",
    "game_prizes",
    "games",
    "leaderboard_scores",
    "member_game_settings",
    "passport_cursors",
    "passport_members",
    "passport_stamps",
    "passports",
    "play_token_balances",
    "play_token_entries",
    "play_token_rules",
]


games = Table(
    "games",
    metadata,
    Column("game_id", Text, primary_key=True),
    # The GameSpec as JSON (protobuf field names); prizes' live stock is in game_prizes.
    Column("spec", JSONB, nullable=False),
    _ts("opens_at"),
    _ts("closes_at", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
)

# Locked FOR UPDATE by a play when the prize has a stock or a daily cap: caps and stock never overrun.
game_prizes = Table(
    "game_prizes",
    metadata,
    Column("game_id", Text, nullable=False),
    Column("prize_id", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("stock_remaining", BigInteger, nullable=True),
    PrimaryKeyConstraint("game_id", "prize_id"),
    CheckConstraint("stock_remaining is null or stock_remaining >= 0", name="stock_not_negative"),
)

game_prize_days = Table(
    "game_prize_days",
    metadata,
    Column("game_id", Text, nullable=False),
    Column("prize_id", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("won", Integer, nullable=False),
    PrimaryKeyConstraint("game_id", "prize_id", "day"),
)

# Every play with its draw and the table it was drawn from: replayable with prizes.outcome_for_draw.
game_plays = Table(
    "game_plays",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("play_id", Text, nullable=False),
    Column("game_id", Text, nullable=False),
    _ts("played_at"),
    Column("day", Date, nullable=False),
    Column("prize_id", Text, nullable=True),
    Column("draw", BigInteger, nullable=False),
    Column("total_weight", BigInteger, nullable=False),
    Column("prize_table", JSONB, nullable=False),
    Column("play", JSONB, nullable=False),
    PrimaryKeyConstraint("member_id", "play_id"),
    Index(None, "member_id", "game_id", "played_at"),
)

# The second balance of the ledger (ledger/play_tokens.py): equals the sum of its entries, never negative.
play_token_balances = Table(
    "play_token_balances",
    metadata,
    Column("member_id", Text, primary_key=True),
    Column("balance", BigInteger, nullable=False),
    _ts("updated_at"),
    CheckConstraint("balance >= 0", name="balance_not_negative"),
)

play_token_entries = Table(
    "play_token_entries",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("entry_id", Text, nullable=False),
    Column("tokens", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("source_type", Text, nullable=False),
    Column("source_ref", Text, nullable=False),
    _ts("created_at"),
    PrimaryKeyConstraint("member_id", "entry_id"),
    # One grant per purchase and rule: a replayed purchase hook cannot pay twice.
    Index(None, "member_id", "source_type", "source_ref", unique=True),
)

play_token_rules = Table(
    "play_token_rules",
    metadata,
    Column("rule_id", Text, primary_key=True),
    Column("spec", JSONB, nullable=False),
    _ts("created_at"),
)

passports = Table(
    "passports",
    metadata,
    Column("passport_id", Text, primary_key=True),
    Column("spec", JSONB, nullable=False),
    _ts("opens_at"),
    _ts("closes_at", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
)

# Exactly once per (member, passport, cycle, stamp): the primary key.
passport_stamps = Table(
    "passport_stamps",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("passport_id", Text, nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("stamp_id", Text, nullable=False),
    _ts("earned_at"),
    Column("channel", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("source_type", Text, nullable=False),
    Column("source_ref", Text, nullable=False),
    Column("event_id", BigInteger, nullable=False),
    PrimaryKeyConstraint("member_id", "passport_id", "cycle", "stamp_id"),
)

passport_members = Table(
    "passport_members",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("passport_id", Text, nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("completions", Integer, nullable=False),
    _ts("updated_at"),
    PrimaryKeyConstraint("member_id", "passport_id"),
)

# The stamp processor's position in the outbox (events.cursor.FeedCursor), advanced with its awards.
passport_cursors = Table(
    "passport_cursors",
    metadata,
    Column("name", Text, primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("gap_horizon", BigInteger, nullable=True),
    _ts("updated_at"),
)

member_game_settings = Table(
    "member_game_settings",
    metadata,
    Column("member_id", Text, primary_key=True),
    Column("display_name", Text, nullable=False, server_default=text("''")),
    Column("pseudonym", Text, nullable=False),
    Column("opted_out", Boolean, nullable=False, server_default=text("false")),
)

leaderboard_scores = Table(
    "leaderboard_scores",
    metadata,
    Column("member_id", Text, nullable=False),
    Column("board", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("score", BigInteger, nullable=False),
    Column("hidden", Boolean, nullable=False, server_default=text("false")),
    _ts("updated_at"),
    PrimaryKeyConstraint("member_id", "board", "period"),
    # Top N and "how many score higher than me" are index range scans on the shown rows.
    Index(
        "ix_leaderboard_scores_rank",
        "board",
        "period",
        text("score desc"),
        postgresql_where=text("not hidden"),
    ),
)
