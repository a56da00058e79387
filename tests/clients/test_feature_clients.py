"""The app and marketing clients over the feature RPCs (games, challenges, draws), against a real server."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loyalty_clients import (
    AsyncMarketingClient,
    AsyncMobileAppClient,
    AsyncWebShopClient,
    ChallengeGrant,
    ChallengeSpec,
    ConsentPurpose,
    DirectEntrySource,
    DrawEntrySources,
    DrawPrize,
    DrawSpec,
    DrawStatus,
    GamePrize,
    GameSpec,
    PlaceSpec,
    PlayCostKind,
    PrizeGrant,
)

from tests.clients.conftest import make_keys
from tests.support.database import TestDatabase
from tests.support.processes import start_server_process


async def test_app_and_office_clients_play_check_in_and_draw(test_db: TestDatabase, tmp_path: Path) -> None:
    """Goal: through the typed clients only, marketing sets up a game, a challenge and a draw; the app plays,
    checks in with consent and enters; marketing runs the draw and its export passes the stdlib verifier."""
    url = await test_db.new_database()
    keys = await make_keys(url)
    server = start_server_process(url, tmp_path)
    target = server.address
    now = datetime.now(UTC)
    office = AsyncMarketingClient(api_key=keys.backoffice, target=target)
    shop = AsyncWebShopClient(api_key=keys.webshop, target=target)
    try:
        prize = GamePrize(prize_id="p5", name="5 points", weight=1, grant=PrizeGrant(points=5))
        game = await office.create_game(
            spec=GameSpec(
                name="Wheel", opens_at=now - timedelta(hours=1), cost_kind=PlayCostKind.FREE, prizes=(prize,)
            )
        )
        assert game.spec.prizes == (prize,)
        assert game.spec.opens_at.tzinfo is not None
        place = await office.create_place(
            spec=PlaceSpec(name="Fountain", latitude=48.8606, longitude=2.3376, radius_m=200)
        )
        assert place.spec.radius_m == 200
        challenge = await office.create_challenge(
            spec=ChallengeSpec(
                name="Visit", opens_at=now - timedelta(hours=1), closes_at=now + timedelta(days=1),
                place_ids=(place.place_id,), goal_places=1, grant=ChallengeGrant(points=50),
            )
        )  # fmt: skip
        assert challenge.spec.grant == ChallengeGrant(points=50)
        draw = await office.create_draw(
            spec=DrawSpec(
                name="Quick draw", opens_at=now + timedelta(seconds=1), closes_at=now + timedelta(seconds=4),
                prizes=(DrawPrize(prize_id="pts", name="100 points", quantity=1, points=100),),
                sources=DrawEntrySources(direct=DirectEntrySource(enabled=True)),
            )
        )  # fmt: skip
        assert len(draw.commitment) == 64
        assert draw.status is DrawStatus.SCHEDULED
        assert draw.spec.prizes[0].points == 100

        member = await shop.enroll_member(display_name="Player")
        token = await shop.issue_member_token(member_id=member.member_id, ttl_seconds=600)
        async with AsyncMobileAppClient(member_token=token.token, target=target) as app:
            listed = await app.games()
            assert [g.game.game_id for g in listed.games] == [game.game_id]
            assert listed.games[0].can_play
            played = await app.play(game_id=game.game_id)
            assert played.play.won
            assert played.points_available == 5
            assert [p.play_id for p in await app.plays()] == [played.play.play_id]

            await app.update_consent(changes={ConsentPurpose.LOCATION: True})
            nearby = await app.nearby_challenges(latitude=48.8610, longitude=2.3380)
            assert [c.challenge.challenge_id for c in nearby] == [challenge.challenge_id]
            checked = await app.check_in(
                challenge_id=challenge.challenge_id, place_id=place.place_id, latitude=48.8607,
                longitude=2.3377, accuracy_m=15, device_time=datetime.now(UTC),
            )  # fmt: skip
            assert checked.progress is not None
            assert checked.progress.completed_at is not None
            assert checked.completion is not None
            assert checked.completion.points == 50
            assert checked.distance_band == "0-25m"

            await asyncio.sleep(max(0.0, (now + timedelta(seconds=1.5) - datetime.now(UTC)).total_seconds()))
            entered = await app.enter_draw(draw_id=draw.draw_id)
            assert len(entered.entry_ids) == 1
            await asyncio.sleep(max(0.0, (now + timedelta(seconds=4.5) - datetime.now(UTC)).total_seconds()))
            result = await office.run_draw(draw_id=draw.draw_id)
            assert [w.entry_id for w in result.winners] == list(entered.entry_ids)
            mine = await app.draw_result(draw_id=draw.draw_id)
            assert mine.my_outcome is not None
            assert mine.my_outcome.won
            assert mine.my_outcome.member_ref
            assert (await app.balance()).available == 5 + 50 + 100

        exported = tmp_path / "result.json"
        exported.write_text(json.dumps(await office.export_draw_result(draw_id=draw.draw_id)))
        verifier = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "loyalty_clients.verify_draw", str(exported), stdout=asyncio.subprocess.PIPE
        )
        output, _ = await verifier.communicate()
        assert verifier.returncode == 0, output.decode()
    finally:
        await office.close()
        await shop.close()
        server.terminate()
