"""The `loyalty-service` admin commands against a real database and a real server process."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from loyalty.v1 import members_pb2, members_pb2_grpc

from loyalty_service.auth.credentials import hash_key
from tests.foundation.helpers import cli_parallel, service_env
from tests.support.processes import ServerProcess

Start = Callable[[int], Awaitable[tuple[str, list[ServerProcess]]]]
REVOCATION_SECONDS = 10  # the authenticator caches a good key for 5 s in each process


def _enroll(address: str, key: str) -> grpc.StatusCode:
    with grpc.insecure_channel(address) as channel:
        try:
            members_pb2_grpc.MemberServiceStub(channel).EnrollMember(
                members_pb2.EnrollMemberRequest(idempotency_key="k-" + secrets.token_hex(8)),
                metadata=(("authorization", f"Bearer {key}"),),
                timeout=10,
            )
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def _lines(run: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert run.returncode == 0, f"{run.args}: exit {run.returncode}\n{run.stderr}"
    return [json.loads(line) for line in run.stdout.splitlines() if line.strip()]


async def test_credentials_and_stores_commands(server_processes: Start) -> None:
    """Goal: keys are shown once, never listed (nor their hashes), and revocation reaches a live server."""
    url, [server] = await server_processes(1)
    env = service_env(url)
    store_id = "cli-" + secrets.token_hex(3)
    store, web_run, no_store = cli_parallel(
        ("stores", "create", store_id, "CLI store"),
        ("credentials", "create", "--kind", "webshop", "--name", "web"),
        ("credentials", "create", "--kind", "pos", "--name", "till"),
        env=env,
    )
    assert _lines(store) == [{"store_id": store_id, "created": True}]
    assert no_store.returncode == 2
    assert "--store" in no_store.stderr
    [till_run] = cli_parallel(
        ("credentials", "create", "--kind", "pos", "--name", "till", "--store", store_id), env=env
    )
    keys: dict[str, str] = {}
    for run in (web_run, till_run):
        [created] = _lines(run)
        keys[created["credential_id"]] = created["api_key"]
        assert run.stdout.count(created["api_key"]) == 1, "the key is printed exactly once"
    web_id, web_key = next(iter(keys.items()))

    [listing] = cli_parallel(("credentials", "list"), env=env)
    rows = _lines(listing)
    assert {r["credential_id"] for r in rows} == set(keys)
    assert {frozenset(r) for r in rows} == {
        frozenset({"credential_id", "kind", "store_id", "name", "revoked_at"})
    }
    assert {r["store_id"] for r in rows if r["kind"] == "pos"} == {store_id}
    for key in keys.values():
        digest = hash_key(key)
        encodings = (
            digest.hex(),
            base64.b64encode(digest).decode(),
            base64.urlsafe_b64encode(digest).decode(),
        )
        for shown in (key, *encodings):
            assert shown not in listing.stdout + listing.stderr

    assert _enroll(server.address, web_key) == grpc.StatusCode.OK  # now cached by the server
    [revoke] = cli_parallel(("credentials", "revoke", web_id), env=env)
    [revoked] = _lines(revoke)
    assert revoked["credential_id"] == web_id
    assert revoked["revoked_at"]
    deadline = time.monotonic() + REVOCATION_SECONDS
    code = _enroll(server.address, web_key)
    while code == grpc.StatusCode.OK and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        code = _enroll(server.address, web_key)
    assert code == grpc.StatusCode.UNAUTHENTICATED

    everything, missing = cli_parallel(
        ("credentials", "list", "--all"),
        ("credentials", "revoke", "cred_01HZZZZZZZZZZZZZZZZZZZZZZZ"),
        env=env,
    )
    assert {r["credential_id"]: r["revoked_at"] for r in _lines(everything)}[web_id] == revoked["revoked_at"]
    assert missing.returncode == 1


async def test_expire_prints_what_it_did(server_processes: Start) -> None:
    """Goal: `expire` runs the maintenance once and prints its counts as one JSON object."""
    url, _servers = await server_processes(1)
    [run] = cli_parallel(("expire",), env=service_env(url))
    assert _lines(run) == [{"members_released": 0, "members_expired": 0, "pickups_cancelled": 0}]
