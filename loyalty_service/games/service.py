"""GameService: games with their odds, plays, history, leaderboards (member token or a channel)."""

from __future__ import annotations

from google.protobuf import json_format
from loyalty.v1 import games_pb2, games_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import metrics
from loyalty_service.auth.principal import PrincipalKind, current_principal
from loyalty_service.challenges import api as challenges_api
from loyalty_service.common_messages import channel_of, member_of_caller
from loyalty_service.errors import NotFound
from loyalty_service.games import leaderboard, store
from loyalty_service.games import privacy as _privacy  # noqa: F401  (registers the export)
from loyalty_service.games.limits import check_cost, check_play, day_bounds, day_of, remaining_plays
from loyalty_service.games.messages import game_message
from loyalty_service.games.play import play_game
from loyalty_service.grpc_types import Context
from loyalty_service.ledger import api as ledger_api
from loyalty_service.members import api as members_api
from loyalty_service.passports import api as passports_api
from loyalty_service.runtime import Runtime
from loyalty_service.validation import Checks

__all__ = ["GameServicer"]

_PERIODS = {
    games_pb2.LEADERBOARD_PERIOD_WEEK: "week",
    games_pb2.LEADERBOARD_PERIOD_MONTH: "month",
    games_pb2.LEADERBOARD_PERIOD_ALL_TIME: "all",
}
_SCOPES = {
    games_pb2.LEADERBOARD_SCOPE_GAME: ("game", "game"),
    games_pb2.LEADERBOARD_SCOPE_PASSPORT: ("passport", "psp"),
    games_pb2.LEADERBOARD_SCOPE_CHALLENGE: ("challenge", "chl"),
}


