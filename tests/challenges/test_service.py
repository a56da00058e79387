"""Geolocation challenges through the gRPC API: the check-in story (consent, two places, impossible
travel, the next day, one grant shown as events), nearby search, and refused input."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from loyalty.v1 import (
    challenges_pb2,
    challenges_pb2_grpc,
    common_pb2,
    draws_pb2,
    ledger_pb2,
    live_pb2,
    live_pb2_grpc,
    members_pb2,
    rewards_pb2,
)
from sqlalchemy import text

from loyalty_service.proto_time import to_timestamp
from tests.support.api import Client, Running, _Authed, new_key

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

LOUVRE = (48.8606, 2.3376)
OPERA = (48.8719, 2.3316)  # 1.3 km from the Louvre
LYON = (45.7640, 4.8357)  # 392 km from Paris


def _challenges(running: Running, client: Client) -> Any:
    stub = challenges_pb2_grpc.ChallengeServiceStub(running.channel)
    return _Authed(stub, (("authorization", f"Bearer {client.secret}"),))


def _details(error: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    """(ErrorInfo reason, BadRequest field -> description)."""
    status = status_pb2.Status.FromString(dict(error.trailing_metadata() or ())["grpc-status-details-bin"])
    reason, fields = "", {}
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields.update({v.field: v.description for v in bad.field_violations})
    return reason, fields


async def _place(back: Client, name: str, at: tuple[float, float], radius_m: int = 100) -> str:
    spec = challenges_pb2.PlaceSpec(name=name, latitude=at[0], longitude=at[1], radius_m=radius_m)
    answer = await back.program.CreatePlace(
        challenges_pb2.CreatePlaceRequest(idempotency_key=new_key(), spec=spec)
    )
    return str(answer.place.place_id)


async def _challenge(
    back: Client, now: datetime, place_ids: list[str], goal: int, grant: challenges_pb2.ChallengeGrant
) -> str:
    spec = challenges_pb2.ChallengeSpec(
        name="Tour de France",
        opens_at=to_timestamp(now - timedelta(hours=1)),
        closes_at=to_timestamp(now + timedelta(days=7)),
        place_ids=place_ids,
        goal_places=goal,
        grant=grant,
    )
    answer = await back.program.CreateChallenge(
        challenges_pb2.CreateChallengeRequest(idempotency_key=new_key(), spec=spec)
    )
    return str(answer.challenge.challenge_id)


async def _reward_and_draw(running: Running, now: datetime) -> tuple[str, str]:
    back = await running.client("backoffice")
    reward = await back.program.CreateReward(
        rewards_pb2.CreateRewardRequest(
            idempotency_key=new_key(),
            reward=rewards_pb2.RewardDefinition(
                name="Free coffee",
                points_cost=100,
                channels=[common_pb2.CHANNEL_POS],
                unlimited_stock=True,
                voucher_valid_days=30,
                value=rewards_pb2.VoucherValue(amount_off=common_pb2.Money(amount_minor=300, currency="EUR")),
            ),
        )
    )
    draw = await back.program.CreateDraw(
        draws_pb2.CreateDrawRequest(
            idempotency_key=new_key(),
            spec=draws_pb2.DrawSpec(
                name="Explorers' draw",
                opens_at=to_timestamp(now + timedelta(minutes=1)),
                closes_at=to_timestamp(now + timedelta(days=3)),
                prizes=[draws_pb2.DrawPrize(prize_id="p", name="500 points", quantity=1, points=500)],
                sources=draws_pb2.DrawEntrySources(entries_per_challenge=2),
            ),
        )
    )
    return str(reward.reward.reward_id), str(draw.draw.draw_id)


def _check_in(challenge_id: str, place_id: str, at: tuple[float, float], now: datetime, key: str = "") -> Any:
    return challenges_pb2.CheckInRequest(
        idempotency_key=key or new_key(),
        challenge_id=challenge_id,
        place_id=place_id,
        latitude=at[0] + 0.0001,  # 11 m north of the centre
        longitude=at[1],
        accuracy_m=12,
        device_time=to_timestamp(now),
    )


async def _refused(call: Any) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION, caught.value.details()
    return _details(caught.value)[0]


async def _consent(member: Client, member_id: str, granted: bool) -> None:
    change = members_pb2.ConsentChange(purpose=members_pb2.CONSENT_PURPOSE_LOCATION, granted=granted)
    await member.members.UpdateConsent(
        members_pb2.UpdateConsentRequest(idempotency_key=new_key(), member_id=member_id, changes=[change])
    )


async def test_a_member_completes_a_three_place_challenge_once_despite_a_spoofed_jump(
    isolated_service: Running,
) -> None:
    """Goal: consent gates check-ins; impossible travel is refused; the next day the same place counts;
    the completion grants points, a voucher, draw entries and a stamp event exactly once."""
    running, clock = isolated_service, isolated_service.clock
    assert clock is not None
    back = await running.client("backoffice")
    reward_id, draw_id = await _reward_and_draw(running, clock.now())
    places = [await _place(back, n, at) for n, at in (("Louvre", LOUVRE), ("Opera", OPERA), ("Lyon", LYON))]
    grant = challenges_pb2.ChallengeGrant(points=500, reward_id=reward_id, stamp=True, draw_id=draw_id)
    challenge_id = await _challenge(back, clock.now(), places, 3, grant)
    member_id = (await running.enroll(display_name="Ada")).member_id
    member = await running.member_client(member_id)
    app = _challenges(running, member)

    assert await _refused(app.CheckIn(_check_in(challenge_id, places[0], LOUVRE, clock.now()))) == (
        "NO_LOCATION_CONSENT"
    )
    await _consent(member, member_id, True)
    first = await app.CheckIn(_check_in(challenge_id, places[0], LOUVRE, clock.now()))
    assert (first.distance_band, list(first.progress.visited_place_ids)) == ("0-25m", [places[0]])
    clock.advance(timedelta(minutes=10))
    second = await app.CheckIn(_check_in(challenge_id, places[1], OPERA, clock.now()))
    assert len(second.progress.visited_place_ids) == 2
    assert not second.HasField("completion")
    clock.advance(timedelta(minutes=10))
    member = await running.member_client(member_id)  # member tokens last 15 minutes
    app = _challenges(running, member)
    jump = app.CheckIn(_check_in(challenge_id, places[2], LYON, clock.now()))
    assert await _refused(jump) == "IMPOSSIBLE_TRAVEL"

    clock.advance(timedelta(days=1))
    member = await running.member_client(member_id)
    app = _challenges(running, member)
    key = new_key()
    done = await app.CheckIn(_check_in(challenge_id, places[2], LYON, clock.now(), key))
    again = await app.CheckIn(_check_in(challenge_id, places[2], LYON, clock.now(), key))
    assert again == done  # a retry is answered, not granted twice
    completion = done.completion
    assert (completion.points, completion.stamp, list(completion.skipped)) == (500, True, [])
    assert completion.voucher_id.startswith("vch_")
    assert len(completion.draw_entry_ids) == 2
    assert done.progress.HasField("completed_at")
    assert await _refused(app.CheckIn(_check_in(challenge_id, places[0], LOUVRE, clock.now()))) in (
        "ALREADY_CHECKED_IN",
        "IMPOSSIBLE_TRAVEL",
    )
    balance = await member.ledger.GetBalance(
        ledger_pb2.GetBalanceRequest(member=common_pb2.MemberRef(member_id=member_id))
    )
    assert balance.balance.available == 500

    progress = await app.GetChallengeProgress(
        challenges_pb2.GetChallengeProgressRequest(challenge_id=challenge_id)
    )
    assert len(progress.progress.visited_place_ids) == 3

    await _consent(member, member_id, False)
    assert await _refused(app.CheckIn(_check_in(challenge_id, places[0], LOUVRE, clock.now()))) == (
        "NO_LOCATION_CONSENT"
    )
    async with running.engine.connect() as conn:
        stored = await conn.execute(
            text("select count(*) from checkins where member_id = :m"), {"m": member_id}
        )
        attempts = await conn.execute(
            text("select outcome from checkin_attempts where member_id = :m order by attempted_at"),
            {"m": member_id},
        )
        assert stored.scalar_one() == 3
        outcomes = [r[0] for r in attempts.all()]
    assert outcomes[0] == "NO_LOCATION_CONSENT"
    assert "IMPOSSIBLE_TRAVEL" in outcomes
    assert outcomes.count("ACCEPTED") == 3
    events = await _event_types(running, member, member_id)
    assert events.count("challenge_completed") == 1
    assert events.count("challenge_progress") == 3
    exported = await member.members.ExportMemberData(members_pb2.ExportMemberDataRequest(member_id=member_id))
    mine = json.loads(exported.document)["features"]["challenges"]
    assert [c["place_id"] for c in mine["checkins"]] == places
    assert {"lat", "lon"}.isdisjoint(mine["checkins"][0])  # bands, never the position
    await member.members.EraseMember(
        members_pb2.EraseMemberRequest(idempotency_key=new_key(), member_id=member_id)
    )
    async with running.engine.connect() as conn:
        left = await conn.execute(
            text("select count(*) from checkins where member_id = :m"), {"m": member_id}
        )
        assert left.scalar_one() == 0


async def _event_types(running: Running, member: Client, member_id: str) -> list[str]:
    """The types of every event of the member after the first, as WatchMember replays them."""
    async with running.engine.connect() as conn:
        query = text("select count(*) from events where member_id = :m and seq > 1")
        expected = (await conn.execute(query, {"m": member_id})).scalar_one()
    stub = live_pb2_grpc.LiveServiceStub(running.channel)
    call = stub.WatchMember(
        live_pb2.WatchMemberRequest(member_id=member_id, from_sequence=1),
        metadata=(("authorization", f"Bearer {member.secret}"),),
        timeout=60,
    )
    types: list[str] = []
    try:
        while len(types) < expected:
            message: Any = await call.read()
            assert message is not grpc.aio.EOF
            if message.WhichOneof("item") == "event":
                types.append(message.event.type)
    finally:
        call.cancel()
    return types


def _north(at: tuple[float, float], metres: float) -> tuple[float, float]:
    return at[0] + metres / 111_195.0, at[1]


async def test_nearby_lists_open_challenges_nearest_first_within_the_distance(service: Running) -> None:
    """Goal: only open challenges with a place within range, nearest place first, places sorted too."""
    centre = (-44.0 + secrets.randbelow(1000) / 1000, -171.0)  # open ocean, apart from other tests
    back = await service.client("backoffice")
    now = service.service.runtime.now()
    near, mid, edge, far = [await _place(back, f"p{d}", _north(centre, d)) for d in (100, 2000, 4900, 6000)]
    later = await _place(back, "later", _north(centre, 50))
    wide = await _challenge(back, now, [mid, edge, far], 2, challenges_pb2.ChallengeGrant(points=10))
    close = await _challenge(back, now, [near], 1, challenges_pb2.ChallengeGrant(stamp=True))
    spec = challenges_pb2.ChallengeSpec(
        name="Not yet",
        opens_at=to_timestamp(now + timedelta(days=1)),
        closes_at=to_timestamp(now + timedelta(days=2)),
        place_ids=[later],
        goal_places=1,
        grant=challenges_pb2.ChallengeGrant(points=1),
    )
    await back.program.CreateChallenge(
        challenges_pb2.CreateChallengeRequest(idempotency_key=new_key(), spec=spec)
    )
    member = await service.member_client((await service.enroll(display_name="Bo")).member_id)
    app = _challenges(service, member)

    request = challenges_pb2.ListNearbyChallengesRequest(latitude=centre[0], longitude=centre[1])
    found = (await app.ListNearbyChallenges(request)).challenges
    assert [c.challenge.challenge_id for c in found] == [close, wide]
    assert [p.place_id for p in found[1].places] == [mid, edge]
    assert [p.distance_m for p in found[1].places] == [2000, 4900]
    assert found[1].progress.goal_places == 2
    assert not found[1].progress.visited_place_ids
    request.within_m = 1000
    assert [c.challenge.challenge_id for c in (await app.ListNearbyChallenges(request)).challenges] == [close]


async def test_bad_input_is_refused_with_field_violations(service: Running) -> None:
    """Goal: impossible positions, accuracies, radii and goals name their fields (INVALID_ARGUMENT)."""
    back = await service.client("backoffice")
    member = await service.member_client((await service.enroll(display_name="Cy")).member_id)
    app = _challenges(service, member)
    bad_checkin = challenges_pb2.CheckInRequest(
        idempotency_key=new_key(), challenge_id="chl_x", latitude=91, longitude=float("nan"), accuracy_m=-1
    )
    bad_place = challenges_pb2.CreatePlaceRequest(
        idempotency_key=new_key(),
        spec=challenges_pb2.PlaceSpec(
            name="Tiny", latitude=0, longitude=0, radius_m=5, time_zone="Mars/Base"
        ),
    )
    bad_challenge = challenges_pb2.CreateChallengeRequest(
        idempotency_key=new_key(),
        spec=challenges_pb2.ChallengeSpec(name="Empty", goal_places=2, place_ids=["plc_nope"]),
    )
    expected = {
        "check-in": {"challenge_id", "place_id", "latitude", "longitude", "accuracy_m", "device_time"},
        "place": {"spec.radius_m", "spec.time_zone"},
        "challenge": {
            "spec.opens_at",
            "spec.closes_at",
            "spec.place_ids[0]",
            "spec.goal_places",
            "spec.grant",
        },
    }
    calls = {
        "check-in": app.CheckIn(bad_checkin),
        "place": back.program.CreatePlace(bad_place),
        "challenge": back.program.CreateChallenge(bad_challenge),
    }
    for name, call in calls.items():
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert set(_details(caught.value)[1]) == expected[name], name
    nearby = challenges_pb2.ListNearbyChallengesRequest(latitude=0, longitude=200, within_m=60_000)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await app.ListNearbyChallenges(nearby)
    assert set(_details(caught.value)[1]) == {"longitude", "within_m"}
