"""Hot-path statements straight to asyncpg, inside the caller's SQLAlchemy transaction.

The profile of a purchase (docs/performance.md) showed 42% of the server's CPU in SQLAlchemy Core:
building each statement anew, generating its cache key, looking up the compiled form, and the greenlet
bridge. The statements of the purchase, balance and spend paths are therefore written once as SQL text
with `$n` parameters and sent on the transaction's own asyncpg connection; asyncpg prepares each text
once per connection (its statement cache) and binds only the parameters afterwards.

The connection is the one SQLAlchemy holds for `conn`, in the same transaction: `driver` makes sure the
transaction has begun (SQLAlchemy's asyncpg adapter sends BEGIN lazily, at its first statement) with the
connection's isolation level, so raw and Core statements can be mixed freely. Driver errors are turned
into SQLAlchemy's `DBAPIError` classes, exactly as a Core statement would raise them, so retries on
serialisation failures and deadlocks (`db.transaction`) and the UNAVAILABLE mapping work unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, Table, event
from sqlalchemy.dialects.postgresql import JSON, JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util import await_only, greenlet_spawn

__all__ = [
    "Write",
    "combine",
    "defer_writes",
    "execute",
    "executemany",
    "fetch",
    "fetch_alone",
    "fetchrow",
    "fetchval",
    "flush",
    "forget_deferred",
    "insert",
    "insert_write",
    "send",
    "transaction_of",
]

Write = tuple[str, Sequence[Any]]
"""A statement with `$n` placeholders numbered from 1, and its arguments."""
_PLACEHOLDER = re.compile(r"\$(\d+)")
_COMBINED: dict[tuple[tuple[str, int], ...], str] = {}

_INSERTS: dict[tuple[str, tuple[str, ...]], tuple[str, tuple[bool, ...]]] = {}


async def _adapted(conn: AsyncConnection) -> Any:
    """SQLAlchemy's asyncpg adapter of `conn`, with its transaction begun."""
    if not conn.in_transaction():
        await conn.begin()  # autobegin, as the first Core statement would
    # The pooled connection SQLAlchemy holds; read without a greenlet round (`get_raw_connection`
    # costs one per call) unless it must be re-established.
    fairy = conn.sync_connection._dbapi_connection if conn.sync_connection is not None else None
    if fairy is None or fairy.dbapi_connection is None:
        fairy = await conn.get_raw_connection()
    adapted: Any = fairy.dbapi_connection  # SQLAlchemy's AsyncAdapt_asyncpg_connection
    if adapted._transaction is None and not adapted.autocommit:
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                try:
                    await adapted._start_transaction()  # raises DB-API errors already
                except Exception as error:
                    await _raise_as_sqlalchemy(conn, error, "BEGIN", ())
    return adapted


async def _raise_as_sqlalchemy(
    conn: AsyncConnection, error: Exception, sql: str, args: Sequence[Any]
) -> None:
    """Raise what SQLAlchemy raises for this DB-API error on `conn` (a `DBAPIError`), with its
    handling: a lost connection is invalidated, so the pool does not hand it out again."""
    await greenlet_spawn(
        conn.sync_connection._handle_dbapi_exception,  # type: ignore[union-attr]
        error,
        sql,
        tuple(args),
        None,
        None,
    )
    raise error  # pragma: no cover - the call above always raises


async def transaction_of(conn: AsyncConnection) -> object:
    """The driver transaction `conn` is in (begun if need be): the key of what a transaction may
    remember (a value read earlier in the same transaction). A new transaction is a new object."""
    transaction: object = (await _adapted(conn))._transaction
    return transaction


async def _fail(conn: AsyncConnection, adapted: Any, sql: str, args: Sequence[Any], error: Exception) -> None:
    """Raise the SQLAlchemy error for a driver error, as if a Core statement had met it."""
    try:
        adapted._handle_exception(error)  # raises the DB-API error class for the asyncpg error
    except Exception as dbapi_error:
        await _raise_as_sqlalchemy(conn, dbapi_error, sql, args)
    raise DBAPIError.instance(sql, tuple(args), error, adapted.dbapi.Error)  # pragma: no cover


# --- deferred writes ------------------------------------------------------------------------------
# A batch (`Runtime.write_each`) writes many purchases in one transaction, each with a few statements
# whose results nobody reads. While the transaction defers writes, `send` keeps them, and the next
# statement of any other kind (a read, a Core statement, the commit) first sends all kept writes: each
# distinct statement text once, with the arguments of every write that used it (asyncpg's
# `executemany`, one round trip). Writes of one key (a member) keep their order; writes of different
# keys touch different rows, so they may be sent in any order.

