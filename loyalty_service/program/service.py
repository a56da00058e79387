"""ProgramService (back office): stores, API credentials and programme settings.

The earning-rule RPCs come from `rules_service.EarningRuleRpcs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from loyalty.v1 import program_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import audit
from loyalty_service.auth import credentials
from loyalty_service.auth.credentials import CredentialRow
from loyalty_service.auth.principal import PrincipalKind, current_principal
from loyalty_service.challenges.program_rpcs import ChallengeProgramRpcs
from loyalty_service.draws.program_rpcs import DrawProgramRpcs
from loyalty_service.errors import AlreadyExists, NotFound
from loyalty_service.events.stats_rpcs import ProgramStatsRpcs
from loyalty_service.games.program_rpcs import GameProgramRpcs
from loyalty_service.grpc_types import Context
from loyalty_service.journeys.program_rpcs import JourneySettingsRpcs
from loyalty_service.passports.program_rpcs import PassportProgramRpcs
from loyalty_service.program import settings as program_settings
from loyalty_service.program import stores
from loyalty_service.program.audit_rpcs import AuditRpcs
from loyalty_service.program.rules_service import EarningRuleRpcs
from loyalty_service.proto_time import to_timestamp
from loyalty_service.rewards.program_rpcs import RewardCatalogueRpcs
from loyalty_service.runtime import Runtime
from loyalty_service.tiers.service import TierProgramRpcs
from loyalty_service.validation import Checks

__all__ = ["ProgramServicer", "credential_message"]

_KINDS = {
    program_pb2.CREDENTIAL_KIND_POS: PrincipalKind.POS,
    program_pb2.CREDENTIAL_KIND_WEBSHOP: PrincipalKind.WEBSHOP,
    program_pb2.CREDENTIAL_KIND_APP_BACKEND: PrincipalKind.APP_BACKEND,
    program_pb2.CREDENTIAL_KIND_BACKOFFICE: PrincipalKind.BACKOFFICE,
}
_KIND_TO_PROTO = {v: k for k, v in _KINDS.items()}


def credential_message(row: CredentialRow) -> program_pb2.Credential:
    message = program_pb2.Credential(
        credential_id=row.credential_id,
        kind=_KIND_TO_PROTO[row.kind],
        store_id=row.store_id or "",
        name=row.name,
        created_at=to_timestamp(row.created_at),
    )
    if row.revoked_at is not None:
        message.revoked_at.CopyFrom(to_timestamp(row.revoked_at))
    return message


def _settings_message(value: program_settings.ProgramSettings) -> program_pb2.ProgramSettings:
    return program_pb2.ProgramSettings(
        pending_days=value.pending_days,
        expiry_months=value.expiry_months,
        offline_max_age_days=value.offline_max_age_days,
    )


async def _audit(
    conn: AsyncConnection,
    action: str,
    subject_type: str,
    subject_id: str,
    before: Mapping[str, object] | None,
    after: Mapping[str, object] | None,
    *,
    now: datetime,
) -> None:
    """Record a back-office action of the current caller in its transaction (loyalty_service.audit)."""
    await audit.record(
        conn,
        principal=current_principal(),
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        before=before,
        after=after,
        now=now,
    )


class ProgramServicer(
    TierProgramRpcs,
    JourneySettingsRpcs,
    ProgramStatsRpcs,
    AuditRpcs,
    EarningRuleRpcs,
    DrawProgramRpcs,
    ChallengeProgramRpcs,
    GameProgramRpcs,
    PassportProgramRpcs,
    RewardCatalogueRpcs,
):
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def CreateStore(
        self, request: program_pb2.CreateStoreRequest, context: Context
    ) -> program_pb2.CreateStoreResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        store_id = checks.code("store_id", request.store_id)
        if len(store_id) > 64:
            checks.fail("store_id", "at most 64 characters")
        name = checks.text("name", request.name, max_length=128)
        checks.done()

        async def work(conn: AsyncConnection) -> program_pb2.CreateStoreResponse:
            row = await stores.create(conn, store_id=store_id, name=name, now=self._rt.now())
            if row is None:
                raise AlreadyExists(f"store {store_id!r} exists", reason="STORE_EXISTS")
            after = {"store_id": store_id, "name": name}
            await _audit(conn, "store.create", "store", store_id, None, after, now=self._rt.now())
            return program_pb2.CreateStoreResponse(
                store=program_pb2.Store(
                    store_id=row.store_id, name=row.name, created_at=to_timestamp(row.created_at)
                )
            )

        return await self._rt.write(
            method="CreateStore",
            request=request,
            key=key,
            response_type=program_pb2.CreateStoreResponse,
            work=work,
        )

    async def ListStores(
        self, request: program_pb2.ListStoresRequest, context: Context
    ) -> program_pb2.ListStoresResponse:
        rows = await self._rt.read(stores.list_all)
        return program_pb2.ListStoresResponse(
            stores=[
                program_pb2.Store(store_id=r.store_id, name=r.name, created_at=to_timestamp(r.created_at))
                for r in rows
            ]
        )

    async def CreateCredential(
        self, request: program_pb2.CreateCredentialRequest, context: Context
    ) -> program_pb2.CreateCredentialResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        kind = checks.enum("kind", request.kind, _KINDS)
        name = checks.text("name", request.name, max_length=128)
        if kind is PrincipalKind.POS:
            checks.code("store_id", request.store_id)
        elif request.store_id:
            checks.fail("store_id", "only POS credentials are bound to a store")
        checks.done()
        assert kind is not None

        async def work(conn: AsyncConnection) -> program_pb2.CreateCredentialResponse:
            store_id = request.store_id or None
            if store_id is not None and not await stores.exists(conn, store_id):
                raise NotFound("store", store_id)
            row, api_key = await credentials.create(conn, kind=kind, name=name, store_id=store_id)
            after = audit.message_dict(credential_message(row))  # the message has no secret; the key is apart
            await _audit(
                conn, "credential.create", "credential", row.credential_id, None, after, now=self._rt.now()
            )
            return program_pb2.CreateCredentialResponse(credential=credential_message(row), api_key=api_key)

        return await self._rt.write(
            method="CreateCredential",
            request=request,
            key=key,
            response_type=program_pb2.CreateCredentialResponse,
            work=work,
        )

    async def ListCredentials(
        self, request: program_pb2.ListCredentialsRequest, context: Context
    ) -> program_pb2.ListCredentialsResponse:
        async def read(conn: AsyncConnection) -> list[CredentialRow]:
            return await credentials.list_all(conn, include_revoked=request.include_revoked)

        rows = await self._rt.read(read)
        return program_pb2.ListCredentialsResponse(credentials=[credential_message(r) for r in rows])

    async def RevokeCredential(
        self, request: program_pb2.RevokeCredentialRequest, context: Context
    ) -> program_pb2.RevokeCredentialResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        credential_id = checks.entity_id("credential_id", request.credential_id, "cred")
        checks.done()

        async def work(conn: AsyncConnection) -> program_pb2.RevokeCredentialResponse:
            before = await credentials.get(conn, credential_id)
            row = await credentials.revoke(conn, credential_id, now=self._rt.now())
            if row is None or before is None:
                raise NotFound("credential", credential_id)
            await _audit(
                conn,
                "credential.revoke",
                "credential",
                credential_id,
                audit.message_dict(credential_message(before)),
                audit.message_dict(credential_message(row)),
                now=self._rt.now(),
            )
            return program_pb2.RevokeCredentialResponse(credential=credential_message(row))

        response = await self._rt.write(
            method="RevokeCredential",
            request=request,
            key=key,
            response_type=program_pb2.RevokeCredentialResponse,
            work=work,
        )
        self._rt.authenticator.forget_all()
        return response

    async def GetProgramSettings(
        self, request: program_pb2.GetProgramSettingsRequest, context: Context
    ) -> program_pb2.GetProgramSettingsResponse:
        value = await self._rt.read(program_settings.read)
        return program_pb2.GetProgramSettingsResponse(settings=_settings_message(value))

    async def UpdateProgramSettings(
        self, request: program_pb2.UpdateProgramSettingsRequest, context: Context
    ) -> program_pb2.UpdateProgramSettingsResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        wanted = request.settings
        checks.count("settings.pending_days", wanted.pending_days, minimum=0, maximum=365)
        checks.count("settings.expiry_months", wanted.expiry_months, minimum=0, maximum=120)
        checks.count("settings.offline_max_age_days", wanted.offline_max_age_days, minimum=1, maximum=365)
        checks.done()

        async def work(conn: AsyncConnection) -> program_pb2.UpdateProgramSettingsResponse:
            before = audit.message_dict(_settings_message(await program_settings.read(conn)))
            value = await program_settings.write(
                conn,
                pending_days=wanted.pending_days,
                expiry_months=wanted.expiry_months,
                offline_max_age_days=wanted.offline_max_age_days,
                now=self._rt.now(),
            )
            after = audit.message_dict(_settings_message(value))
            await _audit(
                conn, "program_settings.update", "program_settings", "1", before, after, now=self._rt.now()
            )
            return program_pb2.UpdateProgramSettingsResponse(settings=_settings_message(value))

        return await self._rt.write(
            method="UpdateProgramSettings",
            request=request,
            key=key,
            response_type=program_pb2.UpdateProgramSettingsResponse,
            work=work,
        )
