"""Hostile input: at least 10 000 generated requests per RPC family against one server.

Only documented codes come back (never UNKNOWN or INTERNAL), the server stays up, a member token never
reads another member's data, and a batch whose every call was refused wrote nothing (row counts of every
table are equal before and after it). Requests go through `unary_unary` with identity serialisers, so raw
bytes a message could never produce reach the server as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import given, settings
from hypothesis import strategies as st
from loyalty.v1 import common_pb2, ledger_pb2, members_pb2, program_pb2

from loyalty_service.app import SERVICE_NAMES
from loyalty_service.auth import credentials
from loyalty_service.auth.principal import PrincipalKind
from loyalty_service.kernel.ids import new_id
from loyalty_service.program import stores
from loyalty_service.proto_time import to_timestamp
from tests.fuzz.conftest import FUZZ_SETTINGS, FuzzServer
from tests.fuzz.strategies import request_bytes

BATCH = 40
REQUESTS_PER_FAMILY = 10_000
_STATELESS_REFUSALS = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}
)
"""Codes a replay of the same call gets again, whatever happened in between."""
_REPLAYED_REFUSALS = 10 * BATCH
DOCUMENTED = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)


@dataclass
class Principals:
    """Callers of every kind, and two members: `mine` (whose token we hold) and `other`."""

    metadata: dict[str, tuple[tuple[str, str], ...]]
    mine: str
    other: str
    store_id: str

    def ids(self) -> list[str]:
        return [self.mine, self.other, self.store_id, new_id("mem"), new_id("spd"), "mem_", "mem_" + "Z" * 26]


def _fuzzed_methods(service_name: str) -> list[MethodDescriptor]:
    """Unary and server-streaming methods (a stream is judged by its first message or its error)."""
    service = descriptor_pool.Default().FindServiceByName(service_name)
    return [m for m in service.methods if not m.client_streaming]


_STREAMING = frozenset(
    f"/{m.containing_service.full_name}/{m.name}"
    for name in SERVICE_NAMES
    for m in descriptor_pool.Default().FindServiceByName(name).methods
    if m.server_streaming
)


def _setup(server: FuzzServer) -> Principals:
    keys: dict[str, str] = {}
    store_id = "fuzz-store"

    async def bootstrap() -> None:
        async with server.service.engine.begin() as conn:
            await stores.create(conn, store_id=store_id, name="Fuzz", now=datetime.now(UTC))
            for kind in (
                PrincipalKind.POS,
                PrincipalKind.WEBSHOP,
                PrincipalKind.APP_BACKEND,
                PrincipalKind.BACKOFFICE,
            ):
                store = store_id if kind is PrincipalKind.POS else None
                _row, keys[kind.value] = await credentials.create(
                    conn, kind=kind, name="fuzz", store_id=store
                )

    server.run(bootstrap())
    bearer = {kind: (("authorization", f"Bearer {key}"),) for kind, key in keys.items()}
    channel = server.channel
    enroll = channel.unary_unary(
        "/loyalty.v1.MemberService/EnrollMember",
        request_serializer=members_pb2.EnrollMemberRequest.SerializeToString,
        response_deserializer=members_pb2.EnrollMemberResponse.FromString,
    )
    mine, other = (
        enroll(
            members_pb2.EnrollMemberRequest(idempotency_key=f"fuzz-m{i}", display_name="Fuzz"),
            metadata=bearer["webshop"],
        ).member.member_id
        for i in range(2)
    )
    channel.unary_unary(
        "/loyalty.v1.ProgramService/CreateEarningRule",
        request_serializer=program_pb2.CreateEarningRuleRequest.SerializeToString,
        response_deserializer=program_pb2.CreateEarningRuleResponse.FromString,
    )(
        program_pb2.CreateEarningRuleRequest(
            idempotency_key="fuzz-rule",
            spec=program_pb2.EarningRuleSpec(
                name="fuzz", kind=program_pb2.EARNING_RULE_KIND_BASE_RATE, currency="EUR", points_per_unit="1"
            ),
            effective_from=to_timestamp(datetime(2000, 1, 1, tzinfo=UTC)),
        ),
        metadata=bearer["backoffice"],
    )
    for member_id in (mine, other):
        channel.unary_unary(
            "/loyalty.v1.LedgerService/RecordPurchase",
            request_serializer=ledger_pb2.RecordPurchaseRequest.SerializeToString,
            response_deserializer=ledger_pb2.RecordPurchaseResponse.FromString,
        )(
            ledger_pb2.RecordPurchaseRequest(
                idempotency_key=f"fuzz-buy-{member_id}",
                member=common_pb2.MemberRef(member_id=member_id),
                channel=common_pb2.CHANNEL_WEBSHOP,
                order_id=f"fuzz-{member_id}",
                amount=common_pb2.Money(amount_minor=10_000, currency="EUR"),
                occurred_at=to_timestamp(datetime.now(UTC)),
            ),
            metadata=bearer["webshop"],
        )
    token = channel.unary_unary(
        "/loyalty.v1.MemberService/IssueMemberToken",
        request_serializer=members_pb2.IssueMemberTokenRequest.SerializeToString,
        response_deserializer=members_pb2.IssueMemberTokenResponse.FromString,
    )(members_pb2.IssueMemberTokenRequest(member_id=mine), metadata=bearer["app_backend"]).token
    metadata = {
        **bearer,
        "member": (("authorization", f"Bearer {token}"),),
        "none": (),
        "garbage": (("authorization", "Bearer lk_" + "A" * 43),),
        "malformed": (("authorization", "Basic Zm9vOmJhcg=="),),
    }
    return Principals(metadata=metadata, mine=mine, other=other, store_id=store_id)


@pytest.fixture(scope="module")
def principals(fuzz_server: FuzzServer) -> Principals:
    return _setup(fuzz_server)


@dataclass
class Tally:
    requests: int = 0
    refused_batches: int = 0
    codes: dict[str, int] = field(default_factory=dict)


def _serving(server: FuzzServer) -> bool:
    answer = health_pb2_grpc.HealthStub(server.channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def _batch(
    methods: list[MethodDescriptor], principals: Principals
) -> st.SearchStrategy[list[tuple[str, str, bytes]]]:
    ids = principals.ids()
    call = st.sampled_from(methods).flatmap(
        lambda m: st.tuples(
            st.just(f"/{m.containing_service.full_name}/{m.name}"),
            st.sampled_from(sorted(principals.metadata)),
            request_bytes(m.input_type, ids),
        )
    )
    return st.lists(call, min_size=BATCH, max_size=BATCH)


def _send(
    server: FuzzServer, principals: Principals, batch: list[tuple[str, str, bytes]]
) -> Iterator[tuple[str, str, bytes, grpc.StatusCode, bytes]]:
    futures = []
    for method, who, payload in batch:
        if method in _STREAMING:
            yield _first_of_stream(server, principals, method, who, payload)
            continue
        callable_ = server.channel.unary_unary(method)  # identity (de)serialisers: bytes in, bytes out
        futures.append(
            (method, who, payload, callable_.future(payload, metadata=principals.metadata[who], timeout=30))
        )
    for method, who, payload, future in futures:
        try:
            yield method, who, payload, grpc.StatusCode.OK, future.result()
        except grpc.RpcError as error:
            yield method, who, payload, error.code(), b""  # type: ignore[attr-defined]


def _first_of_stream(
    server: FuzzServer, principals: Principals, method: str, who: str, payload: bytes
) -> tuple[str, str, bytes, grpc.StatusCode, bytes]:
    """A server stream's first message (then cancelled) or its error."""
    call = server.channel.unary_stream(method)(payload, metadata=principals.metadata[who], timeout=30)
    try:
        first: bytes = next(call)
        return method, who, payload, grpc.StatusCode.OK, first
    except grpc.RpcError as error:
        return method, who, payload, error.code(), b""  # type: ignore[attr-defined]
    finally:
        call.cancel()


