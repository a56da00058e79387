"""Games, passports and leaderboards for the channel clients: playing and progress (the mobile app),
games, play-token rules and passports (the back office). Answers are the generated messages."""

from __future__ import annotations

from loyalty.v1 import games_pb2, passports_pb2

from loyalty_clients._base import ClientBase
from loyalty_clients._transport import new_idempotency_key

__all__ = ["GameOffice", "MemberGames"]

GAMES = "/loyalty.v1.GameService/"
PASSPORTS = "/loyalty.v1.PassportService/"
PROGRAM = "/loyalty.v1.ProgramService/"


class MemberGames(ClientBase):
    async def games(self) -> games_pb2.ListGamesResponse:
        """Open games with their odds (parts per million) and what the member may still play."""
        return await self._transport.call(
            GAMES + "ListGames", games_pb2.ListGamesRequest(), games_pb2.ListGamesResponse
        )

    async def play(self, *, game_id: str, idempotency_key: str | None = None) -> games_pb2.PlayGameResponse:
        """One play; retrying with the same key returns the same outcome.

        >>> outcome = (await app.play(game_id="game_01J...")).play
        """
        request = games_pb2.PlayGameRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), game_id=game_id
        )
        return await self._transport.call(GAMES + "PlayGame", request, games_pb2.PlayGameResponse)

    async def plays(self, *, game_id: str = "", page_size: int = 50) -> tuple[games_pb2.Play, ...]:
        request = games_pb2.ListPlaysRequest(game_id=game_id, page_size=page_size)
        answer = await self._transport.call(GAMES + "ListPlays", request, games_pb2.ListPlaysResponse)
        return tuple(answer.plays)

    async def passports(self) -> tuple[passports_pb2.PassportProgress, ...]:
        answer = await self._transport.call(
            PASSPORTS + "ListPassports",
            passports_pb2.ListPassportsRequest(),
            passports_pb2.ListPassportsResponse,
        )
        return tuple(answer.passports)

    async def passport(self, *, passport_id: str) -> passports_pb2.PassportProgress:
        request = passports_pb2.GetPassportRequest(passport_id=passport_id)
        answer = await self._transport.call(
            PASSPORTS + "GetPassport", request, passports_pb2.GetPassportResponse
        )
        return answer.progress

    async def leaderboard(
        self,
        *,
        scope: games_pb2.LeaderboardScope.ValueType,
        subject_id: str,
        period: games_pb2.LeaderboardPeriod.ValueType,
        top: int = 10,
    ) -> games_pb2.GetLeaderboardResponse:
        request = games_pb2.GetLeaderboardRequest(scope=scope, subject_id=subject_id, period=period, top=top)
        return await self._transport.call(GAMES + "GetLeaderboard", request, games_pb2.GetLeaderboardResponse)

    async def leaderboard_settings(
        self, *, display_name: str = "", opted_out: bool = False
    ) -> games_pb2.LeaderboardSettings:
        request = games_pb2.UpdateLeaderboardSettingsRequest(
            idempotency_key=new_idempotency_key(),
            settings=games_pb2.LeaderboardSettings(display_name=display_name, opted_out=opted_out),
        )
        answer = await self._transport.call(
            GAMES + "UpdateLeaderboardSettings", request, games_pb2.UpdateLeaderboardSettingsResponse
        )
        return answer.settings


class GameOffice(ClientBase):
    async def create_game(
        self, *, spec: games_pb2.GameSpec, idempotency_key: str | None = None
    ) -> games_pb2.Game:
        request = games_pb2.CreateGameRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), spec=spec
        )
        return (
            await self._transport.call(PROGRAM + "CreateGame", request, games_pb2.CreateGameResponse)
        ).game

    async def update_game(
        self, *, game_id: str, spec: games_pb2.GameSpec, idempotency_key: str | None = None
    ) -> games_pb2.Game:
        request = games_pb2.UpdateGameRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), game_id=game_id, spec=spec
        )
        return (
            await self._transport.call(PROGRAM + "UpdateGame", request, games_pb2.UpdateGameResponse)
        ).game

    async def list_all_games(self) -> tuple[games_pb2.Game, ...]:
        answer = await self._transport.call(
            PROGRAM + "ListAllGames", games_pb2.ListAllGamesRequest(), games_pb2.ListAllGamesResponse
        )
        return tuple(answer.games)

    async def create_play_token_rule(
        self, *, rule: games_pb2.PlayTokenRule, idempotency_key: str | None = None
    ) -> games_pb2.PlayTokenRule:
        request = games_pb2.CreatePlayTokenRuleRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), rule=rule
        )
        answer = await self._transport.call(
            PROGRAM + "CreatePlayTokenRule", request, games_pb2.CreatePlayTokenRuleResponse
        )
        return answer.rule

    async def create_passport(
        self, *, spec: passports_pb2.PassportSpec, idempotency_key: str | None = None
    ) -> passports_pb2.Passport:
        request = passports_pb2.CreatePassportRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), spec=spec
        )
        answer = await self._transport.call(
            PROGRAM + "CreatePassport", request, passports_pb2.CreatePassportResponse
        )
        return answer.passport

    async def update_passport(
        self, *, passport_id: str, spec: passports_pb2.PassportSpec, idempotency_key: str | None = None
    ) -> passports_pb2.Passport:
        request = passports_pb2.UpdatePassportRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), passport_id=passport_id, spec=spec
        )
        answer = await self._transport.call(
            PROGRAM + "UpdatePassport", request, passports_pb2.UpdatePassportResponse
        )
        return answer.passport

    async def list_all_passports(self) -> tuple[passports_pb2.Passport, ...]:
        answer = await self._transport.call(
            PROGRAM + "ListAllPassports",
            passports_pb2.ListAllPassportsRequest(),
            passports_pb2.ListAllPassportsResponse,
        )
        return tuple(answer.passports)