_DEFERRED = "loyalty_service.deferred_writes"


class _Deferred:
    __slots__ = ("transaction", "writes")

    def __init__(self, transaction: object) -> None:
        self.transaction = transaction
        self.writes: list[tuple[str, str, Sequence[Any]]] = []

    def batches(self) -> list[tuple[str, list[Sequence[Any]]]]:
        """The kept writes as (text, arguments of each use), in an order that keeps each key's order:
        a key's first writes, then every key's second writes, and so on."""
        levels: list[dict[str, list[Sequence[Any]]]] = []
        depth: dict[str, int] = {}
        for key, sql, args in self.writes:
            level = depth.get(key, 0)
            depth[key] = level + 1
            if level == len(levels):
                levels.append({})
            levels[level].setdefault(sql, []).append(args)
        self.writes = []
        return [batch for level in levels for batch in level.items()]


async def defer_writes(conn: AsyncConnection) -> None:
    """Keep `send`'s writes until the next other statement, for the rest of this transaction."""
    adapted = await _adapted(conn)
    conn.info[_DEFERRED] = _Deferred(adapted._transaction)


async def send(conn: AsyncConnection, write: Write, *, key: str) -> str | None:
    """A write whose result nobody reads, changing only rows of `key` (a member): sent now (returns
    its status), or kept while the transaction defers writes (returns None)."""
    adapted = await _adapted(conn)
    deferred = conn.info.get(_DEFERRED)
    if deferred is not None and deferred.transaction is adapted._transaction:
        deferred.writes.append((key, write[0], write[1]))
        return None
    return await execute(conn, write[0], *write[1])


async def _send_kept(adapted: Any, info: dict[Any, Any]) -> None:
    """Send the kept writes of the transaction `adapted` is in; raises the driver's error."""
    deferred = info.get(_DEFERRED)
    if deferred is None or not deferred.writes:
        return
    if deferred.transaction is not adapted._transaction:
        del info[_DEFERRED]  # left by a transaction that has ended
        return
    driver = adapted.driver_connection
    for sql, rows in deferred.batches():
        if len(rows) == 1:
            await driver.execute(sql, *rows[0])
        else:
            await driver.executemany(sql, rows)


async def flush(conn: AsyncConnection) -> None:
    """Send the writes this transaction kept (before a commit)."""
    if conn.info.get(_DEFERRED) is not None:
        await _adapted_flushed(conn)


def forget_deferred(conn: AsyncConnection) -> None:
    """Drop the deferral state when the transaction ends (the pooled connection outlives it)."""
    fairy = conn.sync_connection._dbapi_connection if conn.sync_connection is not None else None
    if fairy is not None:  # an invalidated connection is discarded, its state with it
        fairy.info.pop(_DEFERRED, None)


async def _adapted_flushed(conn: AsyncConnection) -> Any:
    """`_adapted`, after sending the writes this transaction kept: every statement sees them."""
    adapted = await _adapted(conn)
    if _DEFERRED in conn.info:
        try:
            await _send_kept(adapted, conn.info)
        except Exception as error:
            await _fail(conn, adapted, "deferred writes", (), error)
            raise
    return adapted


