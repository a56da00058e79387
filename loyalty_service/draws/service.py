"""DrawService: list and read draws, enter directly, run (back office), read results.

Reads of a draw whose window has closed first freeze its entry list (a short write transaction), so the
digest is published by the first look after the close, and always before the run.
"""

from __future__ import annotations

from loyalty.v1 import draws_pb2, draws_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import audit
from loyalty_service.auth.principal import PrincipalKind, current_principal
from loyalty_service.common_messages import member_of_caller
from loyalty_service.db.transaction import in_transaction
from loyalty_service.draws import api, domain, running, store
from loyalty_service.draws.messages import draw_message, result_message
from loyalty_service.draws.rules import ENTRIES_PER_CALL_MAX, SourceType
from loyalty_service.draws.store import DrawRow
from loyalty_service.errors import FailedPrecondition, NotFound
from loyalty_service.grpc_types import Context
from loyalty_service.kernel.ids import new_id
from loyalty_service.ledger import api as ledger_api
from loyalty_service.members import api as members_api
from loyalty_service.runtime import Runtime
from loyalty_service.validation import Checks

__all__ = ["DrawServicer", "fresh_draw"]


async def fresh_draw(rt: Runtime, draw_id: str) -> DrawRow:
    """The draw, frozen first if its window has closed; NOT_FOUND."""
    draw = await rt.read(lambda conn: store.get_draw(conn, draw_id))
    if draw is None:
        raise NotFound("draw", draw_id)
    if draw.frozen_at is None and rt.now() >= draw.spec.closes_at:

        async def freeze(conn: AsyncConnection) -> DrawRow:
            return await running.freeze_if_closed(conn, draw_id, now=rt.now())

        draw = await in_transaction(rt.engine, freeze)
    return draw


