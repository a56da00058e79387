"""Passports, leaderboards and the per-member game, privacy and audit calls of every channel client, against
a real server: what each channel may do, through its typed client only."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from loyalty_clients import (
    AsyncAppBackendClient,
    AsyncMarketingClient,
    AsyncMobileAppClient,
    AsyncPosClient,
    AsyncWebShopClient,
    Channel,
    FailedPrecondition,
    GameCondition,
    GamePrize,
    GameSpec,
    Identifier,
    LeaderboardPeriod,
    LeaderboardScope,
    MemberStatus,
    MobileAppClient,
    PassportCompletion,
    PassportSpec,
    PlayCostKind,
    PlayTokenRule,
    PrizeGrant,
    StampDefinition,
    StampRef,
    Unauthenticated,
)

from tests.clients.conftest import Keys, make_keys, target_of, unique
from tests.support.api import Running


async def _stamp_games(office: AsyncMarketingClient) -> tuple[str, str, str]:
    """A passport of two stamps and two free games whose only prize is one of its stamps.

    The stamps' own condition names a game nobody plays, so stamps come from the prizes alone, synchronously
    in the play's transaction. Returns (passport_id, wheel game id, dice game id)."""
    now = datetime.now(UTC)
    unplayed = await office.create_game(
        spec=GameSpec(
            name="Unplayed",
            opens_at=now - timedelta(hours=1),
            cost_kind=PlayCostKind.FREE,
            prizes=(GamePrize(prize_id="p1", name="1 point", weight=1, grant=PrizeGrant(points=1)),),
        )
    )
    condition = GameCondition(game_id=unplayed.game_id, won_only=True)
    spec = PassportSpec(
        name=unique("Tour"),
        opens_at=now - timedelta(hours=1),
        stamps=(
            StampDefinition(stamp_id="wheel", name="Wheel", condition=condition),
            StampDefinition(stamp_id="dice", name="Dice", condition=condition),
        ),
        completion=PassportCompletion(points=100),
    )
    passport = await office.create_passport(spec=replace(spec, name="draft"))
    passport = await office.update_passport(passport_id=passport.passport_id, spec=spec)
    assert passport.spec == spec
    assert passport.passport_id in {p.passport_id for p in await office.list_all_passports()}
    games = []
    for stamp_id in ("wheel", "dice"):
        grant = PrizeGrant(stamp=StampRef(passport_id=passport.passport_id, stamp_id=stamp_id))
        game = await office.create_game(
            spec=GameSpec(
                name=f"{stamp_id} {unique('g')}",
                opens_at=now - timedelta(hours=1),
                cost_kind=PlayCostKind.FREE,
                prizes=(GamePrize(prize_id=stamp_id, name=f"{stamp_id} stamp", weight=1, grant=grant),),
            )
        )
        assert game.spec.prizes[0].grant == grant
        assert game.odds[0].parts_per_million == 1_000_000
        games.append(game.game_id)
    return passport.passport_id, games[0], games[1]


