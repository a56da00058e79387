"""MemberService through a real server and database."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from loyalty.v1 import common_pb2, members_pb2

from tests.support.api import Running, new_key

CARD = common_pb2.IDENTIFIER_KIND_CARD
EMAIL = common_pb2.IDENTIFIER_KIND_EMAIL
PHONE = common_pb2.IDENTIFIER_KIND_PHONE


def field_violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """The google.rpc.BadRequest field violations carried by an INVALID_ARGUMENT."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad = error_details_pb2.BadRequest()
                    detail.Unpack(bad)
                    return {v.field: v.description for v in bad.field_violations}
    return {}


def unique_email() -> str:
    return f"Ada.{new_key()}@Example.COM"


async def test_enroll_normalises_identifiers_and_looks_up_by_any(service: Running) -> None:
    """Goal: identifiers are stored normalised and find the member, whichever one a channel has."""
    email = unique_email()
    phone = "+33 6 " + str(10_000_000 + int(new_key()[2:8], 16) % 89_999_999)
    member = await service.enroll(
        display_name="Ada",
        identifiers=[
            common_pb2.Identifier(kind=EMAIL, value=email),
            common_pb2.Identifier(kind=PHONE, value=phone),
        ],
    )
    assert member.member_id.startswith("mem_")
    assert member.status == members_pb2.MEMBER_STATUS_ACTIVE
    stored = {i.kind: i.value for i in member.identifiers}
    assert stored[EMAIL] == email.lower()
    assert stored[PHONE] == phone.replace(" ", "")
    till = await service.client("pos", store_id="lookup-store")
    found = await till.members.LookupMember(
        members_pb2.LookupMemberRequest(identifier=common_pb2.Identifier(kind=PHONE, value=phone))
    )
    assert found.member.member_id == member.member_id


async def test_enroll_is_idempotent_and_refuses_a_changed_payload(service: Running) -> None:
    """Goal: the same key gives the same member once; the same key with another payload is refused."""
    web = await service.client("webshop")
    key = new_key()
    request = members_pb2.EnrollMemberRequest(idempotency_key=key, display_name="Bob")
    first = await web.members.EnrollMember(request)
    again = await web.members.EnrollMember(request)
    assert first == again
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await web.members.EnrollMember(
            members_pb2.EnrollMemberRequest(idempotency_key=key, display_name="Bobby")
        )
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "different request" in (refused.value.details() or "")


async def test_bad_input_is_refused_with_field_violations(service: Running) -> None:
    """Goal: every bad field is named, and nothing is written."""
    web = await service.client("webshop")
    key = new_key()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await web.members.EnrollMember(
            members_pb2.EnrollMemberRequest(
                idempotency_key=key,
                display_name="x" * 300,
                identifiers=[
                    common_pb2.Identifier(kind=EMAIL, value="not-an-email"),
                    common_pb2.Identifier(kind=PHONE, value="06 12 34 56 78"),
                    common_pb2.Identifier(kind=99, value="x"),  # type: ignore[arg-type]
                ],
            )
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(refused.value)
    assert set(violations) == {
        "display_name",
        "identifiers[0].value",
        "identifiers[1].value",
        "identifiers[2].kind",
    }
    # Nothing was written: the same key now works with a valid request.
    ok = await web.members.EnrollMember(
        members_pb2.EnrollMemberRequest(idempotency_key=key, display_name="Ok")
    )
    assert ok.member.display_name == "Ok"


async def test_identifier_taken_by_another_member_is_already_exists(service: Running) -> None:
    """Goal: an identifier is unique within the programme."""
    email = unique_email()
    first = await service.enroll(identifiers=[common_pb2.Identifier(kind=EMAIL, value=email)])
    second = await service.enroll()
    web = await service.client("webshop")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await web.members.LinkIdentifier(
            members_pb2.LinkIdentifierRequest(
                idempotency_key=new_key(),
                member_id=second.member_id,
                identifier=common_pb2.Identifier(kind=EMAIL, value=email.upper()),
            )
        )
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    again = await web.members.GetMember(members_pb2.GetMemberRequest(member_id=first.member_id))
    assert [i.value for i in again.member.identifiers] == [email.lower()]


async def test_unknown_member_is_not_found(service: Running) -> None:
    """Goal: a well-formed id that names nobody is NOT_FOUND, a malformed one INVALID_ARGUMENT."""
    web = await service.client("webshop")
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await web.members.GetMember(members_pb2.GetMemberRequest(member_id="mem_" + "0" * 26))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await web.members.GetMember(members_pb2.GetMemberRequest(member_id="nope"))
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_consent_changes_are_kept_as_history(service: Running) -> None:
    """Goal: consents have a current state and a timestamped history of every change."""
    member = await service.enroll(
        consents=[members_pb2.ConsentChange(purpose=members_pb2.CONSENT_PURPOSE_MARKETING, granted=True)]
    )
    app = await service.member_client(member.member_id)
    await app.members.UpdateConsent(
        members_pb2.UpdateConsentRequest(
            idempotency_key=new_key(),
            member_id=member.member_id,
            changes=[
                members_pb2.ConsentChange(purpose=members_pb2.CONSENT_PURPOSE_MARKETING, granted=False),
                members_pb2.ConsentChange(purpose=members_pb2.CONSENT_PURPOSE_LOCATION, granted=True),
            ],
        )
    )
    answer = await app.members.GetMember(
        members_pb2.GetMemberRequest(member_id=member.member_id, include_consent_history=True)
    )
    current = {c.purpose: c.granted for c in answer.member.consents}
    assert current == {
        members_pb2.CONSENT_PURPOSE_MARKETING: False,
        members_pb2.CONSENT_PURPOSE_LOCATION: True,
    }
    history = [(c.purpose, c.granted, c.channel) for c in answer.member.consent_history]
    assert history == [
        (members_pb2.CONSENT_PURPOSE_MARKETING, True, common_pb2.CHANNEL_WEBSHOP),
        (members_pb2.CONSENT_PURPOSE_MARKETING, False, common_pb2.CHANNEL_APP),
        (members_pb2.CONSENT_PURPOSE_LOCATION, True, common_pb2.CHANNEL_APP),
    ]
    assert all(c.HasField("changed_at") for c in answer.member.consent_history)


async def test_member_token_reaches_only_its_member(service: Running) -> None:
    """Goal: a member token reads its own member and is refused another's (invariant 7)."""
    alice = await service.enroll(display_name="Alice")
    bob = await service.enroll(display_name="Bob")
    app = await service.member_client(alice.member_id)
    own = await app.members.GetMember(members_pb2.GetMemberRequest(member_id=alice.member_id))
    assert own.member.display_name == "Alice"
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await app.members.GetMember(members_pb2.GetMemberRequest(member_id=bob.member_id))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
