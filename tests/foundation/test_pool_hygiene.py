"""The pool never hands out a connection a cancelled call left in a transaction or gave back mid-statement."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import text

from loyalty_service.db import fast
from loyalty_service.db.engine import create_engine
from tests.support.database import TestDatabase


async def test_a_connection_left_in_a_transaction_is_replaced_at_checkout(test_db: TestDatabase) -> None:
    """Goal: a connection returned with an asyncpg transaction SQLAlchemy does not know about (what a
    stream cancelled while its REPEATABLE READ transaction began leaves behind) is discarded at the next
    checkout; the next call gets a fresh connection and works, at another isolation level too. Clean
    connections are reused."""
    engine = create_engine(await test_db.new_database(), pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("select 0"))  # a transaction, ended by the pool's reset
            clean_driver = (await conn.get_raw_connection()).driver_connection
        async with engine.connect() as conn:
            assert (await conn.get_raw_connection()).driver_connection is clean_driver  # reused
            leaked = clean_driver.transaction(isolation="repeatable_read")
            await leaked.start()  # behind SQLAlchemy's back: the pool's reset does not end it
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="READ COMMITTED")
            assert (await conn.execute(text("select 1"))).scalar_one() == 1
            assert (await conn.get_raw_connection()).driver_connection is not clean_driver
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="REPEATABLE READ")
            assert (await conn.execute(text("select 2"))).scalar_one() == 2
    finally:
        await engine.dispose()


async def test_a_connection_given_back_by_a_cancelled_call_is_replaced(test_db: TestDatabase) -> None:
    """Goal: a call cancelled mid-statement (a raw statement through db.fast, as the live streams read)
    gives its connection back with a cancellation in flight; the pool does not hand that connection out
    again, and the next call, at REPEATABLE READ with a `set local`, works on a fresh one. A call that
    ends normally leaves its connection for reuse."""
    engine = create_engine(await test_db.new_database(), pool_size=1, max_overflow=0)
    started = asyncio.Event()

    async def slow_read() -> None:
        async with engine.connect() as conn:
            started.set()
            await fast.fetch_alone(conn, "select pg_sleep(5)")

    try:
        async with engine.connect() as conn:
            await fast.fetch_alone(conn, "select 1")
            first = (await conn.get_raw_connection()).driver_connection
        async with engine.connect() as conn:
            assert (await conn.get_raw_connection()).driver_connection is first, "a clean one is reused"
        reader = asyncio.create_task(slow_read())
        await started.wait()
        await asyncio.sleep(0.05)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        async with engine.connect() as conn:
            assert (await conn.get_raw_connection()).driver_connection is not first
            await conn.execution_options(isolation_level="REPEATABLE READ")
            await conn.execute(text("set local work_mem = '64MB'"))
            assert (await conn.execute(text("select 2"))).scalar_one() == 2
    finally:
        await engine.dispose()


async def test_reads_cancelled_at_any_moment_never_hand_on_an_open_transaction(test_db: TestDatabase) -> None:
    """Goal: reads cancelled at random moments (clients hanging up) never leave the next user of their
    connection inside a transaction. asyncpg prepares a new statement with Parse, Describe and Flush, no
    Sync: a task cancelled between the prepare's answer and its execute leaves the server in an implicit
    transaction that no client-side state shows, and the next REPEATABLE READ BEGIN failed ("SET
    TRANSACTION ISOLATION LEVEL must be called before any query", ~3 in 1000 such calls)."""
    engine = create_engine(await test_db.new_database(), pool_size=4, max_overflow=0)
    rng = random.Random(7)
    failures: list[str] = []

    async def cancelled_read(n: int) -> None:
        async with engine.connect() as conn:
            await fast.fetch_alone(conn, f"select $1::int + {n}", 1)  # a new text: always prepared

    async def victim_read() -> None:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="REPEATABLE READ")
            assert (await conn.execute(text("select 1"))).scalar_one() == 1

    async def one(n: int) -> None:
        cancel = rng.random() < 0.7
        task = asyncio.create_task(cancelled_read(n) if cancel else victim_read())
        await asyncio.sleep(rng.random() * 0.004)
        if cancel:
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception as error:  # what a victim met: collected, reported below
            failures.append(repr(error)[:200])

    try:
        for start in range(0, 6000, 20):
            await asyncio.gather(*(one(n) for n in range(start, start + 20)))
    finally:
        await engine.dispose()
    assert not failures, f"{len(failures)} reads met a connection left in a transaction: {failures[0]}"
