"""Games, passports and leaderboards for the channel clients, as mixins by who may call them:

- `MemberGames` (mobile app, member token): the token's own games, plays, passports, leaderboards, settings.
- `GamesForMembers` (web shop, app back end): play and list games for a member named by id.
- `MemberPlays`, `PassportsForMembers` (web shop, app back end, back office): a member's plays and passports.
- `Leaderboards` (every credential): a leaderboard's top rows, and a named member's own row.
- `GameOffice` (back office): games, play-token rules and passports.

Answers are the frozen dataclasses of `_games_models.py`; a refused play raises `FailedPrecondition` whose
`reason` says why (e.g. "DAILY_LIMIT_REACHED").
"""

from __future__ import annotations

from loyalty.v1 import games_pb2, passports_pb2

from loyalty_clients import _convert_games as convert
from loyalty_clients._base import ClientBase
from loyalty_clients._games_models import (
    Game,
    GameList,
    GameSpec,
    Leaderboard,
    LeaderboardPeriod,
    LeaderboardScope,
    LeaderboardSettings,
    Passport,
    PassportProgress,
    PassportSpec,
    Play,
    PlayResult,
    PlayTokenRule,
)
from loyalty_clients._transport import Transport, new_idempotency_key

__all__ = [
    "GameOffice",
    "GamesForMembers",
    "Leaderboards",
    "MemberGames",
    "MemberPlays",
    "PassportsForMembers",
]

GAMES = "/loyalty.v1.GameService/"
PASSPORTS = "/loyalty.v1.PassportService/"
PROGRAM = "/loyalty.v1.ProgramService/"


# --- shared implementations ("" as member_id: the member token's own member) -------------------------


async def list_games(t: Transport, member_id: str) -> GameList:
    request = games_pb2.ListGamesRequest(member_id=member_id)
    return convert.game_list(await t.call(GAMES + "ListGames", request, games_pb2.ListGamesResponse))


async def play_game(t: Transport, member_id: str, game_id: str, key: str | None) -> PlayResult:
    request = games_pb2.PlayGameRequest(
        idempotency_key=key or new_idempotency_key(), game_id=game_id, member_id=member_id
    )
    return convert.play_result(await t.call(GAMES + "PlayGame", request, games_pb2.PlayGameResponse))


async def list_plays(t: Transport, member_id: str, game_id: str, page_size: int) -> tuple[Play, ...]:
    request = games_pb2.ListPlaysRequest(member_id=member_id, game_id=game_id, page_size=page_size)
    answer = await t.call(GAMES + "ListPlays", request, games_pb2.ListPlaysResponse)
    return tuple(convert.play(p) for p in answer.plays)


async def list_passports(t: Transport, member_id: str) -> tuple[PassportProgress, ...]:
    request = passports_pb2.ListPassportsRequest(member_id=member_id)
    answer = await t.call(PASSPORTS + "ListPassports", request, passports_pb2.ListPassportsResponse)
    return tuple(convert.passport_progress(p) for p in answer.passports)


async def get_passport(t: Transport, member_id: str, passport_id: str) -> PassportProgress:
    request = passports_pb2.GetPassportRequest(member_id=member_id, passport_id=passport_id)
    answer = await t.call(PASSPORTS + "GetPassport", request, passports_pb2.GetPassportResponse)
    return convert.passport_progress(answer.progress)


async def get_leaderboard(
    t: Transport,
    *,
    scope: LeaderboardScope,
    subject_id: str,
    period: LeaderboardPeriod,
    top: int,
    member_id: str,
) -> Leaderboard:
    request = games_pb2.GetLeaderboardRequest(
        scope=convert.SCOPE_TO_PROTO[scope],
        subject_id=subject_id,
        period=convert.PERIOD_TO_PROTO[period],
        top=top,
        member_id=member_id,
    )
    return convert.leaderboard(
        await t.call(GAMES + "GetLeaderboard", request, games_pb2.GetLeaderboardResponse)
    )


async def update_leaderboard_settings(
    t: Transport, member_id: str, display_name: str, opted_out: bool, key: str | None
) -> LeaderboardSettings:
    request = games_pb2.UpdateLeaderboardSettingsRequest(
        idempotency_key=key or new_idempotency_key(),
        member_id=member_id,
        settings=games_pb2.LeaderboardSettings(display_name=display_name, opted_out=opted_out),
    )
    answer = await t.call(
        GAMES + "UpdateLeaderboardSettings", request, games_pb2.UpdateLeaderboardSettingsResponse
    )
    return convert.leaderboard_settings(answer.settings)