class DrawServicer(draws_pb2_grpc.DrawServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def ListDraws(
        self, request: draws_pb2.ListDrawsRequest, context: Context
    ) -> draws_pb2.ListDrawsResponse:
        now = self._rt.now()
        rows = await self._rt.read(lambda conn: store.list_draws(conn, opened_by=now))
        draws = [await fresh_draw(self._rt, r.draw_id) if r.frozen_at is None else r for r in rows]
        return draws_pb2.ListDrawsResponse(draws=[draw_message(d, now=now) for d in draws])

    async def GetDraw(self, request: draws_pb2.GetDrawRequest, context: Context) -> draws_pb2.GetDrawResponse:
        checks = Checks()
        draw_id = checks.entity_id("draw_id", request.draw_id, "drw")
        checks.done()
        draw = await fresh_draw(self._rt, draw_id)
        response = draws_pb2.GetDrawResponse(draw=draw_message(draw, now=self._rt.now()))
        principal = current_principal()
        if principal.kind is PrincipalKind.MEMBER:
            assert principal.member_id is not None
            member_id = principal.member_id
            mine = await self._rt.read(lambda conn: store.member_row(conn, draw_id, member_id))
            response.my_entry_count = 0 if mine is None else mine.entry_count
        return response

    async def EnterDraw(
        self, request: draws_pb2.EnterDrawRequest, context: Context
    ) -> draws_pb2.EnterDrawResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        draw_id = checks.entity_id("draw_id", request.draw_id, "drw")
        member_id = member_of_caller(checks, request.member_id)
        wanted = request.entries or 1
        checks.count("entries", wanted, minimum=1, maximum=ENTRIES_PER_CALL_MAX)
        checks.done()
        principal = current_principal()
        principal.require_member(member_id)

        async def work(conn: AsyncConnection) -> draws_pb2.EnterDrawResponse:
            now = self._rt.now()
            await members_api.require_member(conn, members_api.MemberKey(member_id=member_id))
            draw = await api.open_draw(conn, draw_id, now=now)
            direct = draw.spec.sources.direct
            if not direct.enabled:
                raise FailedPrecondition(
                    f"draw {draw_id} takes no direct entries",
                    reason="DRAW_SOURCE_NOT_ACCEPTED",
                    metadata={"draw_id": draw_id, "source_type": "direct"},
                )
            source_ref = new_id("den")  # this call, as the source of its entries
            ids, counters = await api.add_entries(
                conn,
                draw,
                member_id=member_id,
                count=wanted,
                source_type=SourceType.DIRECT,
                source_ref=source_ref,
                now=now,
                direct=wanted,
            )
            if counters.direct_entries > direct.max_entries_per_member:
                raise FailedPrecondition(
                    f"at most {direct.max_entries_per_member} direct entries per member",
                    reason="DRAW_ENTRY_LIMIT_REACHED",
                    metadata={
                        "member_id": member_id,
                        "draw_id": draw_id,
                        "limit": direct.max_entries_per_member,
                        "entries": counters.direct_entries - wanted,
                    },
                )
            cost = direct.cost_points * wanted
            if cost:
                cause = ledger_api.Cause(
                    channel="app" if principal.kind is PrincipalKind.MEMBER else "",
                    source_type="draw_entry",
                    source_ref=source_ref,
                    reason=f"{wanted} entries to draw {draw.spec.name}"[:256],
                    occurred_at=now,
                )
                await ledger_api.debit_points(
                    conn,
                    member_id=member_id,
                    points=cost,
                    entry_type=ledger_api.EntryType.DRAW_ENTRY,
                    cause=cause,
                    now=now,
                    credential_id=principal.credential_id,
                )
            return draws_pb2.EnterDrawResponse(
                entry_ids=ids, points_spent=cost, direct_entries=counters.direct_entries
            )

        return await self._rt.write(
            method="EnterDraw", request=request, key=key, response_type=draws_pb2.EnterDrawResponse, work=work
        )

    async def RunDraw(self, request: draws_pb2.RunDrawRequest, context: Context) -> draws_pb2.RunDrawResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        draw_id = checks.entity_id("draw_id", request.draw_id, "drw")
        beacon = (
            checks.text("beacon", request.beacon, max_length=1024) if request.HasField("beacon") else None
        )
        checks.done()
        await fresh_draw(self._rt, draw_id)  # the digest is committed before the seed comes out
        credential_id = current_principal().credential_id

        async def work(conn: AsyncConnection) -> draws_pb2.RunDrawResponse:
            now = self._rt.now()
            if await running.run_draw(conn, draw_id, beacon=beacon, now=now, credential_id=credential_id):
                await audit.record(
                    conn,
                    principal=current_principal(),
                    action="draw.run",
                    subject_type="draw",
                    subject_id=draw_id,
                    before=None,
                    after={"beacon": beacon},
                    now=now,
                )
            draw = await store.get_draw(conn, draw_id)
            assert draw is not None
            assert draw.drawn_at is not None
            result = await running.load_result(conn, draw_id)
            return draws_pb2.RunDrawResponse(
                result=result_message(result, drawn_at=draw.drawn_at, include_entries=False)
            )

        return await self._rt.write(
            method="RunDraw", request=request, key=key, response_type=draws_pb2.RunDrawResponse, work=work
        )

    async def GetDrawResult(
        self, request: draws_pb2.GetDrawResultRequest, context: Context
    ) -> draws_pb2.GetDrawResultResponse:
        checks = Checks()
        draw_id = checks.entity_id("draw_id", request.draw_id, "drw")
        checks.done()
        draw = await fresh_draw(self._rt, draw_id)
        if draw.drawn_at is None:
            raise FailedPrecondition(
                f"draw {draw_id} has not been run", reason="DRAW_NOT_RUN", metadata={"draw_id": draw_id}
            )
        drawn_at = draw.drawn_at
        result = await self._rt.read(lambda conn: running.load_result(conn, draw_id))
        response = draws_pb2.GetDrawResultResponse(
            result=result_message(result, drawn_at=drawn_at, include_entries=request.include_entries)
        )
        principal = current_principal()
        if principal.kind is PrincipalKind.MEMBER:
            assert principal.member_id is not None
            ref = domain.member_ref(draw.seed, principal.member_id)
            wins = [w for w in response.result.winners if w.member_ref == ref]
            response.my_outcome.CopyFrom(
                draws_pb2.MemberDrawOutcome(
                    member_ref=ref,
                    entry_count=sum(1 for e in result.entries if e.member_ref == ref),
                    won=bool(wins),
                    wins=wins,
                )
            )
        return response