@pytest.mark.parametrize("family", SERVICE_NAMES)
def test_generated_requests_get_documented_answers_and_refusals_write_nothing(
    fuzz_server: FuzzServer, principals: Principals, family: str
) -> None:
    """Goal: ≥ 10 000 hostile requests on the family; documented codes only; refused batches write nothing."""
    methods = _fuzzed_methods(family)
    tally = Tally()

    refusals: list[tuple[str, str, bytes]] = []  # refused whatever the state: bad input, no or wrong caller

    def send_and_check(batch: list[tuple[str, str, bytes]]) -> None:
        before = fuzz_server.row_counts()
        refused = True
        for method, who, payload, code, answer in _send(fuzz_server, principals, batch):
            tally.requests += 1
            tally.codes[code.name] = tally.codes.get(code.name, 0) + 1
            assert code in DOCUMENTED, f"{method} as {who} answered {code.name} to {payload[:200]!r}"
            if code is grpc.StatusCode.OK:
                refused = False
                if who == "member":
                    assert principals.other.encode() not in answer, f"{method}: a member read another's data"
            elif code in _STATELESS_REFUSALS and len(refusals) < _REPLAYED_REFUSALS:
                refusals.append((method, who, payload))
        if refused:
            tally.refused_batches += 1
            after = fuzz_server.row_counts()
            changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
            assert not changed, f"refused calls wrote rows: {changed}"

    @settings(FUZZ_SETTINGS)
    @given(batch=_batch(methods, principals))
    def run(batch: list[tuple[str, str, bytes]]) -> None:
        send_and_check(batch)

    run()
    # A family that answers OK to one generated call in seven (reads anyone may make) gives an all-refused
    # batch of forty only now and then; replaying refused calls in batches of their own checks "refusals
    # write nothing" on every run, not by chance.
    for start in range(0, len(refusals), BATCH):
        send_and_check(refusals[start : start + BATCH])
    print(
        f"\n{family}: {tally.requests} requests, {tally.refused_batches} all-refused batches,"
        f" codes {tally.codes}"
    )
    assert _serving(fuzz_server)
    if FUZZ_SETTINGS.max_examples >= 250:
        assert tally.requests >= REQUESTS_PER_FAMILY
    assert tally.refused_batches > 0


