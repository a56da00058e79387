"""The back-office draw RPCs of ProgramService (CreateDraw, UpdateDraw, ListAllDraws), mixed into
`ProgramServicer` as `EarningRuleRpcs` is.

Creation draws the secret seed and publishes its commitment at once; an update (only before the window
opens) keeps both, so what was committed to never changes.
"""

from __future__ import annotations

from loyalty.v1 import draws_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import audit
from loyalty_service.auth.principal import current_principal
from loyalty_service.draws import domain, store
from loyalty_service.draws.messages import draw_message, read_spec
from loyalty_service.errors import FailedPrecondition, NotFound
from loyalty_service.grpc_types import Context
from loyalty_service.kernel.ids import new_id
from loyalty_service.runtime import Runtime
from loyalty_service.validation import Checks

__all__ = ["DrawProgramRpcs"]


class DrawProgramRpcs:
    _rt: Runtime

    async def CreateDraw(
        self, request: draws_pb2.CreateDrawRequest, context: Context
    ) -> draws_pb2.CreateDrawResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        spec = read_spec(checks, request.spec, present=request.HasField("spec"), now=self._rt.now())
        checks.done()
        assert spec is not None

        async def work(conn: AsyncConnection) -> draws_pb2.CreateDrawResponse:
            now = self._rt.now()
            seed = domain.new_seed()
            draw = await store.insert_draw(
                conn, draw_id=new_id("drw"), spec=spec, seed=seed, commitment=domain.commitment(seed), now=now
            )
            message = draw_message(draw, now=now)
            await audit.record(
                conn,
                principal=current_principal(),
                action="draw.create",
                subject_type="draw",
                subject_id=draw.draw_id,
                before=None,
                after=audit.message_dict(message),
                now=now,
            )
            return draws_pb2.CreateDrawResponse(draw=message)

        return await self._rt.write(
            method="CreateDraw",
            request=request,
            key=key,
            response_type=draws_pb2.CreateDrawResponse,
            work=work,
        )

    async def UpdateDraw(
        self, request: draws_pb2.UpdateDrawRequest, context: Context
    ) -> draws_pb2.UpdateDrawResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        draw_id = checks.entity_id("draw_id", request.draw_id, "drw")
        spec = read_spec(checks, request.spec, present=request.HasField("spec"), now=self._rt.now())
        checks.done()
        assert spec is not None

        async def work(conn: AsyncConnection) -> draws_pb2.UpdateDrawResponse:
            now = self._rt.now()
            draw = await store.get_draw(conn, draw_id, lock="update")
            if draw is None:
                raise NotFound("draw", draw_id)
            if now >= draw.spec.opens_at:
                raise FailedPrecondition(
                    f"draw {draw_id} opened at {draw.spec.opens_at.isoformat()}: it can no longer change",
                    reason="DRAW_ALREADY_OPEN",
                    metadata={"draw_id": draw_id},
                )
            updated = draw_message(
                await store.update_spec(conn, draw_id=draw_id, spec=spec, now=now), now=now
            )
            await audit.record(
                conn,
                principal=current_principal(),
                action="draw.update",
                subject_type="draw",
                subject_id=draw_id,
                before=audit.message_dict(draw_message(draw, now=now)),
                after=audit.message_dict(updated),
                now=now,
            )
            return draws_pb2.UpdateDrawResponse(draw=updated)

        return await self._rt.write(
            method="UpdateDraw",
            request=request,
            key=key,
            response_type=draws_pb2.UpdateDrawResponse,
            work=work,
        )

    async def ListAllDraws(
        self, request: draws_pb2.ListAllDrawsRequest, context: Context
    ) -> draws_pb2.ListAllDrawsResponse:
        now = self._rt.now()
        rows = await self._rt.read(lambda conn: store.list_draws(conn))
        return draws_pb2.ListAllDrawsResponse(draws=[draw_message(r, now=now) for r in rows])
