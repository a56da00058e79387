"""Challenge leaderboards through the gRPC API, and leaderboard data in the member export and erasure.

A challenge's score is the member's accepted check-ins in it (README "Leaderboards"): many members
checking in at once all count, ranks follow the scores (ties share a rank), names are the chosen
display name or a pseudonym, an opted-out member is hidden, and an erased member leaves every board.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from loyalty.v1 import challenges_pb2, challenges_pb2_grpc, games_pb2, games_pb2_grpc, members_pb2
from sqlalchemy import text

from loyalty_service.games import leaderboard
from loyalty_service.proto_time import to_timestamp
from tests.support.api import Client, Running, _Authed, new_key

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MALL = (48.8606, 2.3376)
"""Three shops of one shopping centre share its position: moving between them takes no time."""
CHALLENGE = games_pb2.LEADERBOARD_SCOPE_CHALLENGE


def _stub(running: Running, stub: Any, secret: str | None) -> Any:
    return _Authed(stub(running.channel), (("authorization", f"Bearer {secret}"),))


async def _challenge(running: Running, places: int) -> tuple[str, list[str]]:
    assert running.clock is not None
    now = running.clock.now()
    back = await running.client("backoffice")
    place_ids = []
    for index in range(places):
        spec = challenges_pb2.PlaceSpec(
            name=f"Shop {index}", latitude=MALL[0], longitude=MALL[1], radius_m=100
        )
        answer = await back.program.CreatePlace(
            challenges_pb2.CreatePlaceRequest(idempotency_key=new_key(), spec=spec)
        )
        place_ids.append(str(answer.place.place_id))
    spec = challenges_pb2.ChallengeSpec(
        name="Mall tour",
        opens_at=to_timestamp(now - timedelta(hours=1)),
        closes_at=to_timestamp(now + timedelta(days=60)),
        place_ids=place_ids,
        goal_places=places,
        grant=challenges_pb2.ChallengeGrant(points=10),
    )
    answer = await back.program.CreateChallenge(
        challenges_pb2.CreateChallengeRequest(idempotency_key=new_key(), spec=spec)
    )
    return str(answer.challenge.challenge_id), place_ids


async def _member(running: Running, name: str = "") -> tuple[str, Client]:
    member_id = (await running.enroll()).member_id
    client = await running.member_client(member_id)
    change = members_pb2.ConsentChange(purpose=members_pb2.CONSENT_PURPOSE_LOCATION, granted=True)
    await client.members.UpdateConsent(
        members_pb2.UpdateConsentRequest(idempotency_key=new_key(), member_id=member_id, changes=[change])
    )
    if name:
        games = _stub(running, games_pb2_grpc.GameServiceStub, client.secret)
        await games.UpdateLeaderboardSettings(
            games_pb2.UpdateLeaderboardSettingsRequest(
                idempotency_key=new_key(), settings=games_pb2.LeaderboardSettings(display_name=name)
            )
        )
    return member_id, client


async def _check_in(
    running: Running, client: Client, challenge_id: str, place_id: str, now: datetime
) -> None:
    app = _stub(running, challenges_pb2_grpc.ChallengeServiceStub, client.secret)
    await app.CheckIn(
        challenges_pb2.CheckInRequest(
            idempotency_key=new_key(),
            challenge_id=challenge_id,
            place_id=place_id,
            latitude=MALL[0] + 0.0001,
            longitude=MALL[1],
            accuracy_m=12,
            device_time=to_timestamp(now),
        )
    )


async def _board(
    running: Running, client: Client, challenge_id: str, period: int = games_pb2.LEADERBOARD_PERIOD_ALL_TIME
) -> games_pb2.GetLeaderboardResponse:
    games = _stub(running, games_pb2_grpc.GameServiceStub, client.secret)
    answer: games_pb2.GetLeaderboardResponse = await games.GetLeaderboard(
        games_pb2.GetLeaderboardRequest(scope=CHALLENGE, subject_id=challenge_id, period=period, top=5)
    )
    return answer


async def test_many_members_checking_in_at_once_are_ranked_by_their_check_ins(
    isolated_service: Running,
) -> None:
    """Goal: 30 members check in concurrently (1, 2 or 3 places each); every check-in counts, in the week,
    month and all-time boards; ties share a rank; the own rank is right for each score; names are the
    chosen display name or a pseudonym, never an identifier."""
    running = isolated_service
    assert running.clock is not None
    now = running.clock.now()
    challenge_id, places = await _challenge(running, 3)
    members = [await _member(running, f"Explorer {i}" if i % 2 else "") for i in range(30)]

    async def visits(index: int, client: Client) -> None:
        for place_id in places[: index % 3 + 1]:  # a member's check-ins one after another
            await _check_in(running, client, challenge_id, place_id, now)

    await asyncio.gather(*(visits(i, client) for i, (_m, client) in enumerate(members)))

    for period in (
        games_pb2.LEADERBOARD_PERIOD_WEEK,
        games_pb2.LEADERBOARD_PERIOD_MONTH,
        games_pb2.LEADERBOARD_PERIOD_ALL_TIME,
    ):
        board = await _board(running, members[2][1], challenge_id, period)
        assert [(r.rank, r.score) for r in board.top] == [(1, 3)] * 5
        assert (board.me.rank, board.me.score, board.me.is_me) == (1, 3, True)
    assert board.period_key == "all"
    # Ten members at 3, ten at 2, ten at 1: 2 check-ins rank 11th, 1 check-in 21st.
    assert (await _board(running, members[1][1], challenge_id)).me.rank == 11
    assert (await _board(running, members[0][1], challenge_id)).me.rank == 21
    names = {r.display_name for r in board.top}
    member_ids = {m for m, _c in members}
    assert names.isdisjoint(member_ids)
    assert all(n.startswith(("Explorer ", "Player ")) for n in names)
    async with running.engine.connect() as conn:
        total = await conn.execute(
            text("select sum(score) from leaderboard_scores where board = :b and period = 'all'"),
            {"b": f"challenge:{challenge_id}"},
        )
        assert total.scalar_one() == 10 * (1 + 2 + 3)


async def test_an_opted_out_member_is_hidden_and_others_move_up(isolated_service: Running) -> None:
    """Goal: opting out hides the member's challenge score (no own rank either) and the next member takes
    rank 1; opting back in shows it again; a bad request is INVALID_ARGUMENT naming the field, and the
    board of a challenge that does not exist is NOT_FOUND."""
    running = isolated_service
    assert running.clock is not None
    now = running.clock.now()
    challenge_id, places = await _challenge(running, 2)
    (_a, ada), (_b, bob) = await _member(running, "Ada"), await _member(running, "Bob")
    for place_id in places:
        await _check_in(running, ada, challenge_id, place_id, now)
    await _check_in(running, bob, challenge_id, places[0], now)
    board = await _board(running, bob, challenge_id)
    assert [(r.rank, r.display_name, r.score, r.is_me) for r in board.top] == [
        (1, "Ada", 2, False),
        (2, "Bob", 1, True),
    ]
    games = _stub(running, games_pb2_grpc.GameServiceStub, ada.secret)
    for opted_out in (True, False):
        await games.UpdateLeaderboardSettings(
            games_pb2.UpdateLeaderboardSettingsRequest(
                idempotency_key=new_key(),
                settings=games_pb2.LeaderboardSettings(display_name="Ada", opted_out=opted_out),
            )
        )
        if opted_out:
            hidden = await _board(running, ada, challenge_id)
            assert [(r.rank, r.display_name) for r in hidden.top] == [(1, "Bob")]
            assert not hidden.HasField("me")
    assert [r.display_name for r in (await _board(running, ada, challenge_id)).top] == ["Ada", "Bob"]
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await games.GetLeaderboard(
            games_pb2.GetLeaderboardRequest(
                scope=CHALLENGE,
                subject_id="game_0123456789ABCDEFGHJKMNPQRS",
                period=games_pb2.LEADERBOARD_PERIOD_WEEK,
            )
        )
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "subject_id" in _fields(bad.value)
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await games.GetLeaderboard(
            games_pb2.GetLeaderboardRequest(
                scope=CHALLENGE,
                subject_id="chl_0123456789ABCDEFGHJKMNPQRS",
                period=games_pb2.LEADERBOARD_PERIOD_WEEK,
            )
        )
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND


def _fields(error: grpc.aio.AioRpcError) -> set[str]:
    status = status_pb2.Status.FromString(dict(error.trailing_metadata() or ())["grpc-status-details-bin"])
    found: set[str] = set()
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found |= {v.field for v in bad.field_violations}
    return found


async def test_leaderboard_settings_and_scores_are_exported_and_erased(isolated_service: Running) -> None:
    """Goal: the member export holds the leaderboard settings and every score; erasure takes the member
    off every board (scores deleted, display name blanked, opted out for good) and later settings changes
    are refused with MEMBER_ERASED; an unknown member is NOT_FOUND."""
    running = isolated_service
    assert running.clock is not None
    now = running.clock.now()
    challenge_id, places = await _challenge(running, 1)
    member_id, member = await _member(running, "Grace H")
    other_id, other = await _member(running, "Linus")
    await _check_in(running, member, challenge_id, places[0], now)
    await _check_in(running, other, challenge_id, places[0], now)

    exported = await member.members.ExportMemberData(members_pb2.ExportMemberDataRequest(member_id=member_id))
    mine = json.loads(exported.document)["features"]["leaderboards"]
    assert mine["settings"]["display_name"] == "Grace H"
    assert mine["settings"]["opted_out"] is False
    assert mine["settings"]["pseudonym"].startswith("Player ")
    keys = leaderboard.period_keys(now)
    assert sorted((s["board"], s["period"], s["score"], s["shown"]) for s in mine["scores"]) == sorted(
        (f"challenge:{challenge_id}", keys[p], 1, True) for p in ("week", "month", "all")
    )
    assert other_id not in exported.document.decode()

    await member.members.EraseMember(
        members_pb2.EraseMemberRequest(idempotency_key=new_key(), member_id=member_id)
    )
    board = await _board(running, other, challenge_id)
    assert [(r.rank, r.display_name) for r in board.top] == [(1, "Linus")]
    async with running.engine.connect() as conn:
        scores = await conn.execute(
            text("select count(*) from leaderboard_scores where member_id = :m"), {"m": member_id}
        )
        settings = await conn.execute(
            text("select display_name, opted_out from member_game_settings where member_id = :m"),
            {"m": member_id},
        )
        assert scores.scalar_one() == 0
        assert tuple(settings.one()) == ("", True)
    app = await running.client("app_backend")
    games = _stub(running, games_pb2_grpc.GameServiceStub, app.secret)
    for target, code in (
        (member_id, grpc.StatusCode.FAILED_PRECONDITION),
        ("mem_0123456789ABCDEFGHJKMNPQRS", grpc.StatusCode.NOT_FOUND),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await games.UpdateLeaderboardSettings(
                games_pb2.UpdateLeaderboardSettingsRequest(
                    idempotency_key=new_key(),
                    member_id=target,
                    settings=games_pb2.LeaderboardSettings(display_name="Back again"),
                )
            )
        assert refused.value.code() is code, refused.value.details()
