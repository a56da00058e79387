"""GDPR: ExportMemberData gives everything held about a member; EraseMember removes the personal data.

After an erasure no table holds the person's name, e-mail, phone or card (the whole database is
scanned, event payloads and remembered idempotent answers included), the ledger still adds up under
the member id (the pseudonym) and its hash chain still verifies, the consent history is kept with the
withdrawals, and the member's tokens stop working.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from loyalty.v1 import common_pb2, members_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.ledger.check import check_ledger
from loyalty_service.members import export_registry
from tests.ledger.conftest import make_programme
from tests.security.conftest import Person, enrol_with_history
from tests.support.api import Running, new_key


async def _tables_mentioning(conn: AsyncConnection, needles: tuple[str, ...]) -> dict[str, list[str]]:
    """Every table whose rows (as text, bytea decoded as UTF-8 where it is) contain one of `needles`."""
    tables = (
        await conn.execute(text("select tablename from pg_tables where schemaname = 'public' order by 1"))
    ).scalars()
    found: dict[str, list[str]] = {}
    for table in tables.all():
        rows = (await conn.execute(text(f'select t::text from "{table}" t'))).scalars().all()
        blobs = (
            await conn.execute(
                text(
                    "select column_name from information_schema.columns"
                    " where table_name = :t and data_type = 'bytea'"
                ),
                {"t": table},
            )
        ).scalars()
        raw: list[bytes] = []
        for column in blobs.all():
            raw += [
                bytes(v)
                for v in (await conn.execute(text(f'select "{column}" from "{table}"'))).scalars()
                if v
            ]
        hits = [n for n in needles if any(n in r for r in rows) or any(n.encode() in b for b in raw)]
        if hits:
            found[table] = hits
    return found


@pytest.fixture
async def feature_exporter() -> AsyncIterator[list[str]]:
    """A registered feature, as rewards or check-ins will register: it exports and erases its data."""
    erased: list[str] = []

    async def export(conn: AsyncConnection, member_id: str) -> object:
        return {"stamps": [{"member_id": member_id, "count": 3}]}

    async def erase(conn: AsyncConnection, member_id: str) -> None:
        erased.append(member_id)

    export_registry.register("test_feature", export=export, erase=erase)
    yield erased
    export_registry._registry.pop("test_feature", None)


async def test_export_holds_everything_about_the_member(
    isolated_service: Running, feature_exporter: list[str]
) -> None:
    """Goal: the member's own export (member token) has every section, machine-readable, and only theirs."""
    programme = await make_programme(isolated_service)
    person = Person.new()
    member_id = await enrol_with_history(programme, person)
    other_id = await enrol_with_history(programme, Person.new())
    me = await isolated_service.member_client(member_id)

    answer = await me.members.ExportMemberData(members_pb2.ExportMemberDataRequest(member_id=member_id))
    assert answer.content_type == "application/json"
    document: dict[str, Any] = json.loads(answer.document)
    assert document["format"] == "loyalty.member-export.v1"
    assert document["member"]["display_name"] == person.display_name
    assert {(i["kind"], i["value"]) for i in document["identifiers"]} == {
        ("email", person.email),
        ("phone", person.phone),
        ("card", person.card),
    }
    assert {(c["purpose"], c["granted"]) for c in document["consents"]} == {
        ("marketing", True),
        ("location", False),
    }
    assert len(document["consent_history"]) == 2
    assert [e["entry_type"] for e in document["ledger_entries"]] == [
        "earn",
        "earn",
        "refund_reversal",
        "spend",
    ]
    assert len(document["purchases"]) == 2
    assert len(document["refunds"]) == 1
    assert len(document["spends"]) == 1
    assert document["features"]["test_feature"] == {"stamps": [{"member_id": member_id, "count": 3}]}
    assert other_id not in answer.document.decode(), "nothing of another member"

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await me.members.ExportMemberData(members_pb2.ExportMemberDataRequest(member_id=other_id))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    back = await isolated_service.client("backoffice")
    staff = await back.members.ExportMemberData(members_pb2.ExportMemberDataRequest(member_id=other_id))
    assert json.loads(staff.document)["member"]["member_id"] == other_id
    till = programme.till
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await till.members.ExportMemberData(members_pb2.ExportMemberDataRequest(member_id=member_id))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_erasure_removes_personal_data_and_keeps_the_ledger(
    isolated_service: Running, feature_exporter: list[str]
) -> None:
    """Goal: after EraseMember no table holds the person's data; amounts, chain and consent proof stay."""
    programme = await make_programme(isolated_service)
    person = Person.new()
    member_id = await enrol_with_history(programme, person)
    kept = Person.new()
    await enrol_with_history(programme, kept)
    me = await isolated_service.member_client(member_id)
    async with isolated_service.engine.connect() as conn:
        before = await _tables_mentioning(conn, person.secrets_to_find)
        balance_before = (
            await conn.execute(
                text("select available + pending from accounts where member_id = :m"), {"m": member_id}
            )
        ).scalar_one()
    assert "member_identifiers" in before
    assert "events" in before, "the enrolment event carries the member: the scan must see bytea"
    assert "idempotency_keys" in before, "the remembered EnrollMember answer carries the member"

    erased = await me.members.EraseMember(
        members_pb2.EraseMemberRequest(idempotency_key=new_key(), member_id=member_id)
    )
    assert erased.member.status == members_pb2.MEMBER_STATUS_ERASED
    assert erased.member.display_name == ""
    assert list(erased.member.identifiers) == []
    assert erased.identifiers_removed == 3
    assert feature_exporter == [member_id], "registered features erase their own data"

    async with isolated_service.engine.connect() as conn:
        assert await _tables_mentioning(conn, person.secrets_to_find) == {}
        assert set(await _tables_mentioning(conn, kept.secrets_to_find)) >= {"member_identifiers", "members"}
        balance_after = (
            await conn.execute(
                text("select available + pending from accounts where member_id = :m"), {"m": member_id}
            )
        ).scalar_one()
        assert balance_after == balance_before, "the ledger stays under the pseudonym"
        assert await check_ledger(conn) == [], "balances and hash chains still hold"

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await me.members.GetMember(members_pb2.GetMemberRequest(member_id=member_id))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, "the member's token is refused"
    app = await isolated_service.client("app_backend")
    with pytest.raises(grpc.aio.AioRpcError) as no_token:
        await app.members.IssueMemberToken(members_pb2.IssueMemberTokenRequest(member_id=member_id))
    assert no_token.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await programme.till.members.LookupMember(
            members_pb2.LookupMemberRequest(
                identifier=common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_EMAIL, value=person.email)
            )
        )
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND

    back = await isolated_service.client("backoffice")
    shown = await back.members.GetMember(
        members_pb2.GetMemberRequest(member_id=member_id, include_consent_history=True)
    )
    assert shown.member.status == members_pb2.MEMBER_STATUS_ERASED
    history = [(c.purpose, c.granted) for c in shown.member.consent_history]
    assert history == [
        (members_pb2.CONSENT_PURPOSE_MARKETING, True),
        (members_pb2.CONSENT_PURPOSE_LOCATION, False),
        (members_pb2.CONSENT_PURPOSE_MARKETING, False),
    ], "the proof of consent is kept and ends with the withdrawal"
    export = json.loads(
        (
            await back.members.ExportMemberData(members_pb2.ExportMemberDataRequest(member_id=member_id))
        ).document
    )
    assert export["member"]["status"] == "erased"
    assert len(export["ledger_entries"]) == 4

    again = await back.members.EraseMember(
        members_pb2.EraseMemberRequest(idempotency_key=new_key(), member_id=member_id)
    )
    assert again.identifiers_removed == 0, "erasing an erased member changes nothing"
    assert again.member.status == members_pb2.MEMBER_STATUS_ERASED
