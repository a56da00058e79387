"""PassportService: the member's progress per stamp, with when and where each was earned."""

from __future__ import annotations

from typing import Any

from loyalty.v1 import passports_pb2, passports_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.auth.principal import current_principal
from loyalty_service.common_messages import member_of_caller
from loyalty_service.errors import NotFound
from loyalty_service.grpc_types import Context
from loyalty_service.passports import privacy as _privacy  # noqa: F401  (registers the export)
from loyalty_service.passports import store
from loyalty_service.passports.api import stamp_progress
from loyalty_service.passports.specs import passport_message
from loyalty_service.runtime import Runtime
from loyalty_service.validation import Checks

__all__ = ["PassportServicer"]


async def _progress(conn: AsyncConnection, row: Any, member_id: str) -> passports_pb2.PassportProgress:
    passport = passport_message(str(row.passport_id), dict(row.spec), row.created_at, row.updated_at)
    cycle, completions = await store.member_state(conn, member_id=member_id, passport_id=passport.passport_id)
    held = {
        r.stamp_id: r
        for r in await store.stamps_of(
            conn, member_id=member_id, passport_id=passport.passport_id, cycle=cycle
        )
    }
    return passports_pb2.PassportProgress(
        passport=passport,
        cycle=cycle,
        completions=completions,
        stamps=[stamp_progress(s, held.get(s.stamp_id)) for s in passport.spec.stamps],
    )


class PassportServicer(passports_pb2_grpc.PassportServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def ListPassports(
        self, request: passports_pb2.ListPassportsRequest, context: Context
    ) -> passports_pb2.ListPassportsResponse:
        checks = Checks()
        member_id = member_of_caller(checks, request.member_id)
        checks.done()
        current_principal().require_member(member_id)
        now = self._rt.now()

        async def read(conn: AsyncConnection) -> passports_pb2.ListPassportsResponse:
            rows = await store.list_passports(conn, open_at=now)
            return passports_pb2.ListPassportsResponse(
                passports=[await _progress(conn, r, member_id) for r in rows]
            )

        return await self._rt.read(read)

    async def GetPassport(
        self, request: passports_pb2.GetPassportRequest, context: Context
    ) -> passports_pb2.GetPassportResponse:
        checks = Checks()
        member_id = member_of_caller(checks, request.member_id)
        passport_id = checks.entity_id("passport_id", request.passport_id, "psp")
        checks.done()
        current_principal().require_member(member_id)

        async def read(conn: AsyncConnection) -> passports_pb2.GetPassportResponse:
            row = await store.get_passport(conn, passport_id)
            if row is None:
                raise NotFound("passport", passport_id)
            return passports_pb2.GetPassportResponse(progress=await _progress(conn, row, member_id))

        return await self._rt.read(read)
