"""Rich error details (google.rpc) on the wire, size limits, and idempotency under concurrency."""

from __future__ import annotations

import asyncio
import secrets

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from loyalty.v1 import common_pb2, members_pb2
from sqlalchemy import func, select

from loyalty_service.db.tables import members
from tests.support.api import Running, new_key

UNKNOWN_MEMBER = "mem_01HZZZZZZZZZZZZZZZZZZZZZZZ"


def _status(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    status = rpc_status.from_call(error)  # also checks code and message agree with the trailer
    assert status is not None, f"{error.code().name} without google.rpc.Status details"
    return status


def _detail(status: status_pb2.Status, kind: type[Message]) -> Message:
    for packed in status.details:
        if packed.Is(kind.DESCRIPTOR):
            detail = kind()
            packed.Unpack(detail)
            return detail
    raise AssertionError(f"no {kind.DESCRIPTOR.full_name} in {[d.type_url for d in status.details]}")


async def test_invalid_argument_carries_bad_request_field_violations(service: Running) -> None:
    """Goal: every refused field is named in google.rpc.BadRequest, with ErrorInfo beside it."""
    web = await service.client("webshop")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await web.members.EnrollMember(
            members_pb2.EnrollMemberRequest(
                idempotency_key="has spaces",
                identifiers=[common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_EMAIL, value="nope")],
            )
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = _status(refused.value)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    bad = _detail(status, error_details_pb2.BadRequest)
    assert isinstance(bad, error_details_pb2.BadRequest)
    assert {v.field for v in bad.field_violations} == {"idempotency_key", "identifiers[0].value"}
    assert all(v.description for v in bad.field_violations)
    info = _detail(status, error_details_pb2.ErrorInfo)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("INVALID_ARGUMENT", "loyalty.v1")


async def test_not_found_carries_resource_info(service: Running) -> None:
    """Goal: an unknown member is NOT_FOUND naming the resource type and name."""
    web = await service.client("webshop")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await web.members.GetMember(members_pb2.GetMemberRequest(member_id=UNKNOWN_MEMBER))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    resource = _detail(_status(refused.value), error_details_pb2.ResourceInfo)
    assert isinstance(resource, error_details_pb2.ResourceInfo)
    assert (resource.resource_type, resource.resource_name) == ("member", UNKNOWN_MEMBER)


async def test_reused_idempotency_key_carries_error_info(service: Running) -> None:
    """Goal: the same key with another payload is ALREADY_EXISTS, reason IDEMPOTENCY_KEY_REUSED."""
    web = await service.client("webshop")
    key = new_key()
    await web.members.EnrollMember(members_pb2.EnrollMemberRequest(idempotency_key=key, display_name="One"))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await web.members.EnrollMember(
            members_pb2.EnrollMemberRequest(idempotency_key=key, display_name="Two")
        )
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    info = _detail(_status(refused.value), error_details_pb2.ErrorInfo)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.reason == "IDEMPOTENCY_KEY_REUSED"
    assert info.metadata["idempotency_key"] == key


async def test_oversized_message_is_resource_exhausted(service: Running) -> None:
    """Goal: a request over max_message_bytes is refused as RESOURCE_EXHAUSTED, never INTERNAL."""
    web = await service.client("webshop")
    limit = service.service.runtime.settings.max_message_bytes
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await web.members.EnrollMember(
            members_pb2.EnrollMemberRequest(idempotency_key=new_key(), display_name="x" * (limit + 1)),
            timeout=30,
        )
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The server is still fine afterwards.
    health = await web.members.GetMember(
        members_pb2.GetMemberRequest(member_id=(await service.enroll()).member_id)
    )
    assert health.member.member_id


async def test_concurrent_retries_with_one_key_have_one_effect(service: Running) -> None:
    """Goal: 20 racing EnrollMember calls with one key make one member and give 20 identical answers."""
    web = await service.client("webshop")
    name = "Racer-" + secrets.token_hex(6)
    request = members_pb2.EnrollMemberRequest(idempotency_key=new_key(), display_name=name)
    answers = await asyncio.gather(*(web.members.EnrollMember(request, timeout=30) for _ in range(20)))
    assert len({a.SerializeToString(deterministic=True) for a in answers}) == 1
    async with service.engine.connect() as conn:
        count = (
            await conn.execute(
                select(func.count()).select_from(members).where(members.c.display_name == name)
            )
        ).scalar_one()
    assert count == 1
    assert answers[0].member.display_name == name
