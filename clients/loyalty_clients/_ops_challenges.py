"""Geolocation challenges for the channel clients: nearby challenges, check-ins and progress (the mobile
app, with a member token), places and challenges (the back office).

Answers are the frozen dataclasses of `_challenge_draw_models.py`. A refused check-in raises the client's
FAILED_PRECONDITION exception whose `reason` is the refusal (e.g. "IMPOSSIBLE_TRAVEL").
"""

from __future__ import annotations

from datetime import datetime

from loyalty.v1 import challenges_pb2

from loyalty_clients import _convert as c
from loyalty_clients import _convert_challenges as convert
from loyalty_clients._base import ClientBase
from loyalty_clients._challenge_draw_models import (
    Challenge,
    ChallengeSpec,
    ChallengeStanding,
    CheckInResult,
    NearbyChallenge,
    Place,
    PlacePage,
    PlaceSpec,
)
from loyalty_clients._transport import new_idempotency_key

__all__ = ["ChallengeOffice", "MemberChallenges"]

CHALLENGES = "/loyalty.v1.ChallengeService/"
PROGRAM = "/loyalty.v1.ProgramService/"


class MemberChallenges(ClientBase):
    async def nearby_challenges(
        self, *, latitude: float, longitude: float, within_m: int = 0, max_challenges: int = 0
    ) -> tuple[NearbyChallenge, ...]:
        """Open challenges with places within `within_m` (0: 5 km), nearest first, with my progress.

        >>> nearby = await app.nearby_challenges(latitude=48.8606, longitude=2.3376)
        """
        request = challenges_pb2.ListNearbyChallengesRequest(
            latitude=latitude, longitude=longitude, within_m=within_m, max_challenges=max_challenges
        )
        answer = await self._transport.call(
            CHALLENGES + "ListNearbyChallenges", request, challenges_pb2.ListNearbyChallengesResponse
        )
        return tuple(convert.nearby_challenge(x) for x in answer.challenges)

    async def check_in(
        self,
        *,
        challenge_id: str,
        place_id: str,
        latitude: float,
        longitude: float,
        accuracy_m: float,
        device_time: datetime,
        idempotency_key: str | None = None,
    ) -> CheckInResult:
        """Check in at a place of a challenge (needs location consent).

        >>> done = await app.check_in(challenge_id=cid, place_id=pid, latitude=48.86, longitude=2.33,
        ...                           accuracy_m=12, device_time=datetime.now(UTC))
        """
        request = challenges_pb2.CheckInRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            challenge_id=challenge_id,
            place_id=place_id,
            latitude=latitude,
            longitude=longitude,
            accuracy_m=accuracy_m,
            device_time=c.timestamp(device_time),
        )
        answer = await self._transport.call(CHALLENGES + "CheckIn", request, challenges_pb2.CheckInResponse)
        return convert.check_in_result(answer)

    async def challenge_progress(self, *, challenge_id: str) -> ChallengeStanding:
        """The challenge and my progress in its current period.

        >>> progress = (await app.challenge_progress(challenge_id=cid)).progress
        """
        request = challenges_pb2.GetChallengeProgressRequest(challenge_id=challenge_id)
        answer = await self._transport.call(
            CHALLENGES + "GetChallengeProgress", request, challenges_pb2.GetChallengeProgressResponse
        )
        return convert.challenge_standing(answer)


class ChallengeOffice(ClientBase):
    async def create_place(self, *, spec: PlaceSpec, idempotency_key: str | None = None) -> Place:
        """Create a place to check in at.

        >>> place = await office.create_place(spec=PlaceSpec(name="Louvre", latitude=48.8606,
        ...                                                  longitude=2.3376, radius_m=150))
        """
        request = challenges_pb2.CreatePlaceRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), spec=convert.place_spec_message(spec)
        )
        answer = await self._transport.call(
            PROGRAM + "CreatePlace", request, challenges_pb2.CreatePlaceResponse
        )
        return convert.place(answer.place)

    async def update_place(
        self, *, place_id: str, spec: PlaceSpec, idempotency_key: str | None = None
    ) -> Place:
        """Replace a place's spec.

        >>> place = await office.update_place(place_id=place.place_id, spec=replace(place.spec, radius_m=300))
        """
        request = challenges_pb2.UpdatePlaceRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            place_id=place_id,
            spec=convert.place_spec_message(spec),
        )
        answer = await self._transport.call(
            PROGRAM + "UpdatePlace", request, challenges_pb2.UpdatePlaceResponse
        )
        return convert.place(answer.place)

    async def archive_place(self, *, place_id: str, idempotency_key: str | None = None) -> Place:
        """Archive a place: no check-ins there from now on.

        >>> await office.archive_place(place_id=place.place_id)
        """
        request = challenges_pb2.ArchivePlaceRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), place_id=place_id
        )
        answer = await self._transport.call(
            PROGRAM + "ArchivePlace", request, challenges_pb2.ArchivePlaceResponse
        )
        return convert.place(answer.place)

    async def list_places(
        self, *, page_size: int = 0, page_token: str = "", include_archived: bool = False
    ) -> PlacePage:
        """One page of places by id; pass `next_page_token` back for the next.

        >>> page = await office.list_places(page_size=100)
        """
        request = challenges_pb2.ListPlacesRequest(
            page_size=page_size, page_token=page_token, include_archived=include_archived
        )
        answer = await self._transport.call(
            PROGRAM + "ListPlaces", request, challenges_pb2.ListPlacesResponse
        )
        return convert.place_page(answer)

    async def create_challenge(self, *, spec: ChallengeSpec, idempotency_key: str | None = None) -> Challenge:
        """Create a challenge over some places.

        >>> challenge = await office.create_challenge(spec=ChallengeSpec(name="Visit", opens_at=now,
        ...     place_ids=(place.place_id,), goal_places=1, grant=ChallengeGrant(points=50)))
        """
        request = challenges_pb2.CreateChallengeRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            spec=convert.challenge_spec_message(spec),
        )
        answer = await self._transport.call(
            PROGRAM + "CreateChallenge", request, challenges_pb2.CreateChallengeResponse
        )
        return convert.challenge(answer.challenge)

    async def update_challenge(
        self, *, challenge_id: str, spec: ChallengeSpec, idempotency_key: str | None = None
    ) -> Challenge:
        """Replace a challenge's spec.

        >>> challenge = await office.update_challenge(challenge_id=cid, spec=replace(spec, goal_places=2))
        """
        request = challenges_pb2.UpdateChallengeRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            challenge_id=challenge_id,
            spec=convert.challenge_spec_message(spec),
        )
        answer = await self._transport.call(
            PROGRAM + "UpdateChallenge", request, challenges_pb2.UpdateChallengeResponse
        )
        return convert.challenge(answer.challenge)

    async def list_challenges(self) -> tuple[Challenge, ...]:
        """Every challenge.

        >>> challenges = await office.list_challenges()
        """
        answer = await self._transport.call(
            PROGRAM + "ListChallenges",
            challenges_pb2.ListChallengesRequest(),
            challenges_pb2.ListChallengesResponse,
        )
        return tuple(convert.challenge(x) for x in answer.challenges)
