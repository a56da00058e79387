"""The app and marketing clients over the feature RPCs (games, challenges, draws), against a real server."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.v1 import challenges_pb2, draws_pb2, games_pb2
from loyalty_clients import AsyncMarketingClient, AsyncMobileAppClient, AsyncWebShopClient, ConsentPurpose

from tests.clients.conftest import make_keys
from tests.support.database import TestDatabase
from tests.support.processes import start_server_process


def _ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


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
        prize = games_pb2.GamePrize(
            prize_id="p5", name="5 points", weight=1, grant=games_pb2.PrizeGrant(points=5)
        )
        game = await office.create_game(
            spec=games_pb2.GameSpec(
                name="Wheel", opens_at=_ts(now - timedelta(hours=1)), cost_kind=games_pb2.PLAY_COST_KIND_FREE,
                prizes=[prize], no_prize_weight=0,
            )
        )  # fmt: skip
        place = await office.create_place(
            spec=challenges_pb2.PlaceSpec(name="Fountain", latitude=48.8606, longitude=2.3376, radius_m=200)
        )
        challenge = await office.create_challenge(
            spec=challenges_pb2.ChallengeSpec(
                name="Visit", opens_at=_ts(now - timedelta(hours=1)), closes_at=_ts(now + timedelta(days=1)),
                place_ids=[place.place_id], goal_places=1, grant=challenges_pb2.ChallengeGrant(points=50),
            )
        )  # fmt: skip
        draw = await office.create_draw(
            spec=draws_pb2.DrawSpec(
                name="Quick draw", opens_at=_ts(now + timedelta(seconds=1)),
                closes_at=_ts(now + timedelta(seconds=4)),
                prizes=[draws_pb2.DrawPrize(prize_id="pts", name="100 points", quantity=1, points=100)],
                sources=draws_pb2.DrawEntrySources(direct=draws_pb2.DirectEntrySource(enabled=True)),
            )
        )  # fmt: skip
        assert len(draw.commitment) == 64

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
            assert checked.progress.HasField("completed_at")
            assert checked.distance_band == "0-25m"

            await asyncio.sleep(max(0.0, (now + timedelta(seconds=1.5) - datetime.now(UTC)).total_seconds()))
            entered = await app.enter_draw(draw_id=draw.draw_id)
            assert len(entered.entry_ids) == 1
            await asyncio.sleep(max(0.0, (now + timedelta(seconds=4.5) - datetime.now(UTC)).total_seconds()))
            result = await office.run_draw(draw_id=draw.draw_id)
            assert [w.entry_id for w in result.winners] == list(entered.entry_ids)
            mine = await app.draw_result(draw_id=draw.draw_id)
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
