"""Back-office passport RPCs of ProgramService (CreatePassport, UpdatePassport, ListAllPassports)."""

from __future__ import annotations

from google.protobuf.message import Message
from loyalty.v1 import passports_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import audit
from loyalty_service.auth.principal import current_principal
from loyalty_service.errors import NotFound
from loyalty_service.grpc_types import Context
from loyalty_service.kernel.ids import new_id
from loyalty_service.passports import store
from loyalty_service.passports.specs import passport_message, read_spec, spec_json, window_bounds
from loyalty_service.runtime import Runtime
from loyalty_service.validation import Checks

__all__ = ["PassportProgramRpcs"]


class PassportProgramRpcs:
    _rt: Runtime

    async def _save_passport(
        self,
        *,
        passport_id: str,
        spec: passports_pb2.PassportSpec,
        created: bool,
        method: str,
        request: Message,
        key: str,
    ) -> passports_pb2.Passport:
        async def work(conn: AsyncConnection) -> passports_pb2.CreatePassportResponse:
            now = self._rt.now()
            before: passports_pb2.Passport | None = None
            if not created:
                previous = await store.get_passport(conn, passport_id, lock=True)
                if previous is None:
                    raise NotFound("passport", passport_id)
                before = passport_message(
                    passport_id, dict(previous.spec), previous.created_at, previous.updated_at
                )
            opens_at, closes_at = window_bounds(spec)
            row = await store.save_passport(
                conn,
                passport_id=passport_id,
                spec=spec_json(spec),
                opens_at=opens_at,
                closes_at=closes_at,
                now=now,
                created=created,
            )
            if row is None:
                raise NotFound("passport", passport_id)
            message = passport_message(passport_id, dict(row.spec), row.created_at, row.updated_at)
            await audit.record(
                conn,
                principal=current_principal(),
                action="passport.create" if created else "passport.update",
                subject_type="passport",
                subject_id=passport_id,
                before=None if before is None else audit.message_dict(before),
                after=audit.message_dict(message),
                now=now,
            )
            return passports_pb2.CreatePassportResponse(passport=message)

        answer = await self._rt.write(
            method=method,
            request=request,
            key=key,
            response_type=passports_pb2.CreatePassportResponse,
            work=work,
        )
        return answer.passport

    async def CreatePassport(
        self, request: passports_pb2.CreatePassportRequest, context: Context
    ) -> passports_pb2.CreatePassportResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        spec = read_spec(checks, request.spec, present=request.HasField("spec"))
        checks.done()
        passport = await self._save_passport(
            passport_id=new_id("psp"),
            spec=spec,
            created=True,
            method="CreatePassport",
            request=request,
            key=key,
        )
        return passports_pb2.CreatePassportResponse(passport=passport)

    async def UpdatePassport(
        self, request: passports_pb2.UpdatePassportRequest, context: Context
    ) -> passports_pb2.UpdatePassportResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        passport_id = checks.entity_id("passport_id", request.passport_id, "psp")
        spec = read_spec(checks, request.spec, present=request.HasField("spec"))
        checks.done()
        passport = await self._save_passport(
            passport_id=passport_id,
            spec=spec,
            created=False,
            method="UpdatePassport",
            request=request,
            key=key,
        )
        return passports_pb2.UpdatePassportResponse(passport=passport)

    async def ListAllPassports(
        self, request: passports_pb2.ListAllPassportsRequest, context: Context
    ) -> passports_pb2.ListAllPassportsResponse:
        rows = await self._rt.read(lambda conn: store.list_passports(conn))
        return passports_pb2.ListAllPassportsResponse(
            passports=[
                passport_message(str(r.passport_id), dict(r.spec), r.created_at, r.updated_at) for r in rows
            ]
        )
