"""Places, challenges, check-ins and progress: generated messages <-> the client's dataclasses, both
directions."""

from __future__ import annotations

from loyalty.v1 import challenges_pb2

from loyalty_clients import _challenge_draw_models as cd
from loyalty_clients._convert import optional_timestamp, timestamp, utc, when


def place_spec_message(x: cd.PlaceSpec) -> challenges_pb2.PlaceSpec:
    return challenges_pb2.PlaceSpec(
        name=x.name,
        latitude=x.latitude,
        longitude=x.longitude,
        radius_m=x.radius_m,
        store_id=x.store_id,
        time_zone=x.time_zone,
        opening_hours=[
            challenges_pb2.OpeningHours(
                day_of_week=h.day_of_week, opens_minute=h.opens_minute, closes_minute=h.closes_minute
            )
            for h in x.opening_hours
        ],
    )


def place_spec(x: challenges_pb2.PlaceSpec) -> cd.PlaceSpec:
    return cd.PlaceSpec(
        name=x.name,
        latitude=x.latitude,
        longitude=x.longitude,
        radius_m=x.radius_m,
        store_id=x.store_id,
        time_zone=x.time_zone,
        opening_hours=tuple(
            cd.OpeningHours(
                day_of_week=h.day_of_week, opens_minute=h.opens_minute, closes_minute=h.closes_minute
            )
            for h in x.opening_hours
        ),
    )


def place(x: challenges_pb2.Place) -> cd.Place:
    return cd.Place(
        place_id=x.place_id,
        spec=place_spec(x.spec),
        created_at=when(x, "created_at"),
        updated_at=when(x, "updated_at"),
        archived_at=when(x, "archived_at"),
    )


def place_page(x: challenges_pb2.ListPlacesResponse) -> cd.PlacePage:
    return cd.PlacePage(places=tuple(place(p) for p in x.places), next_page_token=x.next_page_token)


def challenge_spec_message(x: cd.ChallengeSpec) -> challenges_pb2.ChallengeSpec:
    return challenges_pb2.ChallengeSpec(
        name=x.name,
        description=x.description,
        opens_at=timestamp(x.opens_at),
        closes_at=optional_timestamp(x.closes_at),
        place_ids=x.place_ids,
        goal_places=x.goal_places,
        requires_purchase=x.requires_purchase,
        repeat_period_days=x.repeat_period_days,
        grant=challenges_pb2.ChallengeGrant(
            points=x.grant.points, reward_id=x.grant.reward_id, stamp=x.grant.stamp, draw_id=x.grant.draw_id
        ),
    )


def challenge_spec(x: challenges_pb2.ChallengeSpec) -> cd.ChallengeSpec:
    return cd.ChallengeSpec(
        name=x.name,
        description=x.description,
        opens_at=utc(x.opens_at),
        closes_at=when(x, "closes_at"),
        place_ids=tuple(x.place_ids),
        goal_places=x.goal_places,
        requires_purchase=x.requires_purchase,
        repeat_period_days=x.repeat_period_days,
        grant=cd.ChallengeGrant(
            points=x.grant.points, reward_id=x.grant.reward_id, stamp=x.grant.stamp, draw_id=x.grant.draw_id
        ),
    )


def challenge(x: challenges_pb2.Challenge) -> cd.Challenge:
    return cd.Challenge(
        challenge_id=x.challenge_id,
        spec=challenge_spec(x.spec),
        created_at=when(x, "created_at"),
        updated_at=when(x, "updated_at"),
    )


def challenge_progress(x: challenges_pb2.ChallengeProgress) -> cd.ChallengeProgress:
    return cd.ChallengeProgress(
        challenge_id=x.challenge_id,
        period=x.period,
        period_starts_at=when(x, "period_starts_at"),
        period_ends_at=when(x, "period_ends_at"),
        visited_place_ids=tuple(x.visited_place_ids),
        goal_places=x.goal_places,
        completed_at=when(x, "completed_at"),
    )


def _progress_of(
    x: challenges_pb2.NearbyChallenge
    | challenges_pb2.CheckInResponse
    | challenges_pb2.GetChallengeProgressResponse,
) -> cd.ChallengeProgress | None:
    return challenge_progress(x.progress) if x.HasField("progress") else None


def _nearby_place(x: challenges_pb2.NearbyPlace) -> cd.NearbyPlace:
    return cd.NearbyPlace(
        place_id=x.place_id,
        name=x.name,
        latitude=x.latitude,
        longitude=x.longitude,
        radius_m=x.radius_m,
        distance_m=x.distance_m,
        visited=x.visited,
        open_now=x.open_now,
    )


def nearby_challenge(x: challenges_pb2.NearbyChallenge) -> cd.NearbyChallenge:
    return cd.NearbyChallenge(
        challenge=challenge(x.challenge),
        places=tuple(_nearby_place(p) for p in x.places),
        progress=_progress_of(x),
    )


def _completion(x: challenges_pb2.ChallengeCompletion) -> cd.ChallengeCompletion:
    return cd.ChallengeCompletion(
        challenge_id=x.challenge_id,
        period=x.period,
        completed_at=when(x, "completed_at"),
        points=x.points,
        ledger_entry_id=x.ledger_entry_id,
        voucher_id=x.voucher_id,
        draw_entry_ids=tuple(x.draw_entry_ids),
        stamp=x.stamp,
        skipped=tuple(x.skipped),
    )


def check_in_result(x: challenges_pb2.CheckInResponse) -> cd.CheckInResult:
    return cd.CheckInResult(
        checkin_id=x.checkin_id,
        distance_band=x.distance_band,
        accuracy_band=x.accuracy_band,
        progress=_progress_of(x),
        completion=_completion(x.completion) if x.HasField("completion") else None,
    )


def challenge_standing(x: challenges_pb2.GetChallengeProgressResponse) -> cd.ChallengeStanding:
    return cd.ChallengeStanding(
        challenge=challenge(x.challenge) if x.HasField("challenge") else None, progress=_progress_of(x)
    )