# --- mixins -------------------------------------------------------------------------------------------


class MemberGames(ClientBase):
    async def games(self) -> GameList:
        """Open games with their odds (parts per million), what the member may still play, their play tokens.

        >>> offers = (await app.games()).games
        """
        return await list_games(self._transport, "")

    async def play(self, *, game_id: str, idempotency_key: str | None = None) -> PlayResult:
        """One play; retrying with the same key returns the same outcome.

        >>> won = (await app.play(game_id="gam_01J...")).play.won
        """
        return await play_game(self._transport, "", game_id, idempotency_key)

    async def plays(self, *, game_id: str = "", page_size: int = 50) -> tuple[Play, ...]:
        """The member's plays, newest first (of one game, or of all).

        >>> history = await app.plays(game_id="gam_01J...")
        """
        return await list_plays(self._transport, "", game_id, page_size)

    async def passports(self) -> tuple[PassportProgress, ...]:
        """Open passports with the member's stamps in the current cycle.

        >>> for progress in await app.passports(): print(progress.passport.spec.name, progress.completions)
        """
        return await list_passports(self._transport, "")

    async def passport(self, *, passport_id: str) -> PassportProgress:
        """One passport with the member's stamps.

        >>> progress = await app.passport(passport_id="pas_01J...")
        """
        return await get_passport(self._transport, "", passport_id)

    async def leaderboard(
        self,
        *,
        scope: LeaderboardScope,
        subject_id: str,
        period: LeaderboardPeriod,
        top: int = 10,
    ) -> Leaderboard:
        """The top rows of a game's, passport's or challenge's leaderboard, and the member's own row (`me`).

        >>> board = await app.leaderboard(scope=LeaderboardScope.GAME, subject_id="gam_01J...",
        ...                               period=LeaderboardPeriod.WEEK)
        """
        return await get_leaderboard(
            self._transport, scope=scope, subject_id=subject_id, period=period, top=top, member_id=""
        )

    async def leaderboard_settings(
        self, *, display_name: str = "", opted_out: bool = False, idempotency_key: str | None = None
    ) -> LeaderboardSettings:
        """Set the name shown on leaderboards ("" shows a pseudonym), or leave them.

        >>> settings = await app.leaderboard_settings(display_name="Ada L.")
        """
        return await update_leaderboard_settings(
            self._transport, "", display_name, opted_out, idempotency_key
        )


class GamesForMembers(ClientBase):
    async def games(self, *, member_id: str) -> GameList:
        """The member's open games, odds, what they may still play, and their play tokens.

        >>> offers = (await shop.games(member_id="mem_01J...")).games
        """
        return await list_games(self._transport, member_id)

    async def play(self, *, member_id: str, game_id: str, idempotency_key: str | None = None) -> PlayResult:
        """One play for the member; retrying with the same key returns the same outcome.

        >>> result = await shop.play(member_id="mem_01J...", game_id="gam_01J...")
        """
        return await play_game(self._transport, member_id, game_id, idempotency_key)

    async def leaderboard_settings(
        self,
        *,
        member_id: str,
        display_name: str = "",
        opted_out: bool = False,
        idempotency_key: str | None = None,
    ) -> LeaderboardSettings:
        """Set the member's leaderboard name ("" shows a pseudonym), or take them off the leaderboards.

        >>> await shop.leaderboard_settings(member_id="mem_01J...", opted_out=True)
        """
        return await update_leaderboard_settings(
            self._transport, member_id, display_name, opted_out, idempotency_key
        )


class MemberPlays(ClientBase):
    async def plays(self, *, member_id: str, game_id: str = "", page_size: int = 50) -> tuple[Play, ...]:
        """A member's plays, newest first (of one game, or of all).

        >>> history = await office.plays(member_id="mem_01J...")
        """
        return await list_plays(self._transport, member_id, game_id, page_size)


class PassportsForMembers(ClientBase):
    async def passports(self, *, member_id: str) -> tuple[PassportProgress, ...]:
        """Open passports with the member's stamps in the current cycle.

        >>> progress = await office.passports(member_id="mem_01J...")
        """
        return await list_passports(self._transport, member_id)

    async def passport(self, *, member_id: str, passport_id: str) -> PassportProgress:
        """One passport with the member's stamps.

        >>> progress = await office.passport(member_id="mem_01J...", passport_id="pas_01J...")
        """
        return await get_passport(self._transport, member_id, passport_id)