class GameServicer(games_pb2_grpc.GameServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def ListGames(
        self, request: games_pb2.ListGamesRequest, context: Context
    ) -> games_pb2.ListGamesResponse:
        checks = Checks()
        member_id = member_of_caller(checks, request.member_id)
        checks.done()
        current_principal().require_member(member_id)
        now = self._rt.now()

        async def read(conn: AsyncConnection) -> games_pb2.ListGamesResponse:
            tokens = await ledger_api.play_token_balance(conn, member_id)
            points = await ledger_api.available_points(conn, member_id)
            response = games_pb2.ListGamesResponse(play_tokens=tokens)
            for game in await store.list_games(conn, open_at=now):
                message, rules = await game_message(conn, game, now=now)
                start, end = day_bounds(day_of(now, rules.zone), rules.zone)
                today, total = await store.count_plays(
                    conn, member_id=member_id, game_id=game.game_id, since=start, until=end
                )
                refusal = check_play(rules.limits, today, total, now, rules.window) or check_cost(
                    rules.cost, points_balance=points, play_tokens_balance=tokens
                )
                item = games_pb2.MemberGame(game=message, can_play=refusal is None, refusal=refusal or "")
                left = remaining_plays(rules.limits, today, total)
                if left is not None:
                    item.plays_left = left
                response.games.append(item)
            return response

        return await self._rt.read(read)

    async def PlayGame(
        self, request: games_pb2.PlayGameRequest, context: Context
    ) -> games_pb2.PlayGameResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        game_id = checks.entity_id("game_id", request.game_id, "game")
        member_id = member_of_caller(checks, request.member_id)
        checks.done()
        principal = current_principal()
        principal.require_member(member_id)

        async def work(conn: AsyncConnection) -> games_pb2.PlayGameResponse:
            return await play_game(
                conn,
                game_id=game_id,
                member_id=member_id,
                now=self._rt.now(),
                credential_id=principal.credential_id,
                channel=channel_of(principal).value,
            )

        response, replayed = await self._rt.write_outcome(
            method="PlayGame", request=request, key=key, response_type=games_pb2.PlayGameResponse, work=work
        )
        if not replayed:
            metrics.PLAYS.labels("win" if response.play.won else "lose").inc()
        return response

    async def ListPlays(
        self, request: games_pb2.ListPlaysRequest, context: Context
    ) -> games_pb2.ListPlaysResponse:
        checks = Checks()
        member_id = member_of_caller(checks, request.member_id)
        checks.entity_id("game_id", request.game_id, "game", required=False)
        limit = checks.count("page_size", request.page_size or 50, minimum=1, maximum=200)
        checks.done()
        current_principal().require_member(member_id)
        rows = await self._rt.read(
            lambda conn: store.list_plays(conn, member_id=member_id, game_id=request.game_id, limit=limit)
        )
        return games_pb2.ListPlaysResponse(plays=[json_format.ParseDict(r, games_pb2.Play()) for r in rows])

    async def GetLeaderboard(
        self, request: games_pb2.GetLeaderboardRequest, context: Context
    ) -> games_pb2.GetLeaderboardResponse:
        checks = Checks()
        scope = checks.enum("scope", request.scope, _SCOPES)
        period = checks.enum("period", request.period, _PERIODS)
        if scope is not None:
            checks.entity_id("subject_id", request.subject_id, scope[1])
        top = checks.count("top", request.top or 10, minimum=1, maximum=100)
        member_id = member_of_caller(checks, request.member_id) if request.member_id or _is_member() else ""
        checks.done()
        assert scope is not None
        assert period is not None
        if member_id:
            current_principal().require_member(member_id)
        board = f"{scope[0]}:{request.subject_id}"
        key = leaderboard.period_keys(self._rt.now())[period]

        async def read(conn: AsyncConnection) -> games_pb2.GetLeaderboardResponse:
            await _require_subject(conn, scope[0], request.subject_id)
            response = games_pb2.GetLeaderboardResponse(period_key=key)
            for row in await leaderboard.top(conn, board=board, period=key, limit=top):
                response.top.append(_row(row, member_id))
            if member_id:
                mine = await leaderboard.rank_of(conn, board=board, period=key, member_id=member_id)
                if mine is not None:
                    response.me.CopyFrom(_row(mine, member_id))
            return response

        return await self._rt.read(read)

    async def UpdateLeaderboardSettings(
        self, request: games_pb2.UpdateLeaderboardSettingsRequest, context: Context
    ) -> games_pb2.UpdateLeaderboardSettingsResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        member_id = member_of_caller(checks, request.member_id)
        name = checks.text(
            "settings.display_name", request.settings.display_name, required=False, max_length=40
        )
        if "@" in name or sum(ch.isdigit() for ch in name) >= 6:
            checks.fail("settings.display_name", "must not look like an e-mail address or a phone number")
        checks.done()
        current_principal().require_member(member_id)

        async def work(conn: AsyncConnection) -> games_pb2.UpdateLeaderboardSettingsResponse:
            # NOT_FOUND for an unknown member; an erased one stays off the boards (MEMBER_ERASED).
            await members_api.require_member(conn, members_api.MemberKey(member_id=member_id))
            saved = await leaderboard.save_settings(
                conn, member_id, display_name=name, opted_out=request.settings.opted_out
            )
            return games_pb2.UpdateLeaderboardSettingsResponse(
                settings=games_pb2.LeaderboardSettings(
                    display_name=saved.display_name, opted_out=saved.opted_out, pseudonym=saved.pseudonym
                )
            )

        return await self._rt.write(
            method="UpdateLeaderboardSettings",
            request=request,
            key=key,
            response_type=games_pb2.UpdateLeaderboardSettingsResponse,
            work=work,
        )


async def _require_subject(conn: AsyncConnection, kind: str, subject_id: str) -> None:
    """NOT_FOUND for a board of a game, passport or challenge that does not exist."""
    if kind == "game":
        found = await store.get_game(conn, subject_id) is not None
    elif kind == "passport":
        found = await passports_api.passport_exists(conn, subject_id)
    else:
        found = await challenges_api.challenge_exists(conn, subject_id)
    if not found:
        raise NotFound(kind, subject_id)


def _is_member() -> bool:
    return current_principal().kind is PrincipalKind.MEMBER


def _row(row: leaderboard.Row, member_id: str) -> games_pb2.LeaderboardRow:
    return games_pb2.LeaderboardRow(
        rank=row.rank, display_name=row.display_name, score=row.score, is_me=row.member_id == member_id
    )
