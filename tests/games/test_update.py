"""UpdateGame and prize stock: a prize is its prize_id; a kept prize keeps what it has given.

A prize's `stock` is its total; wins count against it across updates. A kept prize has the new total
minus its wins so far left (never below 0), an added one starts full, a removed one can no longer be won,
and an id added back later still counts its earlier wins (README "Games, passports and leaderboards").
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from loyalty.v1 import games_pb2, members_pb2
from sqlalchemy import text

from loyalty_service.proto_time import to_timestamp
from tests.games.test_service import _games
from tests.support.api import Running, new_key

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _prize(prize_id: str, stock: int | None, name: str = "") -> games_pb2.GamePrize:
    prize = games_pb2.GamePrize(
        prize_id=prize_id, name=name or prize_id, weight=1, grant=games_pb2.PrizeGrant(points=1)
    )
    if stock is not None:
        prize.stock = stock
    return prize


def _spec(running: Running, prizes: list[games_pb2.GamePrize]) -> games_pb2.GameSpec:
    assert running.clock is not None
    return games_pb2.GameSpec(
        name="Instant win",
        opens_at=to_timestamp(running.clock.now() - timedelta(hours=1)),
        cost_kind=games_pb2.PLAY_COST_KIND_FREE,
        prizes=prizes,
        no_prize_weight=0,  # every play wins while a prize has stock
    )


def _remaining(game: games_pb2.Game) -> dict[str, int | None]:
    return {o.prize_id: (o.stock_remaining if o.HasField("stock_remaining") else None) for o in game.odds}


async def _update(running: Running, game_id: str, prizes: list[games_pb2.GamePrize]) -> games_pb2.Game:
    back = await running.client("backoffice")
    answer = await back.program.UpdateGame(
        games_pb2.UpdateGameRequest(idempotency_key=new_key(), game_id=game_id, spec=_spec(running, prizes))
    )
    game: games_pb2.Game = answer.game
    return game


async def _player(running: Running) -> Any:
    member_id = (await running.enroll()).member_id
    return _games(running.channel, (await running.member_client(member_id)).secret)


async def _play(games: Any, game_id: str) -> str:
    answer = await games.PlayGame(games_pb2.PlayGameRequest(idempotency_key=new_key(), game_id=game_id))
    return str(answer.play.prize_id)


async def test_an_update_keeps_what_kept_prizes_have_given(isolated_service: Running) -> None:
    """Goal: after 2 of 3 cars are won, renaming the car keeps 1 left; raising its total to 10 leaves 8;
    lowering it to 1 leaves 0 (never negative) and the car is no longer drawn; an added mug starts full;
    a removed car goes from the odds, and adding the id back counts its earlier wins."""
    running = isolated_service
    back = await running.client("backoffice")
    created = await back.program.CreateGame(
        games_pb2.CreateGameRequest(idempotency_key=new_key(), spec=_spec(running, [_prize("car", 3)]))
    )
    game_id = created.game.game_id
    games = await _player(running)
    assert [await _play(games, game_id) for _ in range(2)] == ["car", "car"]

    renamed = await _update(running, game_id, [_prize("car", 3, "A red car"), _prize("mug", 5)])
    assert _remaining(renamed) == {"car": 1, "mug": 5}
    assert renamed.odds[0].name == "A red car"
    assert _remaining(await _update(running, game_id, [_prize("car", 10), _prize("mug", 5)])) == {
        "car": 8,
        "mug": 5,
    }
    lowered = await _update(running, game_id, [_prize("car", 1), _prize("mug", 5)])
    assert _remaining(lowered) == {"car": 0, "mug": 5}
    assert [(o.prize_id, o.available) for o in lowered.odds] == [("car", False), ("mug", True)]
    outcomes: list[str] = []
    while outcomes.count("mug") < 3 and len(outcomes) < 60:  # the car's weight went to "no prize": 50%
        outcomes.append(await _play(games, game_id))
    assert outcomes.count("mug") == 3
    assert "car" not in outcomes

    without_car = await _update(running, game_id, [_prize("mug", 5), _prize("cap", None)])
    assert _remaining(without_car) == {"mug": 2, "cap": None}
    back_again = await _update(running, game_id, [_prize("car", 4), _prize("mug", 5)])
    assert _remaining(back_again) == {"car": 2, "mug": 2}
    async with running.engine.connect() as conn:
        rows = await conn.execute(
            text("select prize_id, position from game_prizes where game_id = :g order by position"),
            {"g": game_id},
        )
        assert [tuple(r) for r in rows] == [("car", 0), ("mug", 1)]
    # The member's plays are in their data export, with the draw and the table each was drawn from.
    player_id = (await games.ListPlays(games_pb2.ListPlaysRequest())).plays[0].member_id
    exported = await back.members.ExportMemberData(members_pb2.ExportMemberDataRequest(member_id=player_id))
    mine = json.loads(exported.document)["features"]["games"]
    assert [p["prize_id"] for p in mine["plays"]][:2] == ["car", "car"]
    assert len(mine["plays"]) == 2 + len(outcomes)
    assert all(p["game_id"] == game_id and p["draw"] < p["total_weight"] for p in mine["plays"])
    assert mine["play_tokens"] == {"balance": 0, "entries": []}


async def test_an_update_during_plays_never_gives_more_than_the_total(isolated_service: Running) -> None:
    """Goal: 40 plays by 10 members race an update that limits an unlimited prize to 25 in total: the
    update waits for plays in flight (they hold the game row FOR KEY SHARE), so the prize is won exactly
    max(25, wins before the update) times and its stock ends at 0."""
    running = isolated_service
    back = await running.client("backoffice")
    created = await back.program.CreateGame(
        games_pb2.CreateGameRequest(idempotency_key=new_key(), spec=_spec(running, [_prize("car", None)]))
    )
    game_id = created.game.game_id
    players = [await _player(running) for _ in range(10)]
    for games in players[:5]:
        assert await _play(games, game_id) == "car"

    async def plays(games: Any) -> list[str]:
        return [await _play(games, game_id) for _ in range(3 if games in players[:5] else 4)]

    update = asyncio.ensure_future(_update(running, game_id, [_prize("car", 25)]))
    results = await asyncio.gather(*(plays(g) for g in players))
    left = _remaining(await update)["car"]
    assert left is not None
    wins = sum(r == "car" for batch in results for r in batch) + 5
    assert len([r for batch in results for r in batch]) == 35
    if left > 0:  # fewer than 25 won before the update: exactly 25 in all
        assert wins == 25
    async with running.engine.connect() as conn:
        stock = await conn.execute(
            text("select stock_remaining from game_prizes where game_id = :g"), {"g": game_id}
        )
        counted = await conn.execute(
            text("select sum(won) from game_prize_days where game_id = :g and prize_id = 'car'"),
            {"g": game_id},
        )
        assert stock.scalar_one() == 0
        assert counted.scalar_one() == wins
