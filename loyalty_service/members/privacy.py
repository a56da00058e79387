"""ExportMemberData and EraseMember (GDPR access, portability and erasure), mixed into MemberServicer.

Export: one JSON document with everything held about the member: the member row, identifiers, current
consents and their history, the ledger's records (entries, lots, purchases, refunds, spends), the ledger
entries of provisional members merged into it, and `features.<name>` for every feature registered in
`export_registry`.

Erasure policy (docs in README "Security and privacy"):
- removed: every identifier (card, e-mail, phone, web-shop id) and the display name; personal data in
  stored event payloads (the enrolment event's member) and in remembered idempotent answers is blanked;
  each registered feature erases its own personal data;
- withdrawn: every granted consent, recorded as a change like any other;
- kept, under the member id as a pseudonym (it is random and says nothing about the person): the ledger
  (entries and their hash chain, lots, purchases, refunds, spends), so balances and programme totals stay
  true and the chain still verifies; and the consent history (purpose, granted, channel, time, credential:
  no personal data), kept as the proof of consent the programme owes;
- afterwards the member is ERASED: member tokens for it are refused, no new token is issued, no new
  identifier is linked and no points move. Erasing an erased member changes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from loyalty.v1 import events_pb2, members_pb2, members_pb2_grpc
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import audit
from loyalty_service.auth.principal import current_principal
from loyalty_service.common_messages import channel_of
from loyalty_service.db.tables import events, idempotency_keys, members
from loyalty_service.errors import NotFound
from loyalty_service.events import outbox
from loyalty_service.grpc_types import Context
from loyalty_service.ledger import api as ledger_api
from loyalty_service.members import export_registry, store
from loyalty_service.members.domain import MemberStatus
from loyalty_service.proto_time import to_timestamp
from loyalty_service.runtime import Runtime
from loyalty_service.validation import Checks

__all__ = ["EXPORT_FORMAT", "PrivacyRpcs", "member_export"]

EXPORT_FORMAT = "loyalty.member-export.v1"
_MEMBER_METHODS = ("EnrollMember", "LinkIdentifier")
"""Write RPCs whose remembered answers carry a Member (display name, identifiers)."""
_MERGED_MAX = 100


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


async def member_export(conn: AsyncConnection, member_id: str, *, now: datetime) -> dict[str, Any]:
    """The whole export document of one member (the member must exist)."""
    row = await store.get_member(conn, member_id)
    if row is None:
        raise NotFound("member", member_id)
    merged = (
        await conn.execute(
            select(members.c.member_id)
            .where(members.c.merged_into == member_id)
            .order_by(members.c.member_id)
            .limit(_MERGED_MAX)
        )
    ).scalars()
    merged_members = []
    for merged_id in merged.all():
        records = await ledger_api.member_records(conn, merged_id)
        merged_members.append({"member_id": merged_id, "ledger_entries": records["ledger_entries"]})
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "generated_at": now.isoformat(),
        "member": {
            "member_id": row.member_id,
            "status": row.status.value,
            "display_name": row.display_name,
            "enrolled_at": row.created_at.isoformat(),
            "merged_into": row.merged_into,
        },
        "identifiers": await store.identifier_rows(conn, member_id),
        "consents": [
            {
                "purpose": c.purpose.value,
                "granted": c.granted,
                "channel": c.channel,
                "changed_at": c.changed_at,
            }
            for c in await store.current_consents(conn, member_id)
        ],
        "consent_history": [
            {k: v for k, v in change.items() if k != "member_id"}
            for change in await store.consent_changes_of(conn, member_id)
        ],
        **await ledger_api.member_records(conn, member_id),
        "merged_members": merged_members,
        "features": await export_registry.export_features(conn, member_id),
    }
    return {k: _plain(v) for k, v in document.items()}


async def _blank_stored_events(conn: AsyncConnection, member_id: str) -> None:
    """The enrolment event carries the member (name, identifiers): keep the event, blank those."""
    rows = await conn.execute(
        select(events.c.seq, events.c.payload).where(
            events.c.member_id == member_id, events.c.event_type == "member_enrolled"
        )
    )
    for seq, payload in rows.all():
        event = events_pb2.EventPayload.FromString(bytes(payload))
        event.member_enrolled.member.display_name = ""
        del event.member_enrolled.member.identifiers[:]
        await conn.execute(
            update(events)
            .where(events.c.member_id == member_id, events.c.seq == seq)
            .values(payload=event.SerializeToString())
        )


async def _blank_stored_answers(conn: AsyncConnection, member_id: str) -> None:
    """Remembered answers of idempotent writes (kept for the retention period) that show the member."""
    mentions = text("position(convert_to(:member_id, 'UTF8') in idempotency_keys.response) > 0")
    rows = await conn.execute(
        select(
            idempotency_keys.c.scope,
            idempotency_keys.c.idempotency_key,
            idempotency_keys.c.method,
            idempotency_keys.c.response,
        ).where(
            idempotency_keys.c.method.in_(_MEMBER_METHODS),
            idempotency_keys.c.response.is_not(None),
            mentions.bindparams(member_id=member_id),
        )
    )
    for scope, key, method, response in rows.all():
        answer_type = (
            members_pb2.EnrollMemberResponse
            if method == "EnrollMember"
            else members_pb2.LinkIdentifierResponse
        )
        answer = answer_type.FromString(bytes(response))
        if answer.member.member_id != member_id:
            continue
        answer.member.display_name = ""
        del answer.member.identifiers[:]
        await conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.scope == scope, idempotency_keys.c.idempotency_key == key)
            .values(response=answer.SerializeToString())
        )


class PrivacyRpcs(members_pb2_grpc.MemberServiceServicer):
    """Mixed into MemberServicer, which sets `_rt`."""

    _rt: Runtime

    async def ExportMemberData(
        self, request: members_pb2.ExportMemberDataRequest, context: Context
    ) -> members_pb2.ExportMemberDataResponse:
        checks = Checks()
        member_id = checks.entity_id("member_id", request.member_id, "mem")
        checks.done()
        current_principal().require_member(member_id)
        now = self._rt.now()

        async def read(conn: AsyncConnection) -> dict[str, Any]:
            await conn.execution_options(isolation_level="REPEATABLE READ")
            return await member_export(conn, member_id, now=now)

        document = await self._rt.read(read)
        return members_pb2.ExportMemberDataResponse(
            member_id=member_id,
            generated_at=to_timestamp(now),
            content_type="application/json",
            document=json.dumps(document, sort_keys=True, default=str).encode(),
        )

    async def EraseMember(
        self, request: members_pb2.EraseMemberRequest, context: Context
    ) -> members_pb2.EraseMemberResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        member_id = checks.entity_id("member_id", request.member_id, "mem")
        checks.done()
        principal = current_principal()
        principal.require_member(member_id)
        from loyalty_service.members.service import load_member

        async def work(conn: AsyncConnection) -> members_pb2.EraseMemberResponse:
            row = await store.lock_member(conn, member_id)
            if row is None:
                raise NotFound("member", member_id)
            if row.status is MemberStatus.ERASED:
                return members_pb2.EraseMemberResponse(member=await load_member(conn, member_id))
            now = self._rt.now()
            withdrawn = [c.purpose for c in await store.current_consents(conn, member_id) if c.granted]
            for purpose in withdrawn:
                await store.record_consent(
                    conn,
                    member_id=member_id,
                    purpose=purpose,
                    granted=False,
                    channel=channel_of(principal).value,
                    credential_id=principal.credential_id,
                    now=now,
                )
            removed = await store.delete_identifiers(conn, member_id)
            await store.mark_erased(conn, member_id)
            features = await export_registry.erase_features(conn, member_id)
            await _blank_stored_events(conn, member_id)
            await _blank_stored_answers(conn, member_id)
            member = await load_member(conn, member_id)
            if withdrawn:
                changed = events_pb2.ConsentChanged(consents=member.consents)
                await outbox.append(
                    conn,
                    member_id=member_id,
                    payload=events_pb2.EventPayload(consent_changed=changed),
                    occurred_at=now,
                )
            await audit.record(
                conn,
                principal=principal,
                action="member.erase",
                subject_type="member",
                subject_id=member_id,
                before={"status": row.status.value, "identifiers": removed},
                after={
                    "status": MemberStatus.ERASED.value,
                    "consents_withdrawn": [p.value for p in withdrawn],
                    "features_erased": features,
                },
                now=now,
            )
            return members_pb2.EraseMemberResponse(member=member, identifiers_removed=removed)

        answer = await self._rt.write(
            method="EraseMember",
            request=request,
            key=key,
            response_type=members_pb2.EraseMemberResponse,
            work=work,
        )
        self._rt.authenticator.forget_member(member_id)
        return answer
