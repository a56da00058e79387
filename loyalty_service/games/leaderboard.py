"""Leaderboards: scores per board ("game:<id>", "passport:<id>") and period ("all", "2025-W07", "2025-02").

A score is an atomic upsert (`score = score + n`), so many members scoring at once never lose a point.
Rank = 1 + the number of shown scores strictly higher (ties share a rank), counted on the index
`(board, period, score desc) where not hidden`. A member who opts out is hidden everywhere; names shown
are the chosen display name or a random pseudonym kept in `member_game_settings`, never an identifier.

Privacy (registered with `members.export_registry` as "leaderboards"): the export holds the member's
settings and every score row. Erasure deletes the scores and blanks the display name, and keeps the
settings row opted out, so that an event of the member still in flight (a stamp being processed) cannot
put them back on a board.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, delete, func, not_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables_games import leaderboard_scores, member_game_settings
from loyalty_service.members import export_registry

__all__ = [
    "Row",
    "Settings",
    "add_score",
    "erase_member",
    "export_member",
    "period_keys",
    "rank_of",
    "save_settings",
    "settings_of",
    "top",
]


@dataclass(frozen=True, slots=True)
class Row:
    rank: int
    display_name: str
    score: int
    member_id: str


@dataclass(frozen=True, slots=True)
class Settings:
    display_name: str
    pseudonym: str
    opted_out: bool


def period_keys(now: datetime) -> dict[str, str]:
    """The period keys an instant scores in (UTC calendar)."""
    at = now.astimezone(UTC)
    year, week, _ = at.isocalendar()
    return {"week": f"{year}-W{week:02d}", "month": f"{at.year}-{at.month:02d}", "all": "all"}


def _pseudonym() -> str:
    return f"Player {secrets.token_hex(3).upper()}"


async def settings_of(conn: AsyncConnection, member_id: str) -> Settings:
    """The member's settings, created with a fresh pseudonym on first use."""
    await conn.execute(
        insert(member_game_settings)
        .values(member_id=member_id, pseudonym=_pseudonym())
        .on_conflict_do_nothing()
    )
    row = (
        await conn.execute(select(member_game_settings).where(member_game_settings.c.member_id == member_id))
    ).one()
    return Settings(str(row.display_name), str(row.pseudonym), bool(row.opted_out))


async def save_settings(
    conn: AsyncConnection, member_id: str, *, display_name: str, opted_out: bool
) -> Settings:
    await settings_of(conn, member_id)
    await conn.execute(
        update(member_game_settings)
        .where(member_game_settings.c.member_id == member_id)
        .values(display_name=display_name, opted_out=opted_out)
    )
    await conn.execute(
        update(leaderboard_scores).where(leaderboard_scores.c.member_id == member_id).values(hidden=opted_out)
    )
    return await settings_of(conn, member_id)


async def add_score(conn: AsyncConnection, *, member_id: str, board: str, points: int, now: datetime) -> None:
    settings = await settings_of(conn, member_id)
    for period in period_keys(now).values():
        await conn.execute(
            insert(leaderboard_scores)
            .values(
                member_id=member_id,
                board=board,
                period=period,
                score=points,
                hidden=settings.opted_out,
                updated_at=now,
            )
            .on_conflict_do_update(
                index_elements=["member_id", "board", "period"],
                set_={"score": leaderboard_scores.c.score + points, "updated_at": now},
            )
        )


def _shown(board: str, period: str) -> list[object]:
    return [
        leaderboard_scores.c.board == board,
        leaderboard_scores.c.period == period,
        not_(leaderboard_scores.c.hidden),  # the partial index's predicate, verbatim
    ]


async def top(conn: AsyncConnection, *, board: str, period: str, limit: int) -> list[Row]:
    """The first `limit` shown scores, best first (straight off the ranking index; ties in index order)."""
    s = leaderboard_scores
    name = func.coalesce(
        func.nullif(member_game_settings.c.display_name, ""), member_game_settings.c.pseudonym
    )
    rows = await conn.execute(
        select(s.c.member_id, s.c.score, name.label("name"))
        .select_from(s.outerjoin(member_game_settings, member_game_settings.c.member_id == s.c.member_id))
        .where(and_(*_shown(board, period)))  # type: ignore[arg-type]
        .order_by(s.c.score.desc())
        .limit(limit)
    )
    result: list[Row] = []
    for row in rows:
        higher = sum(1 for r in result if r.score > int(row.score))
        result.append(Row(higher + 1, str(row.name or "Player"), int(row.score), str(row.member_id)))
    return result


async def rank_of(conn: AsyncConnection, *, board: str, period: str, member_id: str) -> Row | None:
    """The member's row, or None without a shown score: one key lookup and one index count."""
    s = leaderboard_scores
    score = (
        await conn.execute(
            select(s.c.score).where(
                s.c.member_id == member_id, s.c.board == board, s.c.period == period, not_(s.c.hidden)
            )
        )
    ).scalar_one_or_none()
    if score is None:
        return None
    higher = (
        await conn.execute(
            select(func.count()).select_from(s).where(and_(*_shown(board, period)), s.c.score > score)  # type: ignore[arg-type]
        )
    ).scalar_one()
    settings = await settings_of(conn, member_id)
    return Row(int(higher) + 1, settings.display_name or settings.pseudonym, int(score), member_id)


_EXPORTED_SCORES_MAX = 10_000


async def export_member(conn: AsyncConnection, member_id: str) -> object:
    """The member's settings (None when never used) and scores, by board and period."""
    settings = (
        await conn.execute(select(member_game_settings).where(member_game_settings.c.member_id == member_id))
    ).one_or_none()
    s = leaderboard_scores
    scores = await conn.execute(
        select(s.c.board, s.c.period, s.c.score, s.c.hidden, s.c.updated_at)
        .where(s.c.member_id == member_id)
        .order_by(s.c.board, s.c.period)
        .limit(_EXPORTED_SCORES_MAX)
    )
    return {
        "settings": None
        if settings is None
        else {
            "display_name": settings.display_name,
            "pseudonym": settings.pseudonym,
            "opted_out": settings.opted_out,
        },
        "scores": [
            {
                "board": row.board,
                "period": row.period,
                "score": int(row.score),
                "shown": not row.hidden,
                "updated_at": row.updated_at.isoformat(),
            }
            for row in scores
        ],
    }


async def erase_member(conn: AsyncConnection, member_id: str) -> None:
    """Off every board for good: scores deleted, display name blanked, opted out (module docstring)."""
    await conn.execute(delete(leaderboard_scores).where(leaderboard_scores.c.member_id == member_id))
    await conn.execute(
        insert(member_game_settings)
        .values(member_id=member_id, pseudonym=_pseudonym(), display_name="", opted_out=True)
        .on_conflict_do_update(index_elements=["member_id"], set_={"display_name": "", "opted_out": True})
    )


export_registry.register("leaderboards", export=export_member, erase=erase_member)
