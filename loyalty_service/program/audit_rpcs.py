"""ListAuditEvents of ProgramService: the audit log of back-office actions (`loyalty_service.audit`)."""

from __future__ import annotations

import base64
import binascii
import json

from loyalty.v1 import audit_pb2, program_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import audit
from loyalty_service.grpc_types import Context
from loyalty_service.proto_time import to_timestamp
from loyalty_service.runtime import Runtime
from loyalty_service.validation import Checks

__all__ = ["AuditRpcs"]

_DEFAULT_PAGE = 50
_MAX_PAGE = 500


def _page_token(audit_id: str) -> str:
    return base64.urlsafe_b64encode(f"a1:{audit_id}".encode()).decode()


def _read_page_token(checks: Checks, token: str) -> str | None:
    if not token:
        return None
    try:
        version, _, audit_id = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if version == "a1" and audit_id.startswith("aud_"):
            return audit_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    checks.fail("page_token", "not a page token of the audit listing")
    return None


def _json(document: dict[str, object] | None) -> str:
    return "" if document is None else json.dumps(document, sort_keys=True, separators=(",", ":"))


def _event_message(event: audit.AuditEvent) -> audit_pb2.AuditEvent:
    return audit_pb2.AuditEvent(
        audit_id=event.audit_id,
        occurred_at=to_timestamp(event.occurred_at),
        principal_kind=event.principal_kind,
        credential_id=event.credential_id,
        action=event.action,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        before_json=_json(event.before),
        after_json=_json(event.after),
    )


class AuditRpcs(program_pb2_grpc.ProgramServiceServicer):
    """Mixed into ProgramServicer, which sets `_rt`."""

    _rt: Runtime

    async def ListAuditEvents(
        self, request: audit_pb2.ListAuditEventsRequest, context: Context
    ) -> audit_pb2.ListAuditEventsResponse:
        checks = Checks()
        subject_type = checks.code("subject_type", request.subject_type, required=False)
        subject_id = checks.code("subject_id", request.subject_id, required=False)
        page_size = (
            checks.count("page_size", request.page_size, minimum=0, maximum=_MAX_PAGE) or _DEFAULT_PAGE
        )
        occurred_from, occurred_to = checks.window(request, "occurred_from", "occurred_to")
        before = _read_page_token(checks, request.page_token)
        checks.done()

        async def read(conn: AsyncConnection) -> list[audit.AuditEvent]:
            return await audit.list_events(
                conn,
                subject_type=subject_type or None,
                subject_id=subject_id or None,
                occurred_from=occurred_from,
                occurred_to=occurred_to,
                before_audit_id=before,
                limit=page_size + 1,
            )

        events = await self._rt.read(read)
        answer = audit_pb2.ListAuditEventsResponse(events=[_event_message(e) for e in events[:page_size]])
        if len(events) > page_size:
            answer.next_page_token = _page_token(events[page_size - 1].audit_id)
        return answer
