"""`db.fast.defer_writes`: writes kept for later are seen by every later statement, in each key's order,
fail as SQLAlchemy errors, and never outlive their transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db import fast
from loyalty_service.db.transaction import in_transaction, sqlstate
from tests.support.api import Running

_INSERT = "insert into {table} (k, v) values ($1, $2)"
_TIMES = "update {table} set v = v * $2 where k = $1"


@pytest.fixture
async def table(service: Running) -> AsyncIterator[str]:
    name = f"deferred_{uuid.uuid4().hex[:12]}"
    async with service.engine.begin() as conn:
        await conn.execute(text(f"create table {name} (k text primary key, v int not null)"))
    yield name
    async with service.engine.begin() as conn:
        await conn.execute(text(f"drop table {name}"))


async def _rows(service: Running, table: str) -> dict[str, int]:
    async with service.engine.connect() as conn:
        return {str(k): int(v) for k, v in (await conn.execute(text(f"select k, v from {table}"))).all()}


async def test_kept_writes_are_seen_by_raw_and_core_statements_and_committed(
    service: Running, table: str
) -> None:
    """Goal: after `defer_writes`, a write is not sent by `send`, but every later statement (raw read,
    Core read) sees it, and the transaction commits it."""
    insert = _INSERT.format(table=table)
    seen: list[int] = []

    async def work(conn: AsyncConnection) -> None:
        await fast.defer_writes(conn)
        assert await fast.send(conn, (insert, ("a", 1)), key="a") is None  # kept, not sent
        seen.append(int(await fast.fetchval(conn, f"select count(*) from {table}")))
        await fast.send(conn, (insert, ("b", 2)), key="b")
        await fast.send(conn, (insert, ("c", 3)), key="c")
        seen.append(int((await conn.execute(text(f"select count(*) from {table}"))).scalar_one()))
        await fast.send(conn, (insert, ("d", 4)), key="d")  # sent by in_transaction before COMMIT

    await in_transaction(service.engine, work)
    assert seen == [1, 3]
    assert await _rows(service, table) == {"a": 1, "b": 2, "c": 3, "d": 4}


async def test_writes_of_one_key_keep_their_order_when_sent_together(service: Running, table: str) -> None:
    """Goal: kept writes go out grouped by statement text, but never out of order for one key. The
    first write kept is an update (of b), so sending by text alone would run a's update before a's
    insert and leave a at 1."""
    insert, times = _INSERT.format(table=table), _TIMES.format(table=table)
    async with service.engine.begin() as conn:
        await conn.execute(text(f"insert into {table} values ('b', 5)"))

    async def work(conn: AsyncConnection) -> None:
        await fast.defer_writes(conn)
        await fast.send(conn, (times, ("b", 10)), key="b")
        await fast.send(conn, (insert, ("a", 1)), key="a")
        await fast.send(conn, (times, ("a", 10)), key="a")
        await fast.send(conn, (insert, ("b2", 7)), key="b")
        await fast.send(conn, (times, ("b2", 3)), key="b")
        await fast.send(conn, (times, ("a", 2)), key="a")

    await in_transaction(service.engine, work)
    assert await _rows(service, table) == {"a": 20, "b": 50, "b2": 21}


@pytest.mark.parametrize("next_statement", ["raw", "core", "commit"])
async def test_a_failing_kept_write_fails_as_a_sqlalchemy_error_and_leaves_nothing(
    service: Running, table: str, next_statement: str
) -> None:
    """Goal: a kept write that violates a key fails at the statement that sends it (a raw statement,
    a Core statement or the commit) as SQLAlchemy's IntegrityError, and the transaction leaves nothing."""
    insert = _INSERT.format(table=table)

    async def work(conn: AsyncConnection) -> None:
        await fast.defer_writes(conn)
        await fast.send(conn, (insert, ("a", 1)), key="a")
        await fast.send(conn, (insert, ("a", 2)), key="a")
        if next_statement == "raw":
            await fast.fetchval(conn, "select 1")
        elif next_statement == "core":
            await conn.execute(text("select 1"))

    with pytest.raises(IntegrityError) as caught:
        await in_transaction(service.engine, work)
    assert sqlstate(caught.value) == "23505"
    assert await _rows(service, table) == {}


async def test_kept_writes_of_a_rolled_back_transaction_are_never_sent(service: Running, table: str) -> None:
    """Goal: writes kept by a transaction that rolls back are dropped with it; the next transactions on
    the pool's connections write only their own rows."""
    insert = _INSERT.format(table=table)

    async def fails(conn: AsyncConnection) -> None:
        await fast.defer_writes(conn)
        await fast.send(conn, (insert, ("lost", 1)), key="lost")
        raise LookupError("refused after writing")

    with pytest.raises(LookupError):
        await in_transaction(service.engine, fails)
    for i in range(12):  # more than the pool holds, so the connection that kept them is reused

        async def writes(conn: AsyncConnection, i: int = i) -> None:
            await fast.send(conn, (insert, (f"k{i}", i)), key=f"k{i}")
            await fast.fetchval(conn, "select 1")

        await in_transaction(service.engine, writes)
    assert await _rows(service, table) == {f"k{i}": i for i in range(12)}


async def test_a_commit_outside_in_transaction_with_kept_writes_fails_loudly(
    service: Running, table: str
) -> None:
    """Goal: a transaction that would commit with writes still kept (a caller that forgot
    `fast.flush`) fails instead of losing them silently."""
    insert = _INSERT.format(table=table)

    async def forgets_to_flush() -> None:
        async with service.engine.begin() as conn:
            await fast.defer_writes(conn)
            await fast.send(conn, (insert, ("a", 1)), key="a")

    with pytest.raises(AssertionError, match="still kept"):
        await forgets_to_flush()
    assert await _rows(service, table) == {}
