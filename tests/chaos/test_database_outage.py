"""The database goes away and comes back: calls fail fast with UNAVAILABLE, health follows the database,
and the same server process serves again within seconds of its return, without a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from loyalty.v1 import common_pb2, ledger_pb2, ledger_pb2_grpc, live_pb2, members_pb2, members_pb2_grpc

from loyalty_service.auth.principal import PrincipalKind
from loyalty_service.health_watch import INTERVAL_SECONDS, PING_TIMEOUT_SECONDS
from tests.chaos.postgres import DedicatedPostgres
from tests.chaos.test_chaos import _credential
from tests.events.helpers import Replica, replicas
from tests.support.processes import start_server_process

pytestmark = pytest.mark.slow

FAIL_FAST_SECONDS = 5.0
"""A call while the database is down answers within this (the client's deadline is longer)."""
HEALTH_SECONDS = 2 * INTERVAL_SECONDS + PING_TIMEOUT_SECONDS + 1
RECOVERY_SECONDS = 10.0

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
async def postgres() -> AsyncIterator[DedicatedPostgres]:
    database = await asyncio.to_thread(DedicatedPostgres)
    yield database
    await asyncio.to_thread(database.close)


async def _wait_health(channel: grpc.aio.Channel, wanted: int, within: float) -> float:
    """Seconds until the overall health status is `wanted`; fails after `within`."""
    stub = health_pb2_grpc.HealthStub(channel)
    started = time.monotonic()
    status = None
    while time.monotonic() - started < within:
        status = (await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)).status
        if status == wanted:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"health still {status} after {within}s, wanted {wanted}")


async def test_calls_fail_fast_while_the_database_is_down_and_recover_after(
    postgres: DedicatedPostgres, tmp_path: Path
) -> None:
    """Goal: UNAVAILABLE within seconds during the outage, NOT_SERVING, then SERVING and writes again."""
    url = await postgres.new_database()
    key = await _credential(url, PrincipalKind.WEBSHOP)
    server = await asyncio.to_thread(start_server_process, url, tmp_path)
    metadata = (("authorization", f"Bearer {key}"),)
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            members = members_pb2_grpc.MemberServiceStub(channel)
            ledger = ledger_pb2_grpc.LedgerServiceStub(channel)
            member = (
                await members.EnrollMember(
                    members_pb2.EnrollMemberRequest(idempotency_key="outage-member", display_name="Outage"),
                    metadata=metadata,
                )
            ).member
            balance = ledger_pb2.GetBalanceRequest(member=common_pb2.MemberRef(member_id=member.member_id))
            spend = ledger_pb2.SpendPointsRequest(
                idempotency_key="outage-spend",
                member=common_pb2.MemberRef(member_id=member.member_id),
                points=1,
                channel=common_pb2.CHANNEL_WEBSHOP,
                order_id="outage-order",
            )
            await ledger.GetBalance(balance, metadata=metadata, timeout=5)

            await asyncio.to_thread(postgres.stop_immediate)
            for call, request in ((ledger.GetBalance, balance), (ledger.SpendPoints, spend)) * 3:
                started = time.monotonic()
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call(request, metadata=metadata, timeout=30)
                took = time.monotonic() - started
                assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value
                assert took < FAIL_FAST_SECONDS, f"UNAVAILABLE took {took:.1f}s"
            await _wait_health(channel, _NOT_SERVING, HEALTH_SECONDS)

            await asyncio.to_thread(postgres.start)
            back = time.monotonic()
            await _wait_health(channel, _SERVING, HEALTH_SECONDS)
            while True:
                try:
                    answer = await ledger.GetBalance(balance, metadata=metadata, timeout=5)
                    break
                except grpc.aio.AioRpcError as error:
                    assert error.code() == grpc.StatusCode.UNAVAILABLE, error  # noqa: PT017
                    assert time.monotonic() - back < RECOVERY_SECONDS, "not recovered"
                    await asyncio.sleep(0.2)
            assert answer.balance.member_id == member.member_id
            assert time.monotonic() - back < RECOVERY_SECONDS
        assert server.process.poll() is None, "the server had to restart"
    finally:
        server.terminate()


async def _resumed_sequences(replica: Replica, member_id: str, *, after: int, wanted: int) -> list[int]:
    """Read the member's events after sequence `after` as a reconnecting app would: on any stream error,
    resume after the last sequence delivered. Returns every sequence delivered, in delivery order."""
    seen: list[int] = []
    deadline = time.monotonic() + 90
    while len(seen) < wanted:
        assert time.monotonic() < deadline, f"only {seen} of {wanted} events"
        call = replica.live.WatchMember(
            live_pb2.WatchMemberRequest(member_id=member_id, from_sequence=seen[-1] if seen else after),
            metadata=replica.metadata,
            timeout=60,
        )
        try:
            async for message in call:
                if message.WhichOneof("item") == "event":
                    seen.append(message.event.sequence)
                    if len(seen) == wanted:
                        call.cancel()
                        break
        except grpc.aio.AioRpcError as error:
            assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), error  # noqa: PT017
            await asyncio.sleep(0.5)
    return seen


async def test_streams_catch_up_after_postgresql_restarts(
    postgres: DedicatedPostgres, tmp_path: Path
) -> None:
    """Goal: a PostgreSQL restart (immediate: crash recovery) between purchases loses no event of a
    stream on another replica: after resuming, it has every sequence once, in order."""
    url = await postgres.new_database()
    async with replicas(url, tmp_path, 2, {"LOYALTY_WATCH_REREAD_SECONDS": "1"}) as (_servers, (a, b)):
        await b.base_rate()
        member_id = await b.enroll()  # sequence 1
        reader = asyncio.create_task(_resumed_sequences(a, member_id, after=1, wanted=2 * 6))
        for _ in range(3):
            await b.buy(member_id)  # purchase_recorded + points_changed each
        await asyncio.to_thread(postgres.restart_immediate)
        await postgres.wait_ready()
        bought = 0
        deadline = time.monotonic() + RECOVERY_SECONDS + HEALTH_SECONDS
        while bought < 3:
            try:
                await b.buy(member_id)
                bought += 1
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.UNAVAILABLE, error  # noqa: PT017
                assert time.monotonic() < deadline, "replica B did not recover"
                await asyncio.sleep(0.3)
        seen = await asyncio.wait_for(reader, 120)
    assert seen == list(range(2, 14)), seen
