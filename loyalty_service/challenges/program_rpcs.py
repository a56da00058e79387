"""The back-office challenge RPCs of ProgramService (places and challenges), mixed into
`ProgramServicer` as `DrawProgramRpcs` is. Every change is audited."""

from __future__ import annotations

from google.protobuf.message import Message
from loyalty.v1 import challenges_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import audit
from loyalty_service.auth.principal import current_principal
from loyalty_service.challenges import store
from loyalty_service.challenges.messages import (
    challenge_message,
    place_message,
    read_challenge_spec,
    read_place_spec,
)
from loyalty_service.challenges.rules import ChallengeSpec, spec_changes_after_open
from loyalty_service.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from loyalty_service.grpc_types import Context
from loyalty_service.runtime import Runtime
from loyalty_service.validation import Checks

__all__ = ["ChallengeProgramRpcs"]

_PAGE_DEFAULT = 100
_PAGE_MAX = 1000


async def _check_places(conn: AsyncConnection, spec: ChallengeSpec) -> None:
    """Every place exists, is live, and has a store when a purchase is required."""
    missing = await store.missing_places(conn, spec.place_ids)
    violations = [FieldViolation("spec.place_ids", f"no live place {p}") for p in missing]
    if spec.requires_purchase and not violations:
        for place_id in spec.place_ids:
            place = await store.get_place(conn, place_id)
            if place is not None and place.spec.store_id is None:
                violations.append(
                    FieldViolation("spec.requires_purchase", f"place {place_id} has no store_id")
                )
    if violations:
        raise InvalidArgument(violations)


