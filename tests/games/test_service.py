"""Games and passports through the gRPC API: a retried play, the passport story, a daily cap under load."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import grpc
import pytest
from loyalty.v1 import (
    common_pb2,
    games_pb2,
    games_pb2_grpc,
    ledger_pb2,
    live_pb2,
    live_pb2_grpc,
    passports_pb2,
    passports_pb2_grpc,
    program_pb2,
)
from sqlalchemy import text

from loyalty_service.db.engine import create_engine
from loyalty_service.ledger.check import check_ledger
from loyalty_service.proto_time import to_timestamp
from tests.support.api import Client, Running, _Authed, new_key
from tests.support.processes import ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _games(channel: grpc.aio.Channel, secret: str | None) -> Any:
    return _Authed(games_pb2_grpc.GameServiceStub(channel), (("authorization", f"Bearer {secret}"),))


def _game_spec(
    running_now: Any, *, cap: int | None = None, stamp: tuple[str, str] | None = None
) -> games_pb2.GameSpec:
    prize = games_pb2.GamePrize(
        prize_id="p10", name="10 points", weight=1, grant=games_pb2.PrizeGrant(points=10)
    )
    if cap is not None:
        prize.daily_cap = cap
    prizes = [prize]
    if stamp is not None:
        prizes = [
            games_pb2.GamePrize(
                prize_id="stamp",
                name="A stamp",
                weight=1,
                grant=games_pb2.PrizeGrant(stamp=games_pb2.StampRef(passport_id=stamp[0], stamp_id=stamp[1])),
            )
        ]
    return games_pb2.GameSpec(
        name="Scratch card",
        opens_at=to_timestamp(running_now - timedelta(hours=1)),
        cost_kind=games_pb2.PLAY_COST_KIND_FREE,
        prizes=prizes,
        no_prize_weight=0 if stamp else 1,
    )


async def test_play_retry_returns_the_same_outcome(isolated_service: Running) -> None:
    """Goal: PlayGame retried with its key answers the first outcome and plays once; odds are published."""
    assert isolated_service.clock is not None
    back = await isolated_service.client("backoffice")
    game = (
        await back.program.CreateGame(
            games_pb2.CreateGameRequest(
                idempotency_key=new_key(), spec=_game_spec(isolated_service.clock.now())
            )
        )
    ).game
    assert [o.parts_per_million for o in game.odds] == [500_000]
    member = await isolated_service.enroll()
    token = (await isolated_service.member_client(member.member_id)).secret
    games = _games(isolated_service.channel, token)
    key = new_key()
    first = await games.PlayGame(games_pb2.PlayGameRequest(idempotency_key=key, game_id=game.game_id))
    again = await games.PlayGame(games_pb2.PlayGameRequest(idempotency_key=key, game_id=game.game_id))
    assert again.play == first.play
    assert 0 <= first.play.draw < first.play.total_weight == 2
    plays = await games.ListPlays(games_pb2.ListPlaysRequest())
    assert [p.play_id for p in plays.plays] == [first.play.play_id]
    listed = await games.ListGames(games_pb2.ListGamesRequest())
    assert listed.games[0].can_play


async def test_a_play_is_recorded_in_the_callers_channel(isolated_service: Running) -> None:
    """Goal: the web shop playing for a member wins points in the web shop channel, the app in the app."""
    assert isolated_service.clock is not None
    back = await isolated_service.client("backoffice")
    spec = _game_spec(isolated_service.clock.now())
    spec.no_prize_weight = 0
    game = (
        await back.program.CreateGame(games_pb2.CreateGameRequest(idempotency_key=new_key(), spec=spec))
    ).game
    member = await isolated_service.enroll()
    web = _games(isolated_service.channel, (await isolated_service.client("webshop")).secret)
    app = _games(isolated_service.channel, (await isolated_service.member_client(member.member_id)).secret)
    for games, member_id in ((web, member.member_id), (app, "")):
        await games.PlayGame(
            games_pb2.PlayGameRequest(idempotency_key=new_key(), game_id=game.game_id, member_id=member_id)
        )
    async with isolated_service.engine.connect() as conn:
        channels = (
            await conn.execute(
                text(
                    "select channel from ledger_entries where member_id = :m and entry_type = 'game_win' "
                    "order by entry_seq"
                ),
                {"m": member.member_id},
            )
        ).scalars()
        assert list(channels) == ["webshop", "app"]


async def _wait_for(predicate: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


class _MemberStream:
    """A member's WatchMember stream, opened with their token and read by a task as events arrive."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self.events: list[Any] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, running: Running, member_id: str, token: str | None) -> _MemberStream:
        live = live_pb2_grpc.LiveServiceStub(running.channel)
        call = live.WatchMember(
            live_pb2.WatchMemberRequest(member_id=member_id),
            metadata=(("authorization", f"Bearer {token}"),),
            timeout=180,
        )
        first: Any = await asyncio.wait_for(call.read(), 30)
        assert first.WhichOneof("item") == "snapshot", "the stream is open before anything happens"
        return cls(call)

    async def _read(self) -> None:
        while True:
            message: Any = await self._call.read()
            if message is grpc.aio.EOF:
                return
            if message.WhichOneof("item") == "event":
                self.events.append(message.event)

    async def until(self, sequence: int, *, seconds: float) -> list[Any]:
        """The events received once one with `sequence` has arrived (within `seconds`); ends the stream."""
        try:
            for _ in range(int(seconds / 0.1)):
                if self.events and self.events[-1].sequence >= sequence:
                    return list(self.events)
                assert not self._reader.done(), "the stream ended early"
                await asyncio.sleep(0.1)
            raise AssertionError(f"event {sequence} not received in {seconds}s: {len(self.events)} received")
        finally:
            self._call.cancel()
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await self._reader


