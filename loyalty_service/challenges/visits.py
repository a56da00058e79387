"""CheckIn: gather what the rules need, apply them, record an accepted visit and its progress, and
grant the completion once.

Order of refusals (each FAILED_PRECONDITION with the reason as ErrorInfo reason): CHALLENGE_NOT_OPEN and
PLACE_CLOSED for an archived place (facts about the programme, not the member), then the rules of
`checkin.evaluate_checkin` (NO_LOCATION_CONSENT first: without consent the position is not looked at),
then CHALLENGE_COMPLETED, PLACE_CLOSED (opening hours) and PURCHASE_REQUIRED. The member's ledger lock
serialises their check-ins, so counters, the travel check and progress see one check-in at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from loyalty.v1 import challenges_pb2, events_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.challenges import member_store, store
from loyalty_service.challenges.checkin import CheckInAttempt, CheckInPolicy, evaluate_checkin
from loyalty_service.challenges.grants import grant_completion
from loyalty_service.challenges.messages import progress_message
from loyalty_service.challenges.rules import Period, is_open_at, local_day, period_at
from loyalty_service.challenges.store import ChallengeRow, PlaceRow
from loyalty_service.config import Settings
from loyalty_service.errors import FailedPrecondition, NotFound
from loyalty_service.events import outbox
from loyalty_service.games import api as games_api
from loyalty_service.ledger import api as ledger_api
from loyalty_service.members import api as members_api

__all__ = ["CheckInRefused", "Visit", "check_in", "policy_of"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Visit:
    """A validated CheckIn request."""

    member_id: str
    challenge_id: str
    place_id: str
    lat: float
    lon: float
    accuracy_m: float
    device_time: datetime


class CheckInRefused(FailedPrecondition):
    """A refused check-in; `reason` is what the app shows (a RefusalReason name or a service reason)."""

    def __init__(self, *, reason: str, visit: Visit, detail: str = "") -> None:
        super().__init__(
            f"check-in refused: {reason}" + (f" ({detail})" if detail else ""),
            reason=reason,
            metadata={"challenge_id": visit.challenge_id, "place_id": visit.place_id},
        )
        self.visit = visit


def policy_of(settings: Settings) -> CheckInPolicy:
    return CheckInPolicy(
        max_accuracy_m=settings.checkin_max_accuracy_m,
        hourly_limit=settings.checkin_hourly_limit,
        max_speed_kmh=settings.checkin_max_speed_kmh,
        position_retention_s=int(settings.checkin_position_retention_hours * 3600),
    )


async def _targets(
    conn: AsyncConnection, visit: Visit, now: datetime
) -> tuple[ChallengeRow, PlaceRow, Period]:
    challenge = await store.get_challenge(conn, visit.challenge_id)
    if challenge is None:
        raise NotFound("challenge", visit.challenge_id)
    place = await store.get_place(conn, visit.place_id)
    if place is None or visit.place_id not in challenge.spec.place_ids:
        raise NotFound("place", visit.place_id, f"place {visit.place_id!r} is not a place of this challenge")
    period = period_at(challenge.spec, now)
    if period is None:
        raise CheckInRefused(reason="CHALLENGE_NOT_OPEN", visit=visit)
    if place.archived_at is not None:
        raise CheckInRefused(reason="PLACE_CLOSED", visit=visit, detail="archived")
    return challenge, place, period


async def check_in(
    conn: AsyncConnection, visit: Visit, *, now: datetime, policy: CheckInPolicy, credential_id: str
) -> challenges_pb2.CheckInResponse:
    await ledger_api.lock_ledger(conn, visit.member_id)
    challenge, place, period = await _targets(conn, visit, now)
    key = (challenge.challenge_id, period.index)
    visited = (await member_store.visited_places(conn, visit.member_id, [key]))[key]
    retention = timedelta(seconds=policy.position_retention_s)
    attempt = CheckInAttempt(
        place_lat=place.spec.lat,
        place_lon=place.spec.lon,
        place_radius_m=place.spec.radius_m,
        lat=visit.lat,
        lon=visit.lon,
        accuracy_m=visit.accuracy_m,
        device_time=visit.device_time,
        server_time=now,
        has_location_consent=await members_api.has_consent(
            conn, visit.member_id, members_api.ConsentPurpose.LOCATION
        ),
        previous=await member_store.last_position(conn, visit.member_id, since=now - retention),
        already_checked_in_this_period=visit.place_id in visited,
        checkins_last_hour=await member_store.count_attempts_since(
            conn, visit.member_id, now - timedelta(hours=1)
        ),
    )
    verdict = evaluate_checkin(attempt, policy)
    if verdict.reason is not None:
        raise CheckInRefused(reason=verdict.reason.value, visit=visit)
    assert verdict.distance_band is not None
    assert verdict.accuracy_band is not None
    progress = (await member_store.progress_rows(conn, visit.member_id, [key], lock=True)).get(key)
    if progress is not None and progress.completed_at is not None:
        raise CheckInRefused(reason="CHALLENGE_COMPLETED", visit=visit)
    if not is_open_at(place.spec, now):
        raise CheckInRefused(reason="PLACE_CLOSED", visit=visit, detail="outside opening hours")
    if challenge.spec.requires_purchase and not await _bought_today(conn, visit.member_id, place, now):
        raise CheckInRefused(reason="PURCHASE_REQUIRED", visit=visit)
    checkin_id = await member_store.insert_checkin(
        conn,
        member_id=visit.member_id,
        challenge_id=challenge.challenge_id,
        period=period.index,
        place_id=visit.place_id,
        distance_band=verdict.distance_band.value,
        accuracy_band=verdict.accuracy_band.value,
        now=now,
    )
    assert checkin_id is not None, "the member's ledger lock serialises check-ins"
    # The challenge's leaderboard counts accepted check-ins (README "Leaderboards").
    await games_api.add_leaderboard_score(
        conn,
        member_id=visit.member_id,
        scope="challenge",
        subject_id=challenge.challenge_id,
        points=1,
        now=now,
    )
    await member_store.save_position(conn, member_id=visit.member_id, lat=visit.lat, lon=visit.lon, now=now)
    await member_store.insert_attempt(
        conn, member_id=visit.member_id, place_id=visit.place_id, outcome="ACCEPTED", now=now
    )
    response = challenges_pb2.CheckInResponse(
        checkin_id=checkin_id,
        distance_band=verdict.distance_band.value,
        accuracy_band=verdict.accuracy_band.value,
    )
    visited = [*visited, visit.place_id]
    completed_at, completion = None, None
    if len(visited) >= challenge.spec.goal_places:
        done = await grant_completion(
            conn,
            member_id=visit.member_id,
            challenge_id=challenge.challenge_id,
            spec=challenge.spec,
            period=period.index,
            now=now,
            credential_id=credential_id,
        )
        response.completion.CopyFrom(done)
        completed_at, completion = now, _completion_json(done)
    await member_store.upsert_progress(
        conn,
        member_id=visit.member_id,
        challenge_id=challenge.challenge_id,
        period=period.index,
        visited=len(visited),
        completed_at=completed_at,
        completion=completion,
        now=now,
    )
    stored = member_store.ProgressRow(
        challenge_id=challenge.challenge_id,
        period=period.index,
        visited=len(visited),
        completed_at=completed_at,
        completion=completion,
    )
    response.progress.CopyFrom(progress_message(challenge, period, stored, visited))
    progressed = challenges_pb2.ChallengeProgressed(place_id=visit.place_id, progress=response.progress)
    await outbox.append(
        conn,
        member_id=visit.member_id,
        occurred_at=now,
        payload=events_pb2.EventPayload(challenge_progress=progressed),
    )
    return response


async def _bought_today(conn: AsyncConnection, member_id: str, place: PlaceRow, now: datetime) -> bool:
    if place.spec.store_id is None:
        return False
    since, until = local_day(place.spec.time_zone, now)
    return await ledger_api.has_purchase_at_store(
        conn, member_id=member_id, store_id=place.spec.store_id, since=since, until=until
    )


def _completion_json(done: challenges_pb2.ChallengeCompletion) -> dict[str, object]:
    return {
        "points": done.points,
        "ledger_entry_id": done.ledger_entry_id,
        "voucher_id": done.voucher_id,
        "draw_entry_ids": list(done.draw_entry_ids),
        "stamp": done.stamp,
        "skipped": list(done.skipped),
    }
