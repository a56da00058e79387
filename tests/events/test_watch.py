"""WatchMember across replicas: order, resume without loss or repeats, a lost listener, slow consumers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
from loyalty.v1 import live_pb2
from sqlalchemy import text

from loyalty_service.bench.database import seed_members
from loyalty_service.bench.programme import member_id
from loyalty_service.bench.watch import watch_member
from loyalty_service.db.engine import create_engine
from tests.events.helpers import Replica, replicas
from tests.support.database import TestDatabase

FAST = {"LOYALTY_WATCH_HEARTBEAT_SECONDS": "1", "LOYALTY_WATCH_REREAD_SECONDS": "1"}


async def _collect(replica: Replica, member_id: str, from_sequence: int, count: int) -> list[int]:
    """Sequences of the first `count` events of a stream (after its snapshot)."""
    call = replica.live.WatchMember(
        live_pb2.WatchMemberRequest(member_id=member_id, from_sequence=from_sequence),
        metadata=replica.metadata,
        timeout=60,
    )
    first: Any = await call.read()
    assert first.WhichOneof("item") == "snapshot"
    seen: list[int] = []
    while len(seen) < count:
        message: Any = await call.read()
        assert message is not grpc.aio.EOF
        if message.WhichOneof("item") == "event":
            seen.append(message.event.sequence)
    call.cancel()
    return seen


async def test_a_stream_on_one_replica_sees_purchases_made_on_another_in_order(
    test_db: TestDatabase, tmp_path: Path
) -> None:
    """Goal: events committed through B reach a stream on A, in sequence order, none lost or repeated;
    a stream resumed with from_sequence after events happened while away gets exactly the rest."""
    url = await test_db.new_database()
    async with replicas(url, tmp_path, 2, FAST) as (_servers, (a, b)):
        await b.base_rate()
        member_id = await b.enroll()  # event 1: member_enrolled
        call = a.live.WatchMember(
            live_pb2.WatchMemberRequest(member_id=member_id), metadata=a.metadata, timeout=60
        )
        snapshot: Any = await call.read()
        assert snapshot.snapshot.member_id == member_id
        for _ in range(10):
            await b.buy(member_id)
        seen: list[int] = []
        while len(seen) < 20:  # each purchase: purchase_recorded, then points_changed
            message: Any = await call.read()
            if message.WhichOneof("item") == "event":
                seen.append(message.event.sequence)
                assert message.event.type == ("purchase_recorded", "points_changed")[len(seen) % 2 == 0]
        assert seen == list(range(2, 22))
        call.cancel()
        # Away: five more purchases, then resume from the last sequence received.
        for _ in range(5):
            await b.buy(member_id)
        assert await _collect(a, member_id, 21, 10) == list(range(22, 32))
        assert await _collect(b, member_id, 1, 30) == list(range(2, 32))


async def test_killing_the_listening_connection_loses_nothing(test_db: TestDatabase, tmp_path: Path) -> None:
    """Goal: with the LISTEN connection terminated, streams catch up (outbox re-read) without loss."""
    url = await test_db.new_database()
    engine = create_engine(url, pool_size=1)
    try:
        async with replicas(url, tmp_path, 2, FAST) as (_servers, (a, b)):
            await b.base_rate()
            member_id = await b.enroll()
            reader = asyncio.create_task(_collect(a, member_id, 1, 40))  # 2 events per purchase
            for index in range(20):
                if index in (5, 12):
                    async with engine.begin() as conn:
                        await conn.execute(
                            text(
                                "select pg_terminate_backend(pid) from pg_stat_activity "
                                "where application_name = 'loyalty-events' and datname = current_database()"
                            )
                        )
                await b.buy(member_id)
            assert await asyncio.wait_for(reader, 60) == list(range(2, 42))
    finally:
        await engine.dispose()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_a_slow_consumer_is_ended_and_memory_stays_bounded(
    test_db: TestDatabase, tmp_path: Path
) -> None:
    """Goal: a consumer that stops reading is ended with RESOURCE_EXHAUSTED; the server does not grow."""
    url = await test_db.new_database()
    env = {**FAST, "LOYALTY_WATCH_WRITE_TIMEOUT_SECONDS": "1", "LOYALTY_WATCH_BATCH_SIZE": "50"}
    async with replicas(url, tmp_path, 1, env) as ((server,), (a,)):
        await a.base_rate()
        member_id = await a.enroll()
        for _ in range(300):
            await a.buy(member_id, 100)
        # A tiny receive window and no automatic growth: the server's writes block once it is full.
        options = [("grpc.http2.lookahead_bytes", 1024), ("grpc.http2.bdp_probe", 0)]
        async with grpc.aio.insecure_channel(server.address, options=options) as channel:
            stub = type(a.live)(channel)
            call = stub.WatchMember(
                live_pb2.WatchMemberRequest(member_id=member_id, from_sequence=1), metadata=a.metadata
            )
            before = _rss_kib(server.process.pid)
            await asyncio.sleep(4)  # not reading
            code = None
            received = 0
            try:
                async for _message in call:
                    received += 1
            except grpc.aio.AioRpcError as error:
                code = error.code()
            assert code is grpc.StatusCode.RESOURCE_EXHAUSTED, (code, received)
            assert received < 601, "ended before the whole backlog (2 events per purchase)"
            after = _rss_kib(server.process.pid)
            assert after - before < 50_000, (before, after)


async def test_a_burst_of_streams_beyond_grpcs_default_queue_all_open(
    test_db: TestDatabase, tmp_path: Path
) -> None:
    """Goal: a replica restart sends every app back at once. 1500 WatchMember calls opened together on one
    connection all get their snapshot (by default grpc-core cancels calls beyond 1000 that wait for the
    Python server to take them)."""
    url = await test_db.new_database()
    await seed_members(url, count=1500)
    async with replicas(url, tmp_path, 1, FAST) as (_servers, (a,)):
        calls = [watch_member(a.channel, member_id(index), a.metadata) for index in range(1500)]
        try:
            firsts = await asyncio.wait_for(
                asyncio.gather(*(call.read() for call in calls), return_exceptions=True), 60
            )
            failed = [first for first in firsts if isinstance(first, BaseException)]
            assert not failed, f"{len(failed)} streams failed to open, e.g. {failed[0]!r}"
            assert all(first.WhichOneof("item") == "snapshot" for first in firsts)
        finally:
            for call in calls:
                call.cancel()
