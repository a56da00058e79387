"""ChallengeService (member token): nearby challenges, check-ins, progress.

A refused check-in rolls its transaction back; the attempt is then recorded in a short transaction of its
own (it counts towards the hourly limit, so repeated tries cannot probe the radius or the speed limit)
and counted in `loyalty_checkins_refused_total{reason}`.
"""

from __future__ import annotations

from datetime import datetime

from loyalty.v1 import challenges_pb2, challenges_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import metrics
from loyalty_service.auth.principal import PrincipalKind, current_principal
from loyalty_service.challenges import member_store, store
from loyalty_service.challenges.messages import challenge_message, check_position, progress_message
from loyalty_service.challenges.nearby import NEARBY_DEFAULT_M, NEARBY_MAX_M, list_nearby
from loyalty_service.challenges.rules import period_at
from loyalty_service.challenges.visits import CheckInRefused, Visit, check_in, policy_of
from loyalty_service.db.transaction import in_transaction
from loyalty_service.errors import FailedPrecondition, NotFound, PermissionDenied
from loyalty_service.grpc_types import Context
from loyalty_service.runtime import Runtime
from loyalty_service.validation import Checks

__all__ = ["ChallengeServicer"]

_MAX_CHALLENGES_DEFAULT = 20
_MAX_CHALLENGES_MAX = 100
_ACCURACY_M_MAX = 100_000.0


def _member_id() -> str:
    principal = current_principal()
    if principal.kind is not PrincipalKind.MEMBER or principal.member_id is None:
        raise PermissionDenied("challenges are for a member token")
    return principal.member_id


class ChallengeServicer(challenges_pb2_grpc.ChallengeServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._policy = policy_of(runtime.settings)

    async def ListNearbyChallenges(
        self, request: challenges_pb2.ListNearbyChallengesRequest, context: Context
    ) -> challenges_pb2.ListNearbyChallengesResponse:
        member_id = _member_id()
        checks = Checks()
        check_position(checks, request.latitude, request.longitude)
        within_m = request.within_m or NEARBY_DEFAULT_M
        checks.count("within_m", within_m, minimum=1, maximum=NEARBY_MAX_M)
        limit = request.max_challenges or _MAX_CHALLENGES_DEFAULT
        checks.count("max_challenges", limit, minimum=1, maximum=_MAX_CHALLENGES_MAX)
        checks.done()
        now = self._rt.now()

        async def read(conn: AsyncConnection) -> challenges_pb2.ListNearbyChallengesResponse:
            return await list_nearby(
                conn,
                member_id=member_id,
                lat=request.latitude,
                lon=request.longitude,
                within_m=within_m,
                max_challenges=limit,
                now=now,
            )

        return await self._rt.read(read)

    async def CheckIn(
        self, request: challenges_pb2.CheckInRequest, context: Context
    ) -> challenges_pb2.CheckInResponse:
        member_id = _member_id()
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        checks.entity_id("challenge_id", request.challenge_id, "chl")
        checks.entity_id("place_id", request.place_id, "plc")
        check_position(checks, request.latitude, request.longitude)
        accuracy_ok = 0 <= request.accuracy_m <= _ACCURACY_M_MAX  # False for NaN
        if not accuracy_ok:
            checks.fail("accuracy_m", f"metres, a finite number in [0, {_ACCURACY_M_MAX:.0f}]")
        device_time = checks.timestamp(
            "device_time", request.device_time, present=request.HasField("device_time")
        )
        checks.done()
        assert device_time is not None
        visit = Visit(
            member_id=member_id,
            challenge_id=request.challenge_id,
            place_id=request.place_id,
            lat=request.latitude,
            lon=request.longitude,
            accuracy_m=request.accuracy_m,
            device_time=device_time,
        )
        credential_id = current_principal().credential_id

        async def work(conn: AsyncConnection) -> challenges_pb2.CheckInResponse:
            return await check_in(
                conn, visit, now=self._rt.now(), policy=self._policy, credential_id=credential_id
            )

        try:
            return await self._rt.write(
                method="CheckIn",
                request=request,
                key=key,
                response_type=challenges_pb2.CheckInResponse,
                work=work,
            )
        except CheckInRefused as refused:
            await self._record_refusal(refused, now=self._rt.now())
            raise

    async def _record_refusal(self, refused: CheckInRefused, *, now: datetime) -> None:
        async def record(conn: AsyncConnection) -> None:
            await member_store.insert_attempt(
                conn,
                member_id=refused.visit.member_id,
                place_id=refused.visit.place_id,
                outcome=refused.reason,
                now=now,
            )

        await in_transaction(self._rt.engine, record)
        metrics.CHECKINS_REFUSED.labels(reason=refused.reason).inc()

    async def GetChallengeProgress(
        self, request: challenges_pb2.GetChallengeProgressRequest, context: Context
    ) -> challenges_pb2.GetChallengeProgressResponse:
        member_id = _member_id()
        checks = Checks()
        challenge_id = checks.entity_id("challenge_id", request.challenge_id, "chl")
        checks.done()
        now = self._rt.now()

        async def read(conn: AsyncConnection) -> challenges_pb2.GetChallengeProgressResponse:
            challenge = await store.get_challenge(conn, challenge_id)
            if challenge is None:
                raise NotFound("challenge", challenge_id)
            period = period_at(challenge.spec, now)
            if period is None:
                raise FailedPrecondition(
                    f"challenge {challenge_id} is not open",
                    reason="CHALLENGE_NOT_OPEN",
                    metadata={"challenge_id": challenge_id},
                )
            key = (challenge_id, period.index)
            visited = (await member_store.visited_places(conn, member_id, [key]))[key]
            progress = (await member_store.progress_rows(conn, member_id, [key])).get(key)
            return challenges_pb2.GetChallengeProgressResponse(
                challenge=challenge_message(challenge),
                progress=progress_message(challenge, period, progress, visited),
            )

        return await self._rt.read(read)