def test_messages_over_the_size_limit_are_refused(fuzz_server: FuzzServer, principals: Principals) -> None:
    """Goal: a request over max_message_bytes is RESOURCE_EXHAUSTED and the server keeps serving."""
    limit = fuzz_server.service.runtime.settings.max_message_bytes
    payload = b"\x0a" + b"\xff\xff\xff\x03" + b"x" * (limit + 1024)
    with pytest.raises(grpc.RpcError) as caught:
        fuzz_server.channel.unary_unary("/loyalty.v1.LedgerService/GetBalance")(
            payload, metadata=principals.metadata["backoffice"], timeout=30
        )
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    assert _serving(fuzz_server)


@pytest.mark.parametrize("payload", [b"\x0a\x02\xff\xfe", b"\x0a\x05abc", b"\xff\xff\xff\xff\xff\xff"])
def test_undecodable_bytes_are_invalid_argument(
    fuzz_server: FuzzServer, principals: Principals, payload: bytes
) -> None:
    """Goal: bad UTF-8, truncation or garbage is INVALID_ARGUMENT (not UNKNOWN from the deserializer)."""
    with pytest.raises(grpc.RpcError) as caught:
        fuzz_server.channel.unary_unary("/loyalty.v1.MemberService/GetMember")(
            payload, metadata=principals.metadata["backoffice"], timeout=10
        )
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