async def test_passports_and_leaderboards_through_every_channel(service: Running) -> None:
    """Goal: stamps won in games show on the member's passport (app, web shop, back office), completing it
    grants its points; leaderboards rank wins and stamps with chosen names, for the app, till and office."""
    keys, target = await make_keys(service.url), target_of(service)
    office = AsyncMarketingClient(api_key=keys.backoffice, target=target)
    shop = AsyncWebShopClient(api_key=keys.webshop, target=target)
    till = AsyncPosClient(store_id=keys.store_id, api_key=keys.pos, target=target)
    try:
        passport_id, wheel, dice = await _stamp_games(office)
        ada = await shop.enroll_member(
            display_name="Ada", identifiers=[Identifier.email(unique("ada") + "@x.fr")]
        )
        bo = await shop.enroll_member(display_name="Bo")
        token = await shop.issue_member_token(member_id=ada.member_id, ttl_seconds=600)

        async with AsyncMobileAppClient(member_token=token.token, target=target) as app:
            settings = await app.leaderboard_settings(display_name="Ada L.")
            assert (settings.display_name, settings.opted_out) == ("Ada L.", False)
            assert (await app.passport(passport_id=passport_id)).stamps[0].earned is False
            for _ in range(2):
                played = await app.play(game_id=wheel)
                assert played.play.won
                assert played.play.grant == PrizeGrant(
                    stamp=StampRef(passport_id=passport_id, stamp_id="wheel")
                )
            half = await app.passport(passport_id=passport_id)
            assert [(s.stamp_id, s.earned) for s in half.stamps] == [("wheel", True), ("dice", False)]
            assert half.stamps[0].channel is Channel.APP
            assert half.stamps[0].earned_at is not None
            assert half.stamps[0].earned_at.tzinfo is not None
            assert half.completions == 0
            await app.play(game_id=dice)
            mine = {p.passport.passport_id: p for p in await app.passports()}[passport_id]
            assert mine.completions == 1
            assert (await app.balance()).available == 100
            assert [p.game_id for p in await app.plays()] == [dice, wheel, wheel]

            board = await app.leaderboard(
                scope=LeaderboardScope.GAME, subject_id=wheel, period=LeaderboardPeriod.WEEK
            )
            assert [(r.rank, r.display_name, r.score, r.is_me) for r in board.top] == [(1, "Ada L.", 2, True)]
            assert board.me is not None
            assert board.me.rank == 1
            assert board.period_key.startswith(str(datetime.now(UTC).isocalendar()[0]))

        # The web shop plays for Bo, who first chooses to stay off the leaderboards.
        offers = await shop.games(member_id=bo.member_id)
        assert {o.game.game_id for o in offers.games} >= {wheel, dice}
        assert all(o.can_play for o in offers.games if o.game.game_id == wheel)
        hidden = await shop.leaderboard_settings(member_id=bo.member_id, opted_out=True)
        assert hidden.opted_out
        assert hidden.pseudonym
        bo_play = await shop.play(member_id=bo.member_id, game_id=wheel)
        bo_passport = await shop.passport(member_id=bo.member_id, passport_id=passport_id)
        stamp = bo_passport.stamps[0]
        assert (stamp.source_type, stamp.source_ref) == ("game", bo_play.play.play_id)
        assert [p.game_id for p in await shop.plays(member_id=bo.member_id)] == [wheel]
        stamps = await till.leaderboard(
            scope=LeaderboardScope.PASSPORT, subject_id=passport_id, period=LeaderboardPeriod.ALL_TIME
        )
        assert [(r.display_name, r.score) for r in stamps.top] == [("Ada L.", 2)]
        assert stamps.me is None
        # Back on the boards, Bo's wins while hidden count.
        await shop.leaderboard_settings(member_id=bo.member_id, display_name="Bo B.")
        wins = await till.leaderboard(
            scope=LeaderboardScope.GAME,
            subject_id=wheel,
            period=LeaderboardPeriod.MONTH,
            member_id=bo.member_id,
        )
        assert [(r.display_name, r.score, r.is_me) for r in wins.top] == [
            ("Ada L.", 2, False),
            ("Bo B.", 1, True),
        ]
        assert wins.me is not None
        assert wins.me.rank == 2

        # The back office reads any member's passports and plays.
        progress = await office.passports(member_id=ada.member_id)
        assert {p.passport.passport_id: p.completions for p in progress}[passport_id] == 1
        assert (await office.passport(member_id=bo.member_id, passport_id=passport_id)).stamps[0].earned
        assert len(await office.plays(member_id=ada.member_id, game_id=wheel)) == 2
        top_one = await office.leaderboard(
            scope=LeaderboardScope.GAME, subject_id=wheel, period=LeaderboardPeriod.ALL_TIME, top=1
        )
        assert [r.display_name for r in top_one.top] == ["Ada L."]

        def blocking_app() -> tuple[int, int]:
            with MobileAppClient(member_token=token.token, target=target) as app:
                board = app.leaderboard(
                    scope=LeaderboardScope.GAME, subject_id=wheel, period=LeaderboardPeriod.WEEK
                )
                return len(app.passports()), len(board.top)

        passports, rows = await asyncio.to_thread(blocking_app)
        assert passports >= 1
        assert rows == 2
    finally:
        await office.close()
        await shop.close()
        await till.close()