class ChallengeProgramRpcs:
    _rt: Runtime

    async def _audit(
        self,
        conn: AsyncConnection,
        action: str,
        kind: str,
        subject_id: str,
        before: Message | None,
        after: Message,
    ) -> None:
        await audit.record(
            conn,
            principal=current_principal(),
            action=action,
            subject_type=kind,
            subject_id=subject_id,
            before=None if before is None else audit.message_dict(before),
            after=audit.message_dict(after),
            now=self._rt.now(),
        )

    async def CreatePlace(
        self, request: challenges_pb2.CreatePlaceRequest, context: Context
    ) -> challenges_pb2.CreatePlaceResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        spec = read_place_spec(checks, request.spec, present=request.HasField("spec"))
        checks.done()
        assert spec is not None

        async def work(conn: AsyncConnection) -> challenges_pb2.CreatePlaceResponse:
            place = place_message(await store.insert_place(conn, spec=spec, now=self._rt.now()))
            await self._audit(conn, "place.create", "place", place.place_id, None, place)
            return challenges_pb2.CreatePlaceResponse(place=place)

        return await self._rt.write(
            method="CreatePlace",
            request=request,
            key=key,
            response_type=challenges_pb2.CreatePlaceResponse,
            work=work,
        )

    async def UpdatePlace(
        self, request: challenges_pb2.UpdatePlaceRequest, context: Context
    ) -> challenges_pb2.UpdatePlaceResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        place_id = checks.entity_id("place_id", request.place_id, "plc")
        spec = read_place_spec(checks, request.spec, present=request.HasField("spec"))
        checks.done()
        assert spec is not None

        async def work(conn: AsyncConnection) -> challenges_pb2.UpdatePlaceResponse:
            before = await store.get_place(conn, place_id, lock=True)
            row = await store.update_place(conn, place_id=place_id, spec=spec, now=self._rt.now())
            if row is None or before is None:
                raise NotFound("place", place_id)
            place = place_message(row)
            await self._audit(conn, "place.update", "place", place_id, place_message(before), place)
            return challenges_pb2.UpdatePlaceResponse(place=place)

        return await self._rt.write(
            method="UpdatePlace",
            request=request,
            key=key,
            response_type=challenges_pb2.UpdatePlaceResponse,
            work=work,
        )

    async def ArchivePlace(
        self, request: challenges_pb2.ArchivePlaceRequest, context: Context
    ) -> challenges_pb2.ArchivePlaceResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        place_id = checks.entity_id("place_id", request.place_id, "plc")
        checks.done()

        async def work(conn: AsyncConnection) -> challenges_pb2.ArchivePlaceResponse:
            before = await store.get_place(conn, place_id, lock=True)
            row = await store.archive_place(conn, place_id=place_id, now=self._rt.now())
            if row is None or before is None:
                raise NotFound("place", place_id)
            place = place_message(row)
            await self._audit(conn, "place.archive", "place", place_id, place_message(before), place)
            return challenges_pb2.ArchivePlaceResponse(place=place)

        return await self._rt.write(
            method="ArchivePlace",
            request=request,
            key=key,
            response_type=challenges_pb2.ArchivePlaceResponse,
            work=work,
        )

    async def ListPlaces(
        self, request: challenges_pb2.ListPlacesRequest, context: Context
    ) -> challenges_pb2.ListPlacesResponse:
        checks = Checks()
        size = request.page_size or _PAGE_DEFAULT
        checks.count("page_size", size, minimum=1, maximum=_PAGE_MAX)
        after = checks.entity_id("page_token", request.page_token, "plc", required=False)
        checks.done()

        async def read(conn: AsyncConnection) -> list[store.PlaceRow]:
            return await store.list_places(
                conn, after=after, limit=size, include_archived=request.include_archived
            )

        rows = await self._rt.read(read)
        return challenges_pb2.ListPlacesResponse(
            places=[place_message(r) for r in rows],
            next_page_token=rows[-1].place_id if len(rows) == size else "",
        )

    async def CreateChallenge(
        self, request: challenges_pb2.CreateChallengeRequest, context: Context
    ) -> challenges_pb2.CreateChallengeResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        spec = read_challenge_spec(checks, request.spec, present=request.HasField("spec"))
        checks.done()
        assert spec is not None

        async def work(conn: AsyncConnection) -> challenges_pb2.CreateChallengeResponse:
            await _check_places(conn, spec)
            challenge = challenge_message(await store.insert_challenge(conn, spec=spec, now=self._rt.now()))
            await self._audit(conn, "challenge.create", "challenge", challenge.challenge_id, None, challenge)
            return challenges_pb2.CreateChallengeResponse(challenge=challenge)

        return await self._rt.write(
            method="CreateChallenge",
            request=request,
            key=key,
            response_type=challenges_pb2.CreateChallengeResponse,
            work=work,
        )

    async def UpdateChallenge(
        self, request: challenges_pb2.UpdateChallengeRequest, context: Context
    ) -> challenges_pb2.UpdateChallengeResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        challenge_id = checks.entity_id("challenge_id", request.challenge_id, "chl")
        spec = read_challenge_spec(checks, request.spec, present=request.HasField("spec"))
        checks.done()
        assert spec is not None

        async def work(conn: AsyncConnection) -> challenges_pb2.UpdateChallengeResponse:
            now = self._rt.now()
            before = await store.get_challenge(conn, challenge_id, lock=True)
            if before is None:
                raise NotFound("challenge", challenge_id)
            fixed = spec_changes_after_open(before.spec, spec) if now >= before.spec.opens_at else []
            if fixed:
                raise FailedPrecondition(
                    f"challenge {challenge_id} has opened: {', '.join(fixed)} can no longer change",
                    reason="CHALLENGE_ALREADY_OPEN",
                    metadata={"challenge_id": challenge_id, "fields": ",".join(fixed)},
                )
            await _check_places(conn, spec)
            row = await store.update_challenge(conn, challenge_id=challenge_id, spec=spec, now=now)
            challenge = challenge_message(row)
            await self._audit(
                conn, "challenge.update", "challenge", challenge_id, challenge_message(before), challenge
            )
            return challenges_pb2.UpdateChallengeResponse(challenge=challenge)

        return await self._rt.write(
            method="UpdateChallenge",
            request=request,
            key=key,
            response_type=challenges_pb2.UpdateChallengeResponse,
            work=work,
        )

    async def ListChallenges(
        self, request: challenges_pb2.ListChallengesRequest, context: Context
    ) -> challenges_pb2.ListChallengesResponse:
        rows = await self._rt.read(lambda conn: store.list_challenges(conn))
        return challenges_pb2.ListChallengesResponse(challenges=[challenge_message(r) for r in rows])
