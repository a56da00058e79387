"""Games in the member data export (GDPR access and portability): plays and play tokens.

Registered with `members.export_registry` as "games" when imported (by the servicer). No eraser: a play
holds references, the draw and amounts, nothing that identifies the person (the erasure policy keeps
amounts under the member id); the leaderboard's personal data (the display name) is erased by
`games.leaderboard`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables_games import game_plays, play_token_balances, play_token_entries
from loyalty_service.members import export_registry

__all__ = ["export_member"]

_ROWS_MAX = 10_000


async def export_member(conn: AsyncConnection, member_id: str) -> object:
    """The member's plays (outcome, draw, the table it was drawn from) and play tokens (balance, entries)."""

    async def rows(statement: Any) -> list[dict[str, object]]:
        return [dict(r._mapping) for r in (await conn.execute(statement.limit(_ROWS_MAX))).all()]

    plays = select(
        game_plays.c.play_id,
        game_plays.c.game_id,
        game_plays.c.played_at,
        game_plays.c.prize_id,
        game_plays.c.draw,
        game_plays.c.total_weight,
        game_plays.c.prize_table,
    ).where(game_plays.c.member_id == member_id)
    balance = (
        await conn.execute(
            select(play_token_balances.c.balance).where(play_token_balances.c.member_id == member_id)
        )
    ).scalar_one_or_none()
    entries = select(play_token_entries).where(play_token_entries.c.member_id == member_id)
    return {
        "plays": await rows(plays.order_by(game_plays.c.played_at, game_plays.c.play_id)),
        "play_tokens": {
            "balance": int(balance or 0),
            "entries": await rows(
                entries.order_by(play_token_entries.c.created_at, play_token_entries.c.entry_id)
            ),
        },
    }


export_registry.register("games", export=export_member)
