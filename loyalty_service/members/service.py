"""MemberService: enrol, look up, link identifiers, consents, member tokens."""

from __future__ import annotations

from collections.abc import Iterable

from loyalty.v1 import common_pb2, events_pb2, members_pb2, members_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.auth.principal import current_principal
from loyalty_service.common_messages import (
    CHANNEL_TO_PROTO,
    IDENTIFIER_KIND_TO_PROTO,
    channel_of,
    read_identifier,
)
from loyalty_service.errors import AlreadyExists, FailedPrecondition, NotFound
from loyalty_service.events import outbox
from loyalty_service.grpc_types import Context
from loyalty_service.journeys import api as journeys_api
from loyalty_service.kernel.ids import new_id
from loyalty_service.members import store
from loyalty_service.members.domain import ConsentPurpose, MemberStatus
from loyalty_service.members.privacy import PrivacyRpcs
from loyalty_service.proto_time import to_timestamp
from loyalty_service.runtime import Runtime
from loyalty_service.tiers import api as tiers_api
from loyalty_service.validation import Checks

__all__ = ["MemberServicer", "channel_of_caller", "load_member"]

_KIND_TO_PROTO = IDENTIFIER_KIND_TO_PROTO
_PURPOSES = {
    members_pb2.CONSENT_PURPOSE_MARKETING: ConsentPurpose.MARKETING,
    members_pb2.CONSENT_PURPOSE_LOCATION: ConsentPurpose.LOCATION,
    members_pb2.CONSENT_PURPOSE_PROFILING: ConsentPurpose.PROFILING,
}
_PURPOSE_TO_PROTO = {v: k for k, v in _PURPOSES.items()}
_STATUS_TO_PROTO = {
    MemberStatus.ACTIVE: members_pb2.MEMBER_STATUS_ACTIVE,
    MemberStatus.PROVISIONAL: members_pb2.MEMBER_STATUS_PROVISIONAL,
    MemberStatus.CLOSED: members_pb2.MEMBER_STATUS_CLOSED,
    MemberStatus.ERASED: members_pb2.MEMBER_STATUS_ERASED,
}


def channel_of_caller() -> str:
    return channel_of(current_principal()).value


def _consent_message(row: store.ConsentRow) -> members_pb2.Consent:
    return members_pb2.Consent(
        purpose=_PURPOSE_TO_PROTO[row.purpose],
        granted=row.granted,
        changed_at=to_timestamp(row.changed_at),
        channel=CHANNEL_TO_PROTO.get(row.channel, common_pb2.CHANNEL_UNSPECIFIED),
    )


async def load_member(conn: AsyncConnection, member_id: str, *, history: bool = False) -> members_pb2.Member:
    row = await store.get_member(conn, member_id)
    if row is None:
        raise NotFound("member", member_id)
    member = members_pb2.Member(
        member_id=row.member_id,
        status=_STATUS_TO_PROTO[row.status],
        display_name=row.display_name,
        enrolled_at=to_timestamp(row.created_at),
        merged_into_member_id=row.merged_into or "",
        referral_code=await journeys_api.referral_code_of(conn, member_id),
    )
    for kind, value in await store.identifiers_of(conn, member_id):
        member.identifiers.add(kind=_KIND_TO_PROTO[kind], value=value)
    member.consents.extend(_consent_message(c) for c in await store.current_consents(conn, member_id))
    if history:
        member.consent_history.extend(
            _consent_message(c) for c in await store.consent_history(conn, member_id)
        )
    return member


def _read_consents(
    checks: Checks, field: str, changes: Iterable[members_pb2.ConsentChange]
) -> list[tuple[ConsentPurpose, bool]]:
    result: dict[ConsentPurpose, bool] = {}
    for index, change in enumerate(changes):
        purpose = checks.enum(f"{field}[{index}].purpose", change.purpose, _PURPOSES)
        if purpose is not None:
            if purpose in result:
                checks.fail(f"{field}[{index}].purpose", "each purpose at most once")
            result[purpose] = change.granted
    return list(result.items())


