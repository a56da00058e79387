"""Invariant 7 as a matrix: every RPC of every loyalty.v1 service × every kind of caller.

The expectation comes from the one declarative table, `loyalty_service.auth.policy.ACCESS`: a kind it
does not list gets PERMISSION_DENIED; a kind it lists gets past authorisation (an empty request is then
mostly INVALID_ARGUMENT); a missing, malformed, unknown, revoked or expired secret is UNAUTHENTICATED.
Nothing in the matrix may be UNKNOWN or INTERNAL.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from loyalty.v1 import members_pb2, program_pb2

from loyalty_service.auth.policy import ACCESS, PUBLIC_SERVICES
from loyalty_service.auth.principal import PrincipalKind
from loyalty_service.auth.tokens import TokenSigner
from tests.foundation.helpers import loyalty_services, method_path
from tests.support.api import Running, new_key
from tests.support.processes import TEST_SIGNING_KEY

KINDS = ("pos", "webshop", "app_backend", "backoffice", "member")
NEVER = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
REFUSED = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}
Metadata = tuple[tuple[str, str], ...]


def _bearer(secret: str) -> Metadata:
    return (("authorization", f"Bearer {secret}"),)


@dataclass
class Callers:
    allowed_kinds: dict[str, Metadata]
    """One good secret per kind (the member one is a member token)."""
    bad: dict[str, Metadata]
    """Secrets that identify nobody: each must be UNAUTHENTICATED everywhere."""


@pytest.fixture(scope="module")
async def callers(service: Running) -> Callers:
    member = await service.enroll(display_name="Matrix")
    member_client = await service.member_client(member.member_id)
    assert member_client.secret is not None
    kinds = {
        "pos": _bearer(await service.key("pos", store_id="matrix-" + secrets.token_hex(3))),
        "webshop": _bearer(await service.key("webshop")),
        "app_backend": _bearer(await service.key("app_backend")),
        "backoffice": _bearer(await service.key("backoffice")),
        "member": _bearer(member_client.secret),
    }
    back = await service.client("backoffice")
    created = await back.program.CreateCredential(
        program_pb2.CreateCredentialRequest(
            idempotency_key=new_key(), kind=program_pb2.CREDENTIAL_KIND_BACKOFFICE, name="to revoke"
        )
    )
    revoked_key = created.api_key
    # Used once first, so the authenticator has it cached: revocation must clear that cache.
    await _call(service.channel, _method("/loyalty.v1.ProgramService/ListStores"), _bearer(revoked_key))
    await back.program.RevokeCredential(
        program_pb2.RevokeCredentialRequest(
            idempotency_key=new_key(), credential_id=created.credential.credential_id
        )
    )
    expired, _ = TokenSigner(TEST_SIGNING_KEY.encode()).issue(
        member_id=member.member_id,
        issued_by="cred_matrix",
        now=datetime.now(UTC) - timedelta(hours=2),
        ttl_seconds=60,
    )
    forged, _ = TokenSigner(b"another-key-another-key-another-key-0123").issue(
        member_id=member.member_id, issued_by="cred_matrix", now=datetime.now(UTC), ttl_seconds=600
    )
    bad = {
        "no key": (),
        "malformed header": (("authorization", "Basic dXNlcjpwYXNz"),),
        "empty bearer": (("authorization", "Bearer "),),
        "unknown key": _bearer("lk_" + secrets.token_urlsafe(32)),
        "revoked key": _bearer(revoked_key),
        "expired member token": _bearer(expired),
        "forged member token": _bearer(forged),
    }
    return Callers(allowed_kinds=kinds, bad=bad)


def _all_methods() -> list[MethodDescriptor]:
    return [m for s in loyalty_services() for m in s.methods]


def _method(path: str) -> MethodDescriptor:
    return next(m for m in _all_methods() if method_path(m) == path)


async def _call(channel: grpc.aio.Channel, method: MethodDescriptor, metadata: Metadata) -> grpc.StatusCode:
    """Call `method` with an empty request; a stream counts as OK once its first answer or end arrives."""
    request_type = GetMessageClass(method.input_type)
    response_type = GetMessageClass(method.output_type)
    path = method_path(method)
    kwargs = {
        "request_serializer": request_type.SerializeToString,
        "response_deserializer": response_type.FromString,
    }
    request = request_type()
    try:
        if method.server_streaming:
            factory = channel.stream_stream if method.client_streaming else channel.unary_stream
            payload = iter([request]) if method.client_streaming else request
            stream = factory(path, **kwargs)(payload, metadata=metadata or None, timeout=5)
            try:
                await stream.read()
            finally:
                stream.cancel()
            return grpc.StatusCode.OK
        if method.client_streaming:
            await channel.stream_unary(path, **kwargs)(iter([request]), metadata=metadata or None, timeout=10)
        else:
            await channel.unary_unary(path, **kwargs)(request, metadata=metadata or None, timeout=10)
    except grpc.aio.AioRpcError as error:
        if method.server_streaming and error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            return grpc.StatusCode.OK  # admitted and still streaming
        return error.code()
    return grpc.StatusCode.OK


def test_every_rpc_has_a_policy_row_and_every_row_an_rpc() -> None:
    """Goal: a new RPC without a row in ACCESS fails here, and so does a row naming no RPC."""
    paths = {method_path(m) for m in _all_methods()}
    assert paths, "no loyalty.v1 services found"
    assert sorted(paths - set(ACCESS)) == [], "RPCs without a policy row"
    assert sorted(set(ACCESS) - paths) == [], "policy rows naming no RPC"
    for path, kinds in ACCESS.items():
        assert kinds, f"{path}: nobody may call it"
        assert kinds <= set(PrincipalKind), path


async def test_matrix_of_every_rpc_and_every_caller(service: Running, callers: Callers) -> None:
    """Goal: allowed kinds pass authorisation, others are PERMISSION_DENIED, bad secrets UNAUTHENTICATED."""
    problems: list[str] = []
    unimplemented: list[str] = []
    seen: Counter[str] = Counter()
    for method in _all_methods():
        path = method_path(method)
        allowed = {k.value for k in ACCESS.get(path, frozenset())}
        for kind in KINDS:
            code = await _call(service.channel, method, callers.allowed_kinds[kind])
            seen[code.name] += 1
            if code in NEVER:
                problems.append(f"{path} as {kind}: {code.name}")
            elif kind in allowed:
                if code == grpc.StatusCode.UNIMPLEMENTED:
                    unimplemented.append(f"{path} as {kind}")
                elif code in REFUSED:
                    problems.append(f"{path} as {kind}: {code.name}, but ACCESS allows {kind}")
            elif code != grpc.StatusCode.PERMISSION_DENIED:
                problems.append(f"{path} as {kind}: {code.name}, expected PERMISSION_DENIED")
        for name, metadata in callers.bad.items():
            code = await _call(service.channel, method, metadata)
            seen[code.name] += 1
            if code != grpc.StatusCode.UNAUTHENTICATED:
                problems.append(f"{path} with {name}: {code.name}, expected UNAUTHENTICATED")
    print(f"auth matrix outcomes: {dict(seen)}")
    if unimplemented:
        # Tolerated while the ledger is being written; the lead will make this a failure.
        print(f"WARNING: {len(unimplemented)} allowed calls answered UNIMPLEMENTED: {unimplemented}")
    assert problems == []


@pytest.mark.parametrize("metadata", [(), (("authorization", "Bearer lk_nobody"),)])
async def test_health_and_reflection_need_no_key(service: Running, metadata: Metadata) -> None:
    """Goal: load balancers and tools reach health and reflection with no key, or a wrong one."""
    health = health_pb2_grpc.HealthStub(service.channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(), metadata=metadata or None, timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(service.channel)
    stream = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
        metadata=metadata or None,
        timeout=5,
    )
    names = {s.name async for reply in stream for s in reply.list_services_response.service}
    assert {s.full_name for s in loyalty_services()} <= names
    assert names - {s.full_name for s in loyalty_services()} <= PUBLIC_SERVICES


async def test_unknown_method_is_unimplemented_not_internal(service: Running, callers: Callers) -> None:
    """Goal: a method the server does not have is UNIMPLEMENTED for any caller, never INTERNAL."""
    call = service.channel.unary_unary(
        "/loyalty.v1.MemberService/NoSuchMethod",
        request_serializer=members_pb2.GetMemberRequest.SerializeToString,
        response_deserializer=members_pb2.GetMemberResponse.FromString,
    )
    for metadata in (callers.allowed_kinds["backoffice"], ()):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(members_pb2.GetMemberRequest(), metadata=metadata or None, timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_request_streaming_rpcs_are_authenticated_too(service: Running, callers: Callers) -> None:
    """Goal: the interceptor fails closed for client- and bidi-streaming RPCs (none exist yet, some will).

    A server with the real interceptor and authenticator serves two streaming probes that no policy row
    names: a good key is PERMISSION_DENIED, no key UNAUTHENTICATED, and the handlers never run.
    """
    from collections.abc import AsyncIterator

    from loyalty_service.interceptors import CallInterceptor

    ran: list[str] = []

    async def upload(requests: AsyncIterator[bytes], context: object) -> bytes:
        ran.append("upload")
        return b"".join([r async for r in requests])

    async def chat(requests: AsyncIterator[bytes], context: object) -> AsyncIterator[bytes]:
        ran.append("chat")
        async for request in requests:
            yield request

    handlers = grpc.method_handlers_generic_handler(
        "loyalty.v1.ProbeService",
        {
            "Upload": grpc.stream_unary_rpc_method_handler(upload),
            "Chat": grpc.stream_stream_rpc_method_handler(chat),
        },
    )
    server = grpc.aio.server(interceptors=[CallInterceptor(service.service.runtime.authenticator)])
    server.add_generic_rpc_handlers((handlers,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            for metadata, expected in (
                (callers.allowed_kinds["backoffice"], grpc.StatusCode.PERMISSION_DENIED),
                ((), grpc.StatusCode.UNAUTHENTICATED),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await channel.stream_unary("/loyalty.v1.ProbeService/Upload")(
                        iter([b"a", b"b"]), metadata=metadata or None, timeout=5
                    )
                assert refused.value.code() == expected
                chat_call = channel.stream_stream("/loyalty.v1.ProbeService/Chat")(
                    iter([b"a"]), metadata=metadata or None, timeout=5
                )
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await chat_call.read()
                assert refused.value.code() == expected
    finally:
        await server.stop(0)
    assert ran == []
