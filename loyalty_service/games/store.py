"""Statements of games: the catalogue, prize counters (locked by plays), plays, token rules."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables_games import game_plays, game_prize_days, game_prizes, games, play_token_rules
from loyalty_service.games.prizes import stock_after_update
from loyalty_service.program import revisions

__all__ = [
    "GameRow",
    "count_plays",
    "get_game",
    "insert_play",
    "list_games",
    "list_plays",
    "lock_prizes",
    "prize_stock",
    "record_win",
    "save_game",
    "save_token_rule",
    "won_on",
]


class GameRow:
    def __init__(self, row: Any) -> None:
        self.game_id = str(row.game_id)
        self.spec: dict[str, Any] = dict(row.spec)
        self.created_at: datetime = row.created_at
        self.updated_at: datetime = row.updated_at


async def save_game(
    conn: AsyncConnection,
    *,
    game_id: str,
    spec: dict[str, Any],
    opens_at: datetime,
    closes_at: datetime | None,
    stock: dict[str, int | None],
    now: datetime,
    created: bool,
) -> GameRow:
    """Create or update the game; `stock` is each prize's total stock (None: unlimited), by prize id.

    On update the caller holds the game row FOR UPDATE (plays hold it FOR KEY SHARE, so none is in
    flight). A prize is its `prize_id`: a kept prize keeps what it has given, so its remaining stock is the
    new total minus its wins so far (never below 0); an added prize starts with its whole stock; a removed
    prize's row goes (its plays and daily counters stay, so an id added back later counts its old wins).
    """
    values = {"spec": spec, "opens_at": opens_at, "closes_at": closes_at, "updated_at": now}
    if created:
        row = await conn.execute(
            insert(games).values(game_id=game_id, created_at=now, **values).returning(*games.c)
        )
        won: dict[str, int] = {}
    else:
        row = await conn.execute(
            update(games).where(games.c.game_id == game_id).values(**values).returning(*games.c)
        )
        won = await _won_in_total(conn, game_id)
        await conn.execute(
            game_prizes.delete().where(
                game_prizes.c.game_id == game_id, game_prizes.c.prize_id.not_in(list(stock))
            )
        )
    for position, (prize_id, total) in enumerate(stock.items()):
        remaining = stock_after_update(total, won.get(prize_id, 0))
        await conn.execute(
            insert(game_prizes)
            .values(game_id=game_id, prize_id=prize_id, position=position, stock_remaining=remaining)
            .on_conflict_do_update(
                index_elements=["game_id", "prize_id"],
                set_={"position": position, "stock_remaining": remaining},
            )
        )
    return GameRow(row.one())


async def _won_in_total(conn: AsyncConnection, game_id: str) -> dict[str, int]:
    """Wins per prize since the game was created (every win adds to its day's counter)."""
    rows = await conn.execute(
        select(game_prize_days.c.prize_id, func.sum(game_prize_days.c.won))
        .where(game_prize_days.c.game_id == game_id)
        .group_by(game_prize_days.c.prize_id)
    )
    return {str(prize_id): int(total) for prize_id, total in rows}


async def get_game(
    conn: AsyncConnection, game_id: str, *, lock: bool = False, share: bool = False
) -> GameRow | None:
    """`lock`: FOR UPDATE (a game update); `share`: FOR KEY SHARE (a play: many at once, none during an
    update, so an update never races a play on the prize table it replaces)."""
    query = select(games).where(games.c.game_id == game_id)
    if lock:
        query = query.with_for_update()
    elif share:
        query = query.with_for_update(read=True, key_share=True)
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else GameRow(row)


async def list_games(conn: AsyncConnection, *, open_at: datetime | None = None) -> list[GameRow]:
    query = select(games).order_by(games.c.game_id)
    if open_at is not None:
        query = query.where(
            games.c.opens_at <= open_at, (games.c.closes_at.is_(None)) | (games.c.closes_at > open_at)
        )
    return [GameRow(r) for r in await conn.execute(query.limit(500))]


async def lock_prizes(conn: AsyncConnection, game_id: str, prize_ids: list[str]) -> None:
    """Lock the limited prizes' rows in prize-id order (one order: plays never deadlock)."""
    if prize_ids:
        await conn.execute(
            select(game_prizes.c.prize_id)
            .where(game_prizes.c.game_id == game_id, game_prizes.c.prize_id.in_(prize_ids))
            .order_by(game_prizes.c.prize_id)
            .with_for_update()
        )


async def prize_stock(conn: AsyncConnection, game_id: str) -> dict[str, int | None]:
    rows = await conn.execute(
        select(game_prizes.c.prize_id, game_prizes.c.stock_remaining).where(game_prizes.c.game_id == game_id)
    )
    return {str(r.prize_id): None if r.stock_remaining is None else int(r.stock_remaining) for r in rows}


async def won_on(conn: AsyncConnection, game_id: str, day: date) -> dict[str, int]:
    rows = await conn.execute(
        select(game_prize_days.c.prize_id, game_prize_days.c.won).where(
            game_prize_days.c.game_id == game_id, game_prize_days.c.day == day
        )
    )
    return {str(r.prize_id): int(r.won) for r in rows}


async def record_win(conn: AsyncConnection, *, game_id: str, prize_id: str, day: date) -> None:
    await conn.execute(
        update(game_prizes)
        .where(
            game_prizes.c.game_id == game_id,
            game_prizes.c.prize_id == prize_id,
            game_prizes.c.stock_remaining.is_not(None),
        )
        .values(stock_remaining=game_prizes.c.stock_remaining - 1)
    )
    await conn.execute(
        insert(game_prize_days)
        .values(game_id=game_id, prize_id=prize_id, day=day, won=1)
        .on_conflict_do_update(
            index_elements=["game_id", "prize_id", "day"], set_={"won": game_prize_days.c.won + 1}
        )
    )


async def count_plays(
    conn: AsyncConnection, *, member_id: str, game_id: str, since: datetime, until: datetime
) -> tuple[int, int]:
    """(plays in [since, until), plays in total) of the member in the game."""
    in_day = func.count().filter(game_plays.c.played_at >= since, game_plays.c.played_at < until)
    row = (
        await conn.execute(
            select(in_day, func.count()).where(
                game_plays.c.member_id == member_id, game_plays.c.game_id == game_id
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def insert_play(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(insert(game_plays).values(**values))


async def list_plays(
    conn: AsyncConnection, *, member_id: str, game_id: str, limit: int
) -> list[dict[str, Any]]:
    query = select(game_plays.c.play).where(game_plays.c.member_id == member_id)
    if game_id:
        query = query.where(game_plays.c.game_id == game_id)
    rows = await conn.execute(query.order_by(game_plays.c.played_at.desc()).limit(limit))
    return [dict(r.play) for r in rows]


async def save_token_rule(
    conn: AsyncConnection, *, rule_id: str, spec: dict[str, Any], now: datetime
) -> None:
    await conn.execute(insert(play_token_rules).values(rule_id=rule_id, spec=spec, created_at=now))
    await revisions.bump(conn, "token_rules_revision", now=now)  # purchases cache the rules by it
