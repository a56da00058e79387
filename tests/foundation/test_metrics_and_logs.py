"""Observability of a real server process: Prometheus metrics over HTTP and one JSON log line per call."""

from __future__ import annotations

import json
import secrets
import urllib.request

import grpc
import pytest
from loyalty.v1 import common_pb2, members_pb2, members_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from loyalty_service.auth import credentials
from loyalty_service.auth.principal import PrincipalKind
from loyalty_service.db.engine import create_engine
from tests.support.database import TestDatabase
from tests.support.processes import free_port, start_server_process

EMAIL = common_pb2.IDENTIFIER_KIND_EMAIL
PHONE = common_pb2.IDENTIFIER_KIND_PHONE


async def _key(url: str, kind: PrincipalKind) -> tuple[str, str]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            row, key = await credentials.create(conn, kind=kind, name=f"obs {kind.value}", store_id=None)
    finally:
        await engine.dispose()
    return row.credential_id, key


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return str(reply.read().decode())


def _samples(text: str, name: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def _value(text: str, name: str, **labels: str) -> float:
    found = [s.value for s in _samples(text, name) if all(s.labels.get(k) == v for k, v in labels.items())]
    return sum(found)


async def test_metrics_and_log_lines_of_a_few_calls(
    test_db: TestDatabase, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Goal: calls are counted by method and code, timed, logged once each, and no secret or PII leaks."""
    url = await test_db.new_database()
    web_id, web_key = await _key(url, PrincipalKind.WEBSHOP)
    app_id, app_key = await _key(url, PrincipalKind.APP_BACKEND)
    metrics_port = free_port()
    server = start_server_process(
        url, tmp_path_factory.mktemp("observed"), extra_env={"LOYALTY_METRICS_PORT": str(metrics_port)}
    )
    tag = secrets.token_hex(4)
    email = f"Grace.{tag}@Example.COM"
    phone = f"+3361{int(tag, 16) % 10_000_000:07d}"
    unknown_email = f"nobody.{tag}@example.org"
    bad_email = f"not-an-email-{tag}"
    name = f"Hopper-{tag}"
    web = (("authorization", f"Bearer {web_key}"),)
    app = (("authorization", f"Bearer {app_key}"),)
    expected: list[tuple[str, str, str]] = []
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = members_pb2_grpc.MemberServiceStub(channel)
            member = stub.EnrollMember(
                members_pb2.EnrollMemberRequest(
                    idempotency_key="k-" + tag,
                    display_name=name,
                    identifiers=[
                        common_pb2.Identifier(kind=EMAIL, value=email),
                        common_pb2.Identifier(kind=PHONE, value=phone),
                    ],
                ),
                metadata=web,
                timeout=10,
            ).member
            expected.append(("EnrollMember", "OK", web_id))
            with pytest.raises(grpc.RpcError) as refused:
                stub.GetMember(members_pb2.GetMemberRequest(member_id="nope"), metadata=web, timeout=10)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            expected.append(("GetMember", "INVALID_ARGUMENT", web_id))
            with pytest.raises(grpc.RpcError) as refused:
                stub.EnrollMember(
                    members_pb2.EnrollMemberRequest(
                        idempotency_key="k2-" + tag,
                        identifiers=[common_pb2.Identifier(kind=EMAIL, value=bad_email)],
                    ),
                    metadata=web,
                    timeout=10,
                )
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            expected.append(("EnrollMember", "INVALID_ARGUMENT", web_id))
            token = stub.IssueMemberToken(
                members_pb2.IssueMemberTokenRequest(member_id=member.member_id), metadata=app, timeout=10
            ).token
            expected.append(("IssueMemberToken", "OK", app_id))
            stub.GetMember(
                members_pb2.GetMemberRequest(member_id=member.member_id),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=10,
            )
            expected.append(("GetMember", "OK", f"member-token:{app_id}"))
            stub.LookupMember(
                members_pb2.LookupMemberRequest(identifier=common_pb2.Identifier(kind=PHONE, value=phone)),
                metadata=web,
                timeout=10,
            )
            expected.append(("LookupMember", "OK", web_id))
            with pytest.raises(grpc.RpcError) as refused:
                stub.LookupMember(
                    members_pb2.LookupMemberRequest(
                        identifier=common_pb2.Identifier(kind=EMAIL, value=unknown_email)
                    ),
                    metadata=web,
                    timeout=10,
                )
            assert refused.value.code() == grpc.StatusCode.NOT_FOUND
            expected.append(("LookupMember", "NOT_FOUND", web_id))

        text = _scrape(metrics_port)
    finally:
        assert server.terminate() == 0

    handled = "loyalty_grpc_server_handled_total"
    assert _value(text, handled, grpc_method="EnrollMember", grpc_code="OK") == 1
    assert _value(text, handled, grpc_method="EnrollMember", grpc_code="INVALID_ARGUMENT") == 1
    assert _value(text, handled, grpc_method="GetMember", grpc_code="INVALID_ARGUMENT") == 1
    assert _value(text, handled, grpc_method="GetMember", grpc_code="OK") == 1
    assert _value(text, handled, grpc_method="LookupMember", grpc_code="NOT_FOUND") == 1
    assert _value(text, handled) == len(expected), "health checks are not counted as loyalty calls"
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["loyalty_grpc_server_handling_seconds"].type == "histogram"
    assert _value(text, "loyalty_grpc_server_handling_seconds_count", grpc_method="EnrollMember") == 2
    assert _samples(text, "loyalty_grpc_server_handling_seconds_bucket")
    assert families["loyalty_db_pool_connections"].type == "gauge"
    assert {s.labels["state"] for s in families["loyalty_db_pool_connections"].samples} >= {
        "checked_out",
        "idle",
    }

    log = server.log()
    entries = []
    for line in log.splitlines():
        if line.startswith("loyalty-service serving on") or not line.strip():
            continue
        entries.append(json.loads(line))  # every other line is one JSON object
    calls = [e for e in entries if e.get("msg") == "call"]
    assert [(e["method"].rsplit("/", 1)[-1], e["code"], e["credential_id"]) for e in calls] == expected
    for entry in calls:
        assert entry["method"].startswith("/loyalty.v1.MemberService/")
        assert isinstance(entry["duration_ms"], int | float)
        assert entry["duration_ms"] >= 0
    secrets_and_pii = {
        "web key": web_key,
        "app key": app_key,
        "member token": token,
        "e-mail": email,
        "e-mail normalised": email.lower(),
        "unknown e-mail": unknown_email,
        "malformed e-mail": bad_email,
        "phone": phone,
        "display name": name,
    }
    leaked = [what for what, value in secrets_and_pii.items() if value in log]
    assert leaked == [], f"log leaks {leaked}"
