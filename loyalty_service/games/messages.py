"""Game messages: a stored game with its current odds."""

from __future__ import annotations

from datetime import datetime

from loyalty.v1 import games_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.games import store
from loyalty_service.games.limits import day_of, publish_odds
from loyalty_service.games.prizes import NO_PRIZE, effective_table, odds
from loyalty_service.games.specs import GameRules, rules_of
from loyalty_service.games.store import GameRow
from loyalty_service.proto_time import to_timestamp

__all__ = ["game_message"]


async def game_message(
    conn: AsyncConnection, game: GameRow, *, now: datetime
) -> tuple[games_pb2.Game, GameRules]:
    """The game with the odds of its next play (from weights, stock and today's caps)."""
    rules = rules_of(game.spec)
    stock = await store.prize_stock(conn, game.game_id)
    prizes = rules.prizes(stock, await store.won_on(conn, game.game_id, day_of(now, rules.zone)))
    published = publish_odds(odds(effective_table(prizes, rules.spec.no_prize_weight)))
    message = games_pb2.Game(
        game_id=game.game_id,
        spec=rules.spec,
        created_at=to_timestamp(game.created_at),
        updated_at=to_timestamp(game.updated_at),
    )
    names = {p.prize_id: p.name for p in rules.spec.prizes}
    by_id = {o.prize_id: ppm for o, ppm in published.items() if o is not NO_PRIZE}
    for prize in prizes:
        line = games_pb2.PrizeOdds(
            prize_id=prize.prize_id,
            name=names[prize.prize_id],
            parts_per_million=by_id.get(prize.prize_id, 0),
            available=prize.prize_id in by_id,
        )
        if prize.stock_remaining is not None:
            line.stock_remaining = prize.stock_remaining
        message.odds.append(line)
    message.no_prize_parts_per_million = published.get(NO_PRIZE, 0)
    return message, rules
