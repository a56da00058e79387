"""No personal data in logs: a full member journey through a server PROCESS, then its whole log is scanned.

Enrolment with e-mail, phone and card, look-ups by phone and card, purchases, a refund, a spend, calls
that fail on personal data (an identifier taken, unknown or malformed), a member token, an export and
an erasure, all at DEBUG level. The log must name calls (it is not empty) and never the person's name,
e-mail, phone or card, nor an API key or member token.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from loyalty.v1 import common_pb2, ledger_pb2, members_pb2, program_pb2

from loyalty_service.auth import credentials
from loyalty_service.auth.principal import PrincipalKind
from loyalty_service.db.engine import create_engine
from loyalty_service.program import stores
from loyalty_service.proto_time import to_timestamp
from tests.security.conftest import Person
from tests.support.api import Client, new_key
from tests.support.database import TestDatabase
from tests.support.processes import start_server_process

CURRENCY = "EUR"


async def _keys(url: str, store_id: str) -> dict[str, str]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    keys: dict[str, str] = {}
    try:
        async with engine.begin() as conn:
            await stores.create(conn, store_id=store_id, name="Privacy store", now=datetime.now(UTC))
            for kind in ("backoffice", "webshop", "app_backend", "pos"):
                _row, keys[kind] = await credentials.create(
                    conn,
                    kind=PrincipalKind(kind),
                    name=f"logs {kind}",
                    store_id=store_id if kind == "pos" else None,
                )
    finally:
        await engine.dispose()
    return keys


async def _expect(code: grpc.StatusCode, call: object) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call  # type: ignore[misc]
    assert refused.value.code() == code


async def _journey(
    channel: grpc.aio.Channel, keys: dict[str, str], person: Person, store_id: str
) -> list[str]:
    """Every kind of call a member's data goes through; returns the secrets used (keys, token)."""
    back, web, app, till = (Client(channel, keys[k]) for k in ("backoffice", "webshop", "app_backend", "pos"))
    await back.program.CreateEarningRule(
        program_pb2.CreateEarningRuleRequest(
            idempotency_key=new_key(),
            spec=program_pb2.EarningRuleSpec(
                name="base",
                kind=program_pb2.EARNING_RULE_KIND_BASE_RATE,
                currency=CURRENCY,
                points_per_unit="1",
            ),
            effective_from=to_timestamp(datetime(2020, 1, 1, tzinfo=UTC)),
        )
    )
    enrolled = await web.members.EnrollMember(
        members_pb2.EnrollMemberRequest(
            idempotency_key=new_key(),
            display_name=person.display_name,
            identifiers=person.identifiers()[:2],
            consents=[members_pb2.ConsentChange(purpose=members_pb2.CONSENT_PURPOSE_MARKETING, granted=True)],
        )
    )
    member_id = enrolled.member.member_id
    email, phone, card = person.identifiers()
    await web.members.LinkIdentifier(
        members_pb2.LinkIdentifierRequest(idempotency_key=new_key(), member_id=member_id, identifier=card)
    )
    await till.members.LookupMember(members_pb2.LookupMemberRequest(identifier=phone))
    when = datetime.now(UTC) - timedelta(minutes=1)
    for order, channel_kind in (
        ("o1-" + new_key(), common_pb2.CHANNEL_POS),
        ("o2-" + new_key(), common_pb2.CHANNEL_WEBSHOP),
    ):
        caller = till if channel_kind == common_pb2.CHANNEL_POS else web
        await caller.ledger.RecordPurchase(
            ledger_pb2.RecordPurchaseRequest(
                idempotency_key=new_key(),
                member=common_pb2.MemberRef(identifier=card),
                channel=channel_kind,
                store_id=store_id if channel_kind == common_pb2.CHANNEL_POS else "",
                order_id=order,
                amount=common_pb2.Money(amount_minor=4200, currency=CURRENCY),
                occurred_at=to_timestamp(when),
            )
        )
    await web.ledger.SpendPoints(
        ledger_pb2.SpendPointsRequest(
            idempotency_key=new_key(),
            member=common_pb2.MemberRef(identifier=email),
            points=3,
            channel=common_pb2.CHANNEL_WEBSHOP,
            order_id="s-" + new_key(),
            reason="checkout",
        )
    )
    # Failures that involve the person's data.
    await _expect(
        grpc.StatusCode.ALREADY_EXISTS,
        web.members.EnrollMember(
            members_pb2.EnrollMemberRequest(
                idempotency_key=new_key(), display_name=person.display_name, identifiers=[email]
            )
        ),
    )
    unknown = common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_EMAIL, value="nobody." + person.email)
    await _expect(
        grpc.StatusCode.NOT_FOUND,
        till.members.LookupMember(members_pb2.LookupMemberRequest(identifier=unknown)),
    )
    malformed = common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_PHONE, value=person.phone[3:])
    await _expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        till.members.LookupMember(members_pb2.LookupMemberRequest(identifier=malformed)),
    )
    token = (
        await app.members.IssueMemberToken(members_pb2.IssueMemberTokenRequest(member_id=member_id))
    ).token
    me = Client(channel, token)
    exported = await me.members.ExportMemberData(members_pb2.ExportMemberDataRequest(member_id=member_id))
    assert person.email.encode() in exported.document
    await me.members.EraseMember(
        members_pb2.EraseMemberRequest(idempotency_key=new_key(), member_id=member_id)
    )
    await _expect(
        grpc.StatusCode.UNAUTHENTICATED,
        me.members.GetMember(members_pb2.GetMemberRequest(member_id=member_id)),
    )
    return [*keys.values(), token]


async def test_a_full_journey_logs_no_personal_data(test_db: TestDatabase, tmp_path: Path) -> None:
    """Goal: the server's whole log output of a member's journey holds none of their personal data."""
    url = await test_db.new_database()
    store_id = "privacy-store"
    keys = await _keys(url, store_id)
    server = start_server_process(url, tmp_path, extra_env={"LOYALTY_LOG_LEVEL": "DEBUG"})
    person = Person.new()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            used = await _journey(channel, keys, person, store_id)
    finally:
        assert server.terminate() == 0
    log = server.log()
    assert "EraseMember" in log, "the log names calls: it is the log we meant to scan"
    assert "ALREADY_EXISTS" in log
    leaked = [s for s in (*person.secrets_to_find, "nobody." + person.email, *used) if s in log]
    assert leaked == [], f"personal data or secrets in the server log: {leaked}"
