"""`db.fast`: raw asyncpg statements inside SQLAlchemy transactions behave like Core statements."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db import fast
from loyalty_service.db.transaction import in_transaction, sqlstate
from tests.support.api import Running


async def test_raw_and_core_statements_share_one_transaction(service: Running) -> None:
    """Goal: a raw statement sees the Core statement before it, and a rollback undoes both."""
    async with service.engine.connect() as conn:
        await conn.execute(text("create temporary table fast_probe (k text primary key, v int)"))
        await conn.commit()
        await fast.execute(conn, "insert into fast_probe values ($1, $2)", "a", 1)  # first: begins
        await conn.execute(text("insert into fast_probe values ('b', 2)"))
        assert await fast.fetchval(conn, "select sum(v) from fast_probe") == 3
        await conn.rollback()
        assert (await conn.execute(text("select count(*) from fast_probe"))).scalar_one() == 0
        await fast.fetchrow(conn, "select 1")  # a new transaction after the rollback
        assert conn.in_transaction()


async def test_driver_errors_are_sqlalchemy_errors(service: Running) -> None:
    """Goal: a unique violation is SQLAlchemy's IntegrityError with its SQLSTATE, as from Core."""
    async with service.engine.connect() as conn:
        await conn.execute(text("create temporary table fast_unique (k text primary key)"))
        await fast.execute(conn, "insert into fast_unique values ($1)", "x")
        with pytest.raises(IntegrityError) as caught:
            await fast.execute(conn, "insert into fast_unique values ($1)", "x")
        assert sqlstate(caught.value) == "23505"


async def test_deadlocks_on_raw_statements_are_retried(service: Running) -> None:
    """Goal: two transactions locking two rows in opposite orders through `fast`: PostgreSQL breaks
    the deadlock, `in_transaction` retries the loser, both finish."""
    async with service.engine.begin() as conn:
        await conn.execute(text("create table if not exists fast_deadlock (k text primary key, n int)"))
        await conn.execute(text("insert into fast_deadlock values ('a', 0), ('b', 0) on conflict do nothing"))
    both = asyncio.Barrier(2)

    def order(first: str, second: str) -> Callable[[AsyncConnection], Awaitable[None]]:
        waited = False

        async def work(conn: AsyncConnection) -> None:
            nonlocal waited
            await fast.execute(conn, "update fast_deadlock set n = n + 1 where k = $1", first)
            if not waited:
                waited = True
                await both.wait()
            await fast.execute(conn, "update fast_deadlock set n = n + 1 where k = $1", second)

        return work

    await asyncio.gather(
        in_transaction(service.engine, order("a", "b")), in_transaction(service.engine, order("b", "a"))
    )
    async with service.engine.begin() as conn:
        rows = dict((await conn.execute(text("select k, n from fast_deadlock"))).all())
        await conn.execute(text("drop table fast_deadlock"))
    assert rows == {"a": 2, "b": 2}
