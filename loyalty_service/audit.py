"""The audit log of back-office actions: who changed which thing, when, and its state before and after.

Every back-office write calls `record` inside its own transaction (the one `Runtime.write` opened), so an
action and its audit row commit or roll back together; a retried request replays its stored answer and
records nothing twice. Rows are only ever inserted. `before`/`after` are small JSON documents of the
thing changed (`message_dict` turns a protobuf message into one); secrets never go in: `record` refuses a
document with a key that names one (api_key, key_hash, token, password, secret, seed ...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.auth.principal import Principal
from loyalty_service.db.tables_audit import audit_events
from loyalty_service.kernel.ids import new_id

__all__ = ["NOT_SECRETS", "SECRET_WORDS", "AuditEvent", "list_events", "message_dict", "record"]

SECRET_WORDS = ("api_key", "apikey", "key_hash", "token", "password", "secret", "seed", "private")
"""A document key containing one of these is a programming error: secrets are never audited."""
NOT_SECRETS = frozenset({"tokens", "play_tokens"})
"""Keys that contain a secret word but name no secret: counts of play tokens (games' currency)."""
_DEPTH_MAX = 8


@dataclass(frozen=True, slots=True)
class AuditEvent:
    audit_id: str
    occurred_at: datetime
    principal_kind: str
    credential_id: str
    action: str
    subject_type: str
    subject_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def message_dict(message: Message) -> dict[str, Any]:
    """A protobuf message as audit JSON (proto field names, defaults included)."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _assert_no_secrets(value: object, path: str = "", depth: int = 0) -> None:
    assert depth < _DEPTH_MAX, f"audit document nested too deeply at {path!r}"
    if isinstance(value, Mapping):
        for key, item in value.items():
            lowered = str(key).lower()
            secret = lowered not in NOT_SECRETS and any(word in lowered for word in SECRET_WORDS)
            assert not secret, f"audit must not store {path}{key}"
            _assert_no_secrets(item, f"{path}{key}.", depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _assert_no_secrets(item, path, depth + 1)


def _document(value: Mapping[str, object] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    _assert_no_secrets(value)
    document: dict[str, Any] = json.loads(json.dumps(value, default=_json_default, sort_keys=True))
    return document


async def record(
    conn: AsyncConnection,
    *,
    principal: Principal,
    action: str,
    subject_type: str,
    subject_id: str,
    before: Mapping[str, object] | None,
    after: Mapping[str, object] | None,
    now: datetime,
) -> str:
    """Append one audit row in the caller's transaction; returns its audit_id.

    `action` is `<subject>.<verb>` in lower snake case, e.g. `earning_rule.update`, `credential.revoke`.
    """
    audit_id = new_id("aud")
    await conn.execute(
        insert(audit_events).values(
            audit_id=audit_id,
            occurred_at=now,
            principal_kind=principal.kind.value,
            credential_id=principal.credential_id,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            before=_document(before),
            after=_document(after),
        )
    )
    return audit_id


async def list_events(
    conn: AsyncConnection,
    *,
    subject_type: str | None,
    subject_id: str | None,
    occurred_from: datetime | None,
    occurred_to: datetime | None,
    before_audit_id: str | None,
    limit: int,
) -> list[AuditEvent]:
    """Newest first, keyset-paged on audit_id (time-ordered), filtered by subject and time."""
    query = select(audit_events)
    if subject_type:
        query = query.where(audit_events.c.subject_type == subject_type)
    if subject_id:
        query = query.where(audit_events.c.subject_id == subject_id)
    if occurred_from is not None:
        query = query.where(audit_events.c.occurred_at >= occurred_from)
    if occurred_to is not None:
        query = query.where(audit_events.c.occurred_at < occurred_to)
    if before_audit_id is not None:
        query = query.where(audit_events.c.audit_id < before_audit_id)
    rows = await conn.execute(query.order_by(audit_events.c.audit_id.desc()).limit(limit))
    return [AuditEvent(**row._mapping) for row in rows.all()]