class Leaderboards(ClientBase):
    async def leaderboard(
        self,
        *,
        scope: LeaderboardScope,
        subject_id: str,
        period: LeaderboardPeriod,
        top: int = 10,
        member_id: str = "",
    ) -> Leaderboard:
        """The top rows of a game's, passport's or challenge's leaderboard; with `member_id`, theirs too.

        >>> board = await till.leaderboard(scope=LeaderboardScope.GAME, subject_id="gam_01J...",
        ...                                period=LeaderboardPeriod.ALL_TIME, top=3)
        """
        return await get_leaderboard(
            self._transport, scope=scope, subject_id=subject_id, period=period, top=top, member_id=member_id
        )


class GameOffice(ClientBase):
    async def create_game(self, *, spec: GameSpec, idempotency_key: str | None = None) -> Game:
        """Create an instant-win game from its prize table.

        >>> game = await office.create_game(spec=GameSpec(name="Wheel", opens_at=now,
        ...     cost_kind=PlayCostKind.FREE, prizes=(GamePrize(prize_id="p5", name="5 points", weight=1,
        ...                                                    grant=PrizeGrant(points=5)),)))
        """
        request = games_pb2.CreateGameRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), spec=convert.game_spec_message(spec)
        )
        answer = await self._transport.call(PROGRAM + "CreateGame", request, games_pb2.CreateGameResponse)
        return convert.game(answer.game)

    async def update_game(self, *, game_id: str, spec: GameSpec, idempotency_key: str | None = None) -> Game:
        """Replace a game's spec.

        >>> game = await office.update_game(game_id=game.game_id, spec=replace(game.spec, name="Big wheel"))
        """
        request = games_pb2.UpdateGameRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            game_id=game_id,
            spec=convert.game_spec_message(spec),
        )
        answer = await self._transport.call(PROGRAM + "UpdateGame", request, games_pb2.UpdateGameResponse)
        return convert.game(answer.game)

    async def list_all_games(self) -> tuple[Game, ...]:
        """Every game, closed and future ones included.

        >>> games = await office.list_all_games()
        """
        answer = await self._transport.call(
            PROGRAM + "ListAllGames", games_pb2.ListAllGamesRequest(), games_pb2.ListAllGamesResponse
        )
        return tuple(convert.game(g) for g in answer.games)

    async def create_play_token_rule(
        self, *, rule: PlayTokenRule, idempotency_key: str | None = None
    ) -> PlayTokenRule:
        """Let purchases earn play tokens.

        >>> rule = await office.create_play_token_rule(rule=PlayTokenRule(name="1 per 20 EUR", tokens=1,
        ...     currency="EUR", min_amount_minor=2000))
        """
        request = games_pb2.CreatePlayTokenRuleRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            rule=convert.play_token_rule_message(rule),
        )
        answer = await self._transport.call(
            PROGRAM + "CreatePlayTokenRule", request, games_pb2.CreatePlayTokenRuleResponse
        )
        return convert.play_token_rule(answer.rule)

    async def create_passport(self, *, spec: PassportSpec, idempotency_key: str | None = None) -> Passport:
        """Create a passport: its stamps, their conditions and what completing it grants.

        >>> passport = await office.create_passport(spec=PassportSpec(name="Tour", opens_at=now,
        ...     stamps=stamps, completion=PassportCompletion(points=100)))
        """
        request = passports_pb2.CreatePassportRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), spec=convert.passport_spec_message(spec)
        )
        answer = await self._transport.call(
            PROGRAM + "CreatePassport", request, passports_pb2.CreatePassportResponse
        )
        return convert.passport(answer.passport)

    async def update_passport(
        self, *, passport_id: str, spec: PassportSpec, idempotency_key: str | None = None
    ) -> Passport:
        """Replace a passport's spec.

        >>> passport = await office.update_passport(passport_id=passport.passport_id, spec=spec)
        """
        request = passports_pb2.UpdatePassportRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            passport_id=passport_id,
            spec=convert.passport_spec_message(spec),
        )
        answer = await self._transport.call(
            PROGRAM + "UpdatePassport", request, passports_pb2.UpdatePassportResponse
        )
        return convert.passport(answer.passport)

    async def list_all_passports(self) -> tuple[Passport, ...]:
        """Every passport, closed and future ones included.

        >>> passports = await office.list_all_passports()
        """
        answer = await self._transport.call(
            PROGRAM + "ListAllPassports",
            passports_pb2.ListAllPassportsRequest(),
            passports_pb2.ListAllPassportsResponse,
        )
        return tuple(convert.passport(p) for p in answer.passports)
