"""games, play tokens, passports, leaderboards (loyalty_service/db/tables_games.py)

Revision ID: 0005_games
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_games"
down_revision = "0001"
branch_labels = ("games",)
depends_on = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(*names: str) -> list[sa.Column[object]]:
    return [sa.Column(name, sa.Text(), nullable=False) for name in names]


def _json(name: str) -> sa.Column[object]:
    return sa.Column(name, postgresql.JSONB(astext_type=sa.Text()), nullable=False)


def upgrade() -> None:
    for table, key in (("games", "game_id"), ("passports", "passport_id")):
        op.create_table(
            table,
            *_text(key),
            _json("spec"),
            _ts("opens_at"),
            _ts("closes_at", nullable=True),
            _ts("created_at"),
            _ts("updated_at"),
            sa.PrimaryKeyConstraint(key, name=op.f(f"pk_{table}")),
        )
    op.create_table(
        "game_prizes",
        *_text("game_id", "prize_id"),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("stock_remaining", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "stock_remaining is null or stock_remaining >= 0", name=op.f("ck_game_prizes_stock_not_negative")
        ),
        sa.PrimaryKeyConstraint("game_id", "prize_id", name=op.f("pk_game_prizes")),
    )
    op.create_table(
        "game_prize_days",
        *_text("game_id", "prize_id"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("won", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("game_id", "prize_id", "day", name=op.f("pk_game_prize_days")),
    )
    op.create_table(
        "game_plays",
        *_text("member_id", "play_id", "game_id"),
        _ts("played_at"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("prize_id", sa.Text(), nullable=True),
        sa.Column("draw", sa.BigInteger(), nullable=False),
        sa.Column("total_weight", sa.BigInteger(), nullable=False),
        _json("prize_table"),
        _json("play"),
        sa.PrimaryKeyConstraint("member_id", "play_id", name=op.f("pk_game_plays")),
    )
    op.create_index(
        op.f("ix_game_plays_member_id_game_id_played_at"), "game_plays", ["member_id", "game_id", "played_at"]
    )
    op.create_table(
        "play_token_balances",
        *_text("member_id"),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        _ts("updated_at"),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_play_token_balances_balance_not_negative")),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_play_token_balances")),
    )
    op.create_table(
        "play_token_entries",
        *_text("member_id", "entry_id"),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        *_text("source_type", "source_ref"),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("member_id", "entry_id", name=op.f("pk_play_token_entries")),
    )
    op.create_index(
        op.f("ix_play_token_entries_member_id_source_type_source_ref"),
        "play_token_entries",
        ["member_id", "source_type", "source_ref"],
        unique=True,
    )
    op.create_table(
        "play_token_rules",
        *_text("rule_id"),
        _json("spec"),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("rule_id", name=op.f("pk_play_token_rules")),
    )
    op.create_table(
        "passport_stamps",
        *_text("member_id", "passport_id"),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("stamp_id", sa.Text(), nullable=False),
        _ts("earned_at"),
        *_text("channel", "store_id", "source_type", "source_ref"),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "member_id", "passport_id", "cycle", "stamp_id", name=op.f("pk_passport_stamps")
        ),
    )
    op.create_table(
        "passport_members",
        *_text("member_id", "passport_id"),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("completions", sa.Integer(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("member_id", "passport_id", name=op.f("pk_passport_members")),
    )
    op.create_table(
        "passport_cursors",
        *_text("name"),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("gap_horizon", sa.BigInteger(), nullable=True),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_passport_cursors")),
    )
    op.create_table(
        "member_game_settings",
        *_text("member_id"),
        sa.Column("display_name", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("pseudonym", sa.Text(), nullable=False),
        sa.Column("opted_out", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_game_settings")),
    )
    op.create_table(
        "leaderboard_scores",
        *_text("member_id", "board", "period"),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("hidden", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("member_id", "board", "period", name=op.f("pk_leaderboard_scores")),
    )
    op.create_index(
        "ix_leaderboard_scores_rank",
        "leaderboard_scores",
        ["board", "period", sa.text("score desc")],
        postgresql_where=sa.text("not hidden"),
    )


def downgrade() -> None:
    op.drop_index("ix_leaderboard_scores_rank", table_name="leaderboard_scores")
    for table in (
        "leaderboard_scores",
        "member_game_settings",
        "passport_cursors",
        "passport_members",
        "passport_stamps",
        "play_token_rules",
        "play_token_entries",
        "play_token_balances",
        "game_plays",
        "game_prize_days",
        "game_prizes",
        "passports",
        "games",
    ):
        op.drop_table(table)