@event.listens_for(Engine, "before_cursor_execute")
def _flush_before_core(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    """A Core statement on a connection with kept writes: send them first (this runs in SQLAlchemy's
    greenlet, where `await_only` may wait for the driver)."""
    if _DEFERRED not in conn.info:
        return
    adapted = conn.connection.dbapi_connection
    try:
        await_only(_send_kept(adapted, conn.info))
    except Exception as error:
        try:
            adapted._handle_exception(error)  # raises the DB-API error class for the asyncpg error
        except Exception as dbapi_error:
            conn._handle_dbapi_exception(dbapi_error, "deferred writes", (), None, None)
        raise


@event.listens_for(Engine, "commit")
def _nothing_kept_at_commit(conn: Any) -> None:
    deferred = conn.info.get(_DEFERRED)
    if deferred is not None and deferred.transaction is conn.connection.dbapi_connection._transaction:
        assert not deferred.writes, "a transaction committed with writes still kept (call fast.flush)"


async def fetch_alone(conn: AsyncConnection, sql: str, *args: Any) -> list[Any]:
    """A single read-only statement on a connection not in a transaction, sent without BEGIN (the
    statement is its own snapshot); inside a transaction, as `fetch`."""
    if conn.in_transaction():
        return await fetch(conn, sql, *args)
    fairy = conn.sync_connection._dbapi_connection if conn.sync_connection is not None else None
    if fairy is None or fairy.dbapi_connection is None:
        fairy = await conn.get_raw_connection()
    adapted: Any = fairy.dbapi_connection
    if adapted._transaction is not None:
        return await fetch(conn, sql, *args)
    try:
        return list(await adapted.driver_connection.fetch(sql, *args))
    except Exception as error:
        await _fail(conn, adapted, sql, args, error)
        raise


async def fetch(conn: AsyncConnection, sql: str, *args: Any) -> list[Any]:
    adapted = await _adapted_flushed(conn)
    try:
        return list(await adapted.driver_connection.fetch(sql, *args))
    except Exception as error:
        await _fail(conn, adapted, sql, args, error)
        raise


async def fetchrow(conn: AsyncConnection, sql: str, *args: Any) -> Any:
    adapted = await _adapted_flushed(conn)
    try:
        return await adapted.driver_connection.fetchrow(sql, *args)
    except Exception as error:
        await _fail(conn, adapted, sql, args, error)
        raise


async def fetchval(conn: AsyncConnection, sql: str, *args: Any) -> Any:
    adapted = await _adapted_flushed(conn)
    try:
        return await adapted.driver_connection.fetchval(sql, *args)
    except Exception as error:
        await _fail(conn, adapted, sql, args, error)
        raise


async def execute(conn: AsyncConnection, sql: str, *args: Any) -> str:
    """Run one statement; returns the status ('UPDATE 1', ...)."""
    adapted = await _adapted_flushed(conn)
    try:
        return str(await adapted.driver_connection.execute(sql, *args))
    except Exception as error:
        await _fail(conn, adapted, sql, args, error)
        raise


async def executemany(conn: AsyncConnection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    adapted = await _adapted_flushed(conn)
    try:
        await adapted.driver_connection.executemany(sql, rows)
    except Exception as error:
        await _fail(conn, adapted, sql, (), error)
        raise


def _insert_sql(table: Table, columns: tuple[str, ...]) -> tuple[str, tuple[bool, ...]]:
    """`insert into table (columns) values ($1, ...)`, and which columns hold JSON (sent as text)."""
    key = (table.name, columns)
    found = _INSERTS.get(key)
    if found is None:
        placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        sql = f"insert into {table.name} ({', '.join(columns)}) values ({placeholders})"
        json_columns = tuple(isinstance(table.c[name].type, JSON | JSONB) for name in columns)
        found = _INSERTS[key] = (sql, json_columns)
    return found


def insert_write(table: Table, values: Mapping[str, Any]) -> Write:
    """The statement writing one row, as `insert(table).values(**values)` would, to send later or
    `combine` with others."""
    columns = tuple(values)
    sql, json_columns = _insert_sql(table, columns)
    args = [
        json.dumps(values[name]) if is_json and values[name] is not None else values[name]
        for name, is_json in zip(columns, json_columns, strict=True)
    ]
    return sql, args


async def insert(conn: AsyncConnection, table: Table, values: Mapping[str, Any]) -> None:
    """One row, as `conn.execute(insert(table).values(**values))` would write it."""
    sql, args = insert_write(table, values)
    await execute(conn, sql, *args)


def _shifted(sql: str, offset: int) -> str:
    return _PLACEHOLDER.sub(lambda m: f"${int(m.group(1)) + offset}", sql) if offset else sql


def combine(writes: Sequence[Write], last: Write) -> Write:
    """`writes` (inserts and updates without RETURNING) as data-modifying CTEs in front of `last`: one
    statement, one round trip. They all run on one snapshot and cannot see each other's rows, so a
    caller never combines two changes of one row, nor a change with a read of what it wrote."""
    if not writes:
        return last
    pieces = (*writes, last)
    key = tuple((sql, len(args)) for sql, args in pieces)
    sql = _COMBINED.get(key)
    if sql is None:
        ctes, offset = [], 0
        for i, (piece, args) in enumerate(writes):
            ctes.append(f"write_{i} as ({_shifted(piece, offset)})")
            offset += len(args)
        tail = _shifted(last[0], offset)
        if tail[:5].lower() == "with ":
            sql = f"with {', '.join(ctes)}, {tail[5:]}"
        else:
            sql = f"with {', '.join(ctes)} {tail}"
        _COMBINED[key] = sql
    return sql, [arg for _, args in pieces for arg in args]