class MemberServicer(PrivacyRpcs, members_pb2_grpc.MemberServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def _write_consents(
        self, conn: AsyncConnection, member_id: str, changes: list[tuple[ConsentPurpose, bool]]
    ) -> None:
        principal = current_principal()
        now = self._rt.now()
        for purpose, granted in changes:
            await store.record_consent(
                conn,
                member_id=member_id,
                purpose=purpose,
                granted=granted,
                channel=channel_of_caller(),
                credential_id=principal.credential_id,
                now=now,
            )
        consents = [_consent_message(c) for c in await store.current_consents(conn, member_id)]
        payload = events_pb2.EventPayload(consent_changed=events_pb2.ConsentChanged(consents=consents))
        await outbox.append(conn, member_id=member_id, payload=payload, occurred_at=now)

    async def EnrollMember(
        self, request: members_pb2.EnrollMemberRequest, context: Context
    ) -> members_pb2.EnrollMemberResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        name = checks.text("display_name", request.display_name, required=False, max_length=128)
        checks.count("identifiers", len(request.identifiers), minimum=0, maximum=8)
        identifiers = [
            read_identifier(checks, f"identifiers[{i}]", x) for i, x in enumerate(request.identifiers[:8])
        ]
        consents = _read_consents(checks, "consents", request.consents[:8])
        referral_code = journeys_api.read_referral_code(checks, "referral_code", request.referral_code)
        checks.done()

        async def work(conn: AsyncConnection) -> members_pb2.EnrollMemberResponse:
            now = self._rt.now()
            member_id = new_id("mem")
            await store.create_member(
                conn, member_id=member_id, status=MemberStatus.ACTIVE, display_name=name, now=now
            )
            for identifier in identifiers:
                assert identifier is not None
                holder = await store.claim_identifier(
                    conn, member_id=member_id, kind=identifier[0], value=identifier[1], now=now
                )
                if holder != member_id:
                    raise AlreadyExists(
                        f"{identifier[0].value} identifier is linked to another member",
                        reason="IDENTIFIER_TAKEN",
                    )
            if consents:
                await self._write_consents(conn, member_id, consents)
            # Its own referral code, and the referral it enrolled with (journeys.referrals).
            referral = await journeys_api.on_enrol(
                conn, member_id=member_id, referral_code=referral_code, now=now
            )
            member = await load_member(conn, member_id)
            enrolled = events_pb2.EventPayload(member_enrolled=events_pb2.MemberEnrolled(member=member))
            await outbox.append(conn, member_id=member_id, payload=enrolled, occurred_at=now)
            return members_pb2.EnrollMemberResponse(member=member, referral=referral)

        return await self._rt.write(
            method="EnrollMember",
            request=request,
            key=key,
            response_type=members_pb2.EnrollMemberResponse,
            work=work,
        )

    async def GetMember(
        self, request: members_pb2.GetMemberRequest, context: Context
    ) -> members_pb2.GetMemberResponse:
        checks = Checks()
        member_id = checks.entity_id("member_id", request.member_id, "mem")
        checks.done()
        current_principal().require_member(member_id)

        async def read(conn: AsyncConnection) -> members_pb2.GetMemberResponse:
            member = await load_member(conn, member_id, history=request.include_consent_history)
            response = members_pb2.GetMemberResponse(member=member)
            tier = await tiers_api.member_status(conn, member_id, now=self._rt.now())  # status tiers
            if tier is not None:
                response.tier.CopyFrom(tier)
            return response

        return await self._rt.read(read)

    async def LookupMember(
        self, request: members_pb2.LookupMemberRequest, context: Context
    ) -> members_pb2.LookupMemberResponse:
        checks = Checks()
        identifier = read_identifier(checks, "identifier", request.identifier)
        checks.done()
        assert identifier is not None

        async def read(conn: AsyncConnection) -> members_pb2.LookupMemberResponse:
            member_id = await store.find_by_identifier(conn, *identifier)
            if member_id is None:
                raise NotFound("member", f"{identifier[0].value} identifier", "no member has this identifier")
            return members_pb2.LookupMemberResponse(member=await load_member(conn, member_id))

        return await self._rt.read(read)

    async def LinkIdentifier(
        self, request: members_pb2.LinkIdentifierRequest, context: Context
    ) -> members_pb2.LinkIdentifierResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        member_id = checks.entity_id("member_id", request.member_id, "mem")
        identifier = read_identifier(checks, "identifier", request.identifier)
        checks.done()
        assert identifier is not None
        current_principal().require_member(member_id)
        from loyalty_service.members.linking import link_identifier

        async def work(conn: AsyncConnection) -> members_pb2.LinkIdentifierResponse:
            merged_id, merged_points = await link_identifier(
                conn,
                member_id=member_id,
                kind=identifier[0],
                value=identifier[1],
                now=self._rt.now(),
                credential_id=current_principal().credential_id,
            )
            return members_pb2.LinkIdentifierResponse(
                member=await load_member(conn, member_id),
                merged_member_id=merged_id or "",
                merged_points=merged_points,
            )

        return await self._rt.write(
            method="LinkIdentifier",
            request=request,
            key=key,
            response_type=members_pb2.LinkIdentifierResponse,
            work=work,
        )

    async def IssueMemberToken(
        self, request: members_pb2.IssueMemberTokenRequest, context: Context
    ) -> members_pb2.IssueMemberTokenResponse:
        checks = Checks()
        member_id = checks.entity_id("member_id", request.member_id, "mem")
        settings = self._rt.settings
        ttl = request.ttl_seconds or settings.token_ttl_seconds
        checks.count("ttl_seconds", ttl, minimum=30, maximum=settings.token_max_ttl_seconds)
        checks.done()

        async def read(conn: AsyncConnection) -> members_pb2.IssueMemberTokenResponse:
            row = await store.get_member(conn, member_id)
            if row is None:
                raise NotFound("member", member_id)
            if row.status is not MemberStatus.ACTIVE:
                raise FailedPrecondition(
                    f"member {member_id} is {row.status.value}", reason="MEMBER_NOT_ACTIVE"
                )
            token, expires = self._rt.signer.issue(
                member_id=member_id,
                issued_by=current_principal().credential_id,
                now=self._rt.now(),
                ttl_seconds=ttl,
            )
            return members_pb2.IssueMemberTokenResponse(token=token, expires_at=to_timestamp(expires))

        return await self._rt.read(read)

    async def UpdateConsent(
        self, request: members_pb2.UpdateConsentRequest, context: Context
    ) -> members_pb2.UpdateConsentResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        member_id = checks.entity_id("member_id", request.member_id, "mem")
        checks.count("changes", len(request.changes), minimum=1, maximum=len(_PURPOSES))
        changes = _read_consents(checks, "changes", request.changes[: len(_PURPOSES)])
        checks.done()
        current_principal().require_member(member_id)

        async def work(conn: AsyncConnection) -> members_pb2.UpdateConsentResponse:
            row = await store.lock_member(conn, member_id)
            if row is None:
                raise NotFound("member", member_id)
            await self._write_consents(conn, member_id, changes)
            consents = [_consent_message(c) for c in await store.current_consents(conn, member_id)]
            return members_pb2.UpdateConsentResponse(consents=consents)

        return await self._rt.write(
            method="UpdateConsent",
            request=request,
            key=key,
            response_type=members_pb2.UpdateConsentResponse,
            work=work,
        )