async def test_passport_story(isolated_service: Running) -> None:
    """Goal: a store purchase, an online purchase and a game win each stamp a box; the passport completes
    once, grants its points once, and the app sees every step live on the member's WatchMember stream."""
    running = isolated_service
    assert running.clock is not None
    now = running.clock.now()
    back = await running.client("backoffice")
    store_id = await running.store()
    spec = passports_pb2.PassportSpec(
        name="Summer passport",
        opens_at=to_timestamp(now - timedelta(hours=1)),
        stamps=[
            passports_pb2.StampDefinition(
                stamp_id="store",
                name="Shop in store",
                purchase=passports_pb2.PurchaseCondition(
                    channels=[common_pb2.CHANNEL_POS], store_ids=[store_id]
                ),
            ),
            passports_pb2.StampDefinition(
                stamp_id="online",
                name="Shop online",
                purchase=passports_pb2.PurchaseCondition(
                    channels=[common_pb2.CHANNEL_WEBSHOP], min_amount_minor=2000, currency="EUR"
                ),
            ),
            passports_pb2.StampDefinition(
                stamp_id="win", name="Win a game", game=passports_pb2.GameCondition(won_only=True)
            ),
        ],
        completion=passports_pb2.PassportCompletion(points=500),
    )
    passport = (
        await back.program.CreatePassport(
            passports_pb2.CreatePassportRequest(idempotency_key=new_key(), spec=spec)
        )
    ).passport
    game = (
        await back.program.CreateGame(
            games_pb2.CreateGameRequest(idempotency_key=new_key(), spec=_game_spec(now))
        )
    ).game
    await back.program.CreateEarningRule(
        program_pb2.CreateEarningRuleRequest(
            idempotency_key=new_key(),
            spec=program_pb2.EarningRuleSpec(
                name="base", kind=program_pb2.EARNING_RULE_KIND_BASE_RATE, currency="EUR", points_per_unit="1"
            ),
            effective_from=to_timestamp(now - timedelta(days=1)),
        )
    )
    await back.program.CreatePlayTokenRule(
        games_pb2.CreatePlayTokenRuleRequest(
            idempotency_key=new_key(),
            rule=games_pb2.PlayTokenRule(
                name="1 token per web order over 20 EUR",
                channels=[common_pb2.CHANNEL_WEBSHOP],
                currency="EUR",
                min_amount_minor=2000,
                tokens=1,
                valid_from=to_timestamp(now - timedelta(days=1)),
            ),
        )
    )
    member = await running.enroll()
    member_client = await running.member_client(member.member_id)
    stream = await _MemberStream.open(running, member.member_id, member_client.secret)
    pos = await running.client("pos", store_id=store_id)
    web = await running.client("webshop")
    for client, channel, shop in (
        (pos, common_pb2.CHANNEL_POS, store_id),
        (web, common_pb2.CHANNEL_WEBSHOP, "web"),
    ):
        await client.ledger.RecordPurchase(
            ledger_pb2.RecordPurchaseRequest(
                idempotency_key=new_key(),
                member=common_pb2.MemberRef(member_id=member.member_id),
                channel=channel,
                store_id=shop,
                order_id=new_key(),
                amount=common_pb2.Money(amount_minor=2500, currency="EUR"),
                occurred_at=to_timestamp(now),
            )
        )
    games = _games(running.channel, member_client.secret)
    assert (await games.ListGames(games_pb2.ListGamesRequest())).play_tokens == 1  # the web order only
    for _ in range(20):  # 50% per play: won within 20 plays but for 1 in a million
        played = await games.PlayGame(
            games_pb2.PlayGameRequest(idempotency_key=new_key(), game_id=game.game_id)
        )
        if played.play.won:
            break
    passports = _Authed(
        passports_pb2_grpc.PassportServiceStub(running.channel),
        (("authorization", f"Bearer {member_client.secret}"),),
    )

    async def completed() -> bool:
        got = await passports.GetPassport(passports_pb2.GetPassportRequest(passport_id=passport.passport_id))
        return got.progress.completions == 1

    await _wait_for(completed)
    got = await passports.GetPassport(passports_pb2.GetPassportRequest(passport_id=passport.passport_id))
    assert got.progress.cycle == 1
    async with running.engine.connect() as conn:
        query = text("select max(seq) from events where member_id = :m")
        head = int((await conn.execute(query, {"m": member.member_id})).scalar_one())
    seen = await stream.until(head, seconds=60)
    assert [e.sequence for e in seen] == list(range(seen[0].sequence, head + 1)), (
        "in order, none lost or repeated"
    )
    steps = [e for e in seen if e.type in ("stamp_awarded", "passport_completed")]
    assert [e.type for e in steps] == ["stamp_awarded"] * 3 + ["passport_completed"]
    awarded = [e.payload.stamp_awarded for e in steps[:3]]
    assert [(a.passport_id, a.stamp.stamp_id, a.stamps_earned, a.stamps_total) for a in awarded] == [
        (passport.passport_id, "store", 1, 3),
        (passport.passport_id, "online", 2, 3),
        (passport.passport_id, "win", 3, 3),
    ]
    done = steps[3].payload.passport_completed
    assert (done.passport_id, done.cycle, done.points) == (passport.passport_id, 1, 500)
    async with running.engine.connect() as conn:
        rows = (
            await conn.execute(
                text("select event_type, count(*) from events where member_id = :m group by event_type"),
                {"m": member.member_id},
            )
        ).all()
        stamps = (
            await conn.execute(
                text(
                    "select stamp_id, channel, store_id from passport_stamps "
                    "where member_id = :m order by stamp_id"
                ),
                {"m": member.member_id},
            )
        ).all()
        rewards = (
            await conn.execute(
                text("select count(*) from ledger_entries where member_id = :m and source_type = 'passport'"),
                {"m": member.member_id},
            )
        ).scalar_one()
        assert await check_ledger(conn) == []
    counts = {str(t): int(n) for t, n in rows}
    assert counts["stamp_awarded"] == 3
    assert counts["passport_completed"] == 1
    assert [(s.stamp_id, s.channel) for s in stamps] == [
        ("online", "webshop"),
        ("store", "pos"),
        ("win", "app"),
    ]
    assert rewards == 1


