"""The audit log: every back-office write leaves who/what/when/before/after, in its own transaction.

Stores, credentials (created, revoked), programme settings, earning rules (create, update, retire) and
point adjustments are listed by ListAuditEvents, newest first, filtered by subject and time, paged with
a cursor; an API key never appears in it; a refused write leaves no audit row.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import grpc
import pytest
from loyalty.v1 import audit_pb2, ledger_pb2, program_pb2

from loyalty_service import audit
from loyalty_service.auth.principal import Principal, PrincipalKind
from loyalty_service.proto_time import to_timestamp
from tests.ledger.conftest import make_programme
from tests.support.api import Running, new_key


async def _all_events(back: Any, **filters: Any) -> list[audit_pb2.AuditEvent]:
    events: list[audit_pb2.AuditEvent] = []
    token = ""
    for _ in range(50):
        page = await back.program.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(page_size=2, page_token=token, **filters)
        )
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            return events
    raise AssertionError("paging never ended")


async def test_back_office_writes_are_audited(isolated_service: Running) -> None:
    """Goal: each back-office write is one audit row with the caller, the action and before/after."""
    programme = await make_programme(isolated_service)  # a store and a base-rate rule, by the back office
    back = programme.back
    created = await back.program.CreateCredential(
        program_pb2.CreateCredentialRequest(
            idempotency_key=new_key(), kind=program_pb2.CREDENTIAL_KIND_WEBSHOP, name="web shop"
        )
    )
    credential_id = created.credential.credential_id
    await back.program.RevokeCredential(
        program_pb2.RevokeCredentialRequest(idempotency_key=new_key(), credential_id=credential_id)
    )
    await back.program.UpdateProgramSettings(
        program_pb2.UpdateProgramSettingsRequest(
            idempotency_key=new_key(),
            settings=program_pb2.ProgramSettings(pending_days=14, expiry_months=24, offline_max_age_days=30),
        )
    )
    rules = await back.program.ListEarningRules(program_pb2.ListEarningRulesRequest())
    rule = rules.rules[0]
    later = isolated_service.service.runtime.now() + timedelta(days=1)
    spec = program_pb2.EarningRuleSpec()
    spec.CopyFrom(rule.spec)
    spec.points_per_unit = "2"
    await back.program.UpdateEarningRule(
        program_pb2.UpdateEarningRuleRequest(
            idempotency_key=new_key(), rule_id=rule.rule_id, spec=spec, effective_from=to_timestamp(later)
        )
    )
    await back.program.RetireEarningRule(
        program_pb2.RetireEarningRuleRequest(
            idempotency_key=new_key(),
            rule_id=rule.rule_id,
            effective_from=to_timestamp(later + timedelta(days=1)),
        )
    )
    member_id = await programme.member()
    await back.ledger.AdjustPoints(
        ledger_pb2.AdjustPointsRequest(
            idempotency_key=new_key(), member_id=member_id, points=50, reason="gift"
        )
    )

    events = await _all_events(back)
    assert [e.action for e in reversed(events)] == [
        "store.create",
        "earning_rule.create",
        "credential.create",
        "credential.revoke",
        "program_settings.update",
        "earning_rule.update",
        "earning_rule.retire",
        "points.adjust",
    ]
    assert all(e.principal_kind == "backoffice" for e in events)
    assert len({e.credential_id for e in events}) == 1
    assert [e.audit_id for e in events] == sorted((e.audit_id for e in events), reverse=True)
    everything = " ".join(e.before_json + e.after_json for e in events)
    assert created.api_key not in everything, "an API key is never audited"

    by_action = {e.action: e for e in events}
    revoke = by_action["credential.revoke"]
    assert json.loads(revoke.before_json).get("revoked_at") is None
    assert json.loads(revoke.after_json)["revoked_at"]
    settings = by_action["program_settings.update"]
    assert json.loads(settings.before_json)["pending_days"] == 0
    assert json.loads(settings.after_json)["pending_days"] == 14
    update = by_action["earning_rule.update"]
    assert json.loads(update.before_json)["spec"]["points_per_unit"] == "1"
    assert json.loads(update.after_json)["spec"]["points_per_unit"] == "2"
    assert by_action["earning_rule.create"].before_json == ""
    adjust = json.loads(by_action["points.adjust"].after_json)
    assert (adjust["points"], adjust["reason"]) == (50, "gift")

    rule_events = await _all_events(back, subject_type="earning_rule", subject_id=rule.rule_id)
    assert [e.action for e in rule_events] == [
        "earning_rule.retire",
        "earning_rule.update",
        "earning_rule.create",
    ]
    now = isolated_service.service.runtime.now()
    none_yet = await _all_events(back, occurred_from=to_timestamp(now + timedelta(seconds=1)))
    assert none_yet == []


async def test_refused_writes_leave_no_audit_row_and_only_back_office_reads(
    isolated_service: Running,
) -> None:
    """Goal: the audit row commits with its change (a refused store creation leaves none); access."""
    back = await isolated_service.client("backoffice")
    request = program_pb2.CreateStoreRequest(idempotency_key=new_key(), store_id="audit-1", name="One")
    await back.program.CreateStore(request)
    with pytest.raises(grpc.aio.AioRpcError):
        await back.program.CreateStore(
            program_pb2.CreateStoreRequest(idempotency_key=new_key(), store_id="audit-1", name="Again")
        )
    await back.program.CreateStore(request)  # a retry replays the answer, and records nothing twice
    events = await _all_events(back, subject_type="store")
    assert [e.subject_id for e in events] == ["audit-1"]

    web = await isolated_service.client("webshop")
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await web.program.ListAuditEvents(audit_pb2.ListAuditEventsRequest())
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await back.program.ListAuditEvents(audit_pb2.ListAuditEventsRequest(page_token="nope"))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_record_refuses_secrets(isolated_service: Running) -> None:
    """Goal: a document naming a secret (api_key, key_hash, token, ...) is a programming error."""
    principal = Principal(kind=PrincipalKind.BACKOFFICE, credential_id="cred_x")
    async with isolated_service.engine.connect() as conn:
        for document in ({"api_key": "lk_x"}, {"credential": {"key_hash": "00"}}, {"rows": [{"token": "t"}]}):
            with pytest.raises(AssertionError):
                await audit.record(
                    conn,
                    principal=principal,
                    action="credential.create",
                    subject_type="credential",
                    subject_id="cred_x",
                    before=None,
                    after=document,
                    now=isolated_service.service.runtime.now(),
                )
        await conn.rollback()
