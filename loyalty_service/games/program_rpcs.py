"""Back-office game RPCs of ProgramService (CreateGame, UpdateGame, ListAllGames, CreatePlayTokenRule),
mixed into `ProgramServicer` like `DrawProgramRpcs`."""

from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.message import Message
from loyalty.v1 import games_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import audit
from loyalty_service.auth.principal import current_principal
from loyalty_service.errors import NotFound
from loyalty_service.games import store
from loyalty_service.games.messages import game_message
from loyalty_service.games.specs import read_spec, spec_json, window_bounds
from loyalty_service.grpc_types import Context
from loyalty_service.kernel.ids import new_id
from loyalty_service.runtime import Runtime
from loyalty_service.validation import Checks

__all__ = ["GameProgramRpcs"]

_CHANNEL_VALUES = {1: "pos", 2: "webshop", 3: "app"}


class GameProgramRpcs:
    _rt: Runtime

    async def _save(
        self,
        *,
        game_id: str,
        spec: games_pb2.GameSpec,
        created: bool,
        method: str,
        request: Message,
        key: str,
    ) -> games_pb2.Game:
        async def work(conn: AsyncConnection) -> games_pb2.CreateGameResponse:
            now = self._rt.now()
            before: games_pb2.GameSpec | None = None
            if not created:
                previous = await store.get_game(conn, game_id, lock=True)
                if previous is None:
                    raise NotFound("game", game_id)
                before = (await game_message(conn, previous, now=now))[0].spec
            opens_at, closes_at = window_bounds(spec)
            stock = {p.prize_id: (p.stock if p.HasField("stock") else None) for p in spec.prizes}
            row = await store.save_game(
                conn,
                game_id=game_id,
                spec=spec_json(spec),
                opens_at=opens_at,
                closes_at=closes_at,
                stock=stock,
                now=now,
                created=created,
            )
            message, _ = await game_message(conn, row, now=now)
            await audit.record(
                conn,
                principal=current_principal(),
                action="game.create" if created else "game.update",
                subject_type="game",
                subject_id=game_id,
                before=None if before is None else audit.message_dict(before),
                after=audit.message_dict(message.spec),
                now=now,
            )
            return games_pb2.CreateGameResponse(game=message)

        answer = await self._rt.write(
            method=method,
            request=request,
            key=key,
            response_type=games_pb2.CreateGameResponse,
            work=work,
        )
        return answer.game

    async def CreateGame(
        self, request: games_pb2.CreateGameRequest, context: Context
    ) -> games_pb2.CreateGameResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        spec = read_spec(checks, request.spec, present=request.HasField("spec"))
        checks.done()
        game = await self._save(
            game_id=new_id("game"), spec=spec, created=True, method="CreateGame", request=request, key=key
        )
        return games_pb2.CreateGameResponse(game=game)

    async def UpdateGame(
        self, request: games_pb2.UpdateGameRequest, context: Context
    ) -> games_pb2.UpdateGameResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        game_id = checks.entity_id("game_id", request.game_id, "game")
        spec = read_spec(checks, request.spec, present=request.HasField("spec"))
        checks.done()
        game = await self._save(
            game_id=game_id, spec=spec, created=False, method="UpdateGame", request=request, key=key
        )
        return games_pb2.UpdateGameResponse(game=game)

    async def ListAllGames(
        self, request: games_pb2.ListAllGamesRequest, context: Context
    ) -> games_pb2.ListAllGamesResponse:
        now = self._rt.now()

        async def read(conn: AsyncConnection) -> games_pb2.ListAllGamesResponse:
            rows = await store.list_games(conn)
            return games_pb2.ListAllGamesResponse(
                games=[(await game_message(conn, r, now=now))[0] for r in rows]
            )

        return await self._rt.read(read)

    async def CreatePlayTokenRule(
        self, request: games_pb2.CreatePlayTokenRuleRequest, context: Context
    ) -> games_pb2.CreatePlayTokenRuleResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        rule = request.rule
        checks.text("rule.name", rule.name)
        if len(rule.currency) != 3 or not rule.currency.isupper():
            checks.fail("rule.currency", "an ISO 4217 code such as EUR")
        checks.count("rule.tokens", rule.tokens, minimum=1, maximum=100)
        if rule.min_amount_minor < 0:
            checks.fail("rule.min_amount_minor", "must be >= 0")
        for index, channel in enumerate(rule.channels):
            if channel not in _CHANNEL_VALUES:
                checks.fail(f"rule.channels[{index}]", "pos, webshop or app")
        checks.timestamp("rule.valid_to", rule.valid_to, present=rule.HasField("valid_to"), required=False)
        checks.done()

        async def work(conn: AsyncConnection) -> games_pb2.CreatePlayTokenRuleResponse:
            saved = games_pb2.PlayTokenRule()
            saved.CopyFrom(rule)
            saved.rule_id = new_id("ptr")
            if not saved.HasField("valid_from"):
                saved.valid_from.FromDatetime(self._rt.now())
            stored = json_format.MessageToDict(saved, preserving_proto_field_name=True)
            stored["channels"] = [_CHANNEL_VALUES[c] for c in saved.channels]
            stored["valid_from"] = saved.valid_from.ToJsonString()
            if saved.HasField("valid_to"):
                stored["valid_to"] = saved.valid_to.ToJsonString()
            await store.save_token_rule(conn, rule_id=saved.rule_id, spec=stored, now=self._rt.now())
            await audit.record(
                conn,
                principal=current_principal(),
                action="play_token_rule.create",
                subject_type="play_token_rule",
                subject_id=saved.rule_id,
                before=None,
                after=audit.message_dict(saved),
                now=self._rt.now(),
            )
            return games_pb2.CreatePlayTokenRuleResponse(rule=saved)

        return await self._rt.write(
            method="CreatePlayTokenRule",
            request=request,
            key=key,
            response_type=games_pb2.CreatePlayTokenRuleResponse,
            work=work,
        )