@pytest.mark.slow
async def test_daily_cap_holds_under_concurrent_plays_on_two_processes(
    server_processes: Callable[[int], Awaitable[tuple[str, list[ServerProcess]]]],
) -> None:
    """Goal: 200 plays at once through two replicas never win a capped prize more than its daily cap."""
    from datetime import UTC, datetime

    from loyalty_service.auth import credentials
    from loyalty_service.auth.principal import PrincipalKind

    url, servers = await server_processes(2)
    engine = create_engine(url, pool_size=2, max_overflow=0)
    channels = [grpc.aio.insecure_channel(s.address) for s in servers]
    try:
        async with engine.begin() as conn:
            _, back_key = await credentials.create(
                conn, kind=PrincipalKind.BACKOFFICE, name="g", store_id=None
            )
            _, web_key = await credentials.create(conn, kind=PrincipalKind.WEBSHOP, name="g", store_id=None)
        back = Client(channels[0], back_key)
        spec = _game_spec(datetime.now(UTC), cap=5)
        spec.prizes[0].weight = 9
        game = (
            await back.program.CreateGame(games_pb2.CreateGameRequest(idempotency_key=new_key(), spec=spec))
        ).game
        web = Client(channels[0], web_key)
        members = []
        for _ in range(20):
            from loyalty.v1 import members_pb2

            enrolled = await web.members.EnrollMember(
                members_pb2.EnrollMemberRequest(idempotency_key=new_key())
            )
            members.append(enrolled.member.member_id)
        stubs = [_games(channel, web_key) for channel in channels]

        async def play(index: int) -> bool:
            answer = await stubs[index % 2].PlayGame(
                games_pb2.PlayGameRequest(
                    idempotency_key=new_key(), game_id=game.game_id, member_id=members[index % len(members)]
                )
            )
            return bool(answer.play.won)

        won = await asyncio.gather(*(play(i) for i in range(200)))
        assert sum(won) == 5
        async with engine.connect() as conn:
            stored = (
                await conn.execute(text("select count(*) from game_plays where prize_id = 'p10'"))
            ).scalar_one()
            assert stored == 5
            assert await check_ledger(conn) == []
    finally:
        for channel in channels:
            await channel.close()
        await engine.dispose()