async def _member_with_token(keys: Keys, target: str) -> tuple[str, str]:
    async with AsyncAppBackendClient(api_key=keys.app_backend, target=target) as backend:
        member = await backend.enroll_member(display_name="Cy", identifiers=[Identifier.card(unique("C"))])
        return member.member_id, (await backend.issue_member_token(member_id=member.member_id)).token


async def test_channels_serve_members_they_name(service: Running) -> None:
    """Goal: the app back end and the web shop play, read and erase for a member they name; the back office
    exports a member's data, reads the audit log of its own writes and adds play-token rules."""
    keys, target = await make_keys(service.url), target_of(service)
    member_id, token = await _member_with_token(keys, target)
    async with (
        AsyncMarketingClient(api_key=keys.backoffice, target=target) as office,
        AsyncAppBackendClient(api_key=keys.app_backend, target=target) as backend,
        AsyncWebShopClient(api_key=keys.webshop, target=target) as shop,
    ):
        now = datetime.now(UTC)
        game = await office.create_game(
            spec=GameSpec(
                name=unique("Points"),
                opens_at=now - timedelta(hours=1),
                cost_kind=PlayCostKind.FREE,
                plays_total=1,
                prizes=(GamePrize(prize_id="p", name="7 points", weight=1, grant=PrizeGrant(points=7)),),
            )
        )
        assert game.spec.plays_total == 1
        result = await backend.play(member_id=member_id, game_id=game.game_id)
        assert result.points_available == 7
        offer = {o.game.game_id: o for o in (await backend.games(member_id=member_id)).games}[game.game_id]
        assert (offer.can_play, offer.refusal, offer.plays_left) == (False, "TOTAL_LIMIT_REACHED", 0)
        with pytest.raises(FailedPrecondition) as refused:
            await backend.play(member_id=member_id, game_id=game.game_id)
        assert refused.value.reason == "TOTAL_LIMIT_REACHED"
        assert (await backend.plays(member_id=member_id))[0].play_id == result.play.play_id

        rule = await office.create_play_token_rule(
            rule=PlayTokenRule(name="token per purchase", tokens=1, channels=(Channel.POS,), currency="EUR")
        )
        assert rule.rule_id
        assert rule.channels == (Channel.POS,)
        audit = await office.list_audit_events(subject_type="game", subject_id=game.game_id)
        assert [e.action for e in audit.events] == ["game.create"]
        assert audit.events[0].occurred_at is not None
        assert audit.events[0].after_json

        stats = await office.program_stats(start=now - timedelta(hours=1), end=now + timedelta(hours=1))
        assert stats.members_enrolled >= 1
        assert stats.occurred_from == now - timedelta(hours=1)
        assert all(isinstance(row.channel, Channel) for row in stats.by_channel_store)

        document = await office.export_member_data(member_id=member_id)
        assert document["member"]["member_id"] == member_id
        async with AsyncMobileAppClient(member_token=token, target=target) as app:
            mine, theirs = await app.export_my_data(), await backend.export_member_data(member_id=member_id)
            assert mine.pop("generated_at") <= theirs.pop("generated_at")
            assert mine == theirs
            erased = await shop.erase_member(member_id=member_id)
            assert erased.member.status is MemberStatus.ERASED
            assert erased.identifiers_removed == 1
            assert erased.member.identifiers == ()
            with pytest.raises(Unauthenticated):
                await app.balance()
