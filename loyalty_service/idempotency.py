"""The one idempotency mechanism of every write RPC (invariant 2).

Inside the request's transaction, `claim` inserts (scope, key, request hash). A concurrent request with
the same key blocks on that insert until the first commits or rolls back, so two racing calls can never
both run: the loser reads the first answer. A different request under the same key is refused.
Failed requests roll back with their claim: only answers that committed are remembered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import delete
from sqlalchemy.exc import NoResultFound
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db import fast
from loyalty_service.db.tables import idempotency_keys
from loyalty_service.errors import IdempotencyKeyReused

__all__ = ["Answers", "claim", "claim_new", "fingerprint", "prune", "record", "run_claimed"]

R = TypeVar("R", bound=Message)

# Prepared text through `db.fast`: these run on every write RPC.
_CLAIM = (
    "insert into idempotency_keys (scope, idempotency_key, method, request_hash) values ($1, $2, $3, $4)"
    " on conflict do nothing returning scope"
)
_CLAIM_MANY = (
    "insert into idempotency_keys (scope, idempotency_key, method, request_hash)"
    " select * from unnest($1::text[], $2::text[], $3::text[], $4::bytea[])"
    " on conflict do nothing returning scope, idempotency_key"
)
_STORED = (
    "select method, request_hash, response from idempotency_keys where scope = $1 and idempotency_key = $2"
)
_RECORD = "update idempotency_keys set response = $3 where scope = $1 and idempotency_key = $2"
# An upsert on keys this transaction claimed (so it always updates), not `update ... from unnest(...)`:
# the conflict check goes through the primary key whatever the statistics, while a join's generic plan,
# cached while the table was small and not yet analyzed, hashed a scan of the whole table.
_RECORD_MANY = (
    "insert into idempotency_keys (scope, idempotency_key, method, request_hash, response)"
    " select * from unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bytea[])"
    " on conflict (scope, idempotency_key) do update set response = excluded.response"
)


def fingerprint(method: str, request: Message) -> bytes:
    """What "the same request" means: the method and the request's deterministic bytes, key excluded."""
    copy = type(request)()
    copy.CopyFrom(request)
    if "idempotency_key" in copy.DESCRIPTOR.fields_by_name:
        copy.ClearField("idempotency_key")
    return hashlib.sha256(method.encode() + b"\0" + copy.SerializeToString(deterministic=True)).digest()


async def claim(
    conn: AsyncConnection, *, scope: str, key: str, method: str, request_hash: bytes
) -> bytes | None:
    """Claim the key for this transaction; returns the stored first answer if the key was used before."""
    inserted = await fast.fetchrow(conn, _CLAIM, scope, key, method, request_hash)
    if inserted is not None:
        return None
    row = await fast.fetchrow(conn, _STORED, scope, key)
    if row is None:
        raise NoResultFound("the claimed idempotency key is gone")
    stored_method, stored_hash, response = row
    if bytes(stored_hash) != request_hash:
        raise IdempotencyKeyReused(key=key, method=stored_method)
    assert response is not None, "a committed claim always has its answer"
    return bytes(response)


async def claim_new(
    conn: AsyncConnection, claims: Sequence[tuple[str, str, str, bytes]]
) -> set[tuple[str, str]]:
    """`claim` for many (scope, key, method, request hash) at once, in one statement: the (scope, key)
    pairs claimed now, which therefore have no earlier answer. The others were used before (or are
    given twice): `claim` each of them as usual to get its answer."""
    first: dict[tuple[str, str], tuple[str, bytes]] = {}
    for scope, key, method, request_hash in claims:
        first.setdefault((scope, key), (method, request_hash))
    if not first:
        return set()
    rows = await fast.fetch(
        conn,
        _CLAIM_MANY,
        [scope for scope, _ in first],
        [key for _, key in first],
        [method for method, _ in first.values()],
        [request_hash for _, request_hash in first.values()],
    )
    return {(str(row[0]), str(row[1])) for row in rows}


async def record(conn: AsyncConnection, *, scope: str, key: str, response: bytes) -> None:
    await fast.execute(conn, _RECORD, scope, key, response)


class Answers:
    """Answers of claims made in one transaction, stored together in one statement (`flush`) instead of
    one each: a batch's calls (`Runtime.write_each`). Flush before the transaction commits, and before a
    key with an answer still pending here is claimed again (its claim would find no answer)."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], tuple[str, bytes, bytes]] = {}

    def add(self, scope: str, key: str, method: str, request_hash: bytes, response: bytes) -> None:
        self._pending[scope, key] = method, request_hash, response

    def pending(self, scope: str, key: str) -> bool:
        return (scope, key) in self._pending

    async def flush(self, conn: AsyncConnection) -> None:
        if self._pending:
            pending = self._pending
            await fast.execute(
                conn,
                _RECORD_MANY,
                [scope for scope, _ in pending],
                [key for _, key in pending],
                [method for method, _, _ in pending.values()],
                [request_hash for _, request_hash, _ in pending.values()],
                [response for _, _, response in pending.values()],
            )
            self._pending = {}


async def prune(conn: AsyncConnection, *, now: datetime, retention_days: int) -> int:
    """Forget keys older than the retention (at least 7 days)."""
    assert retention_days >= 7
    result = await conn.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < now - timedelta(days=retention_days))
    )
    return int(result.rowcount)


async def run_claimed(
    conn: AsyncConnection,
    scope: str,
    key: str,
    method: str,
    request_hash: bytes,
    response_type: type[R],
    work: Callable[[AsyncConnection], Awaitable[R]],
    answers: Answers | None = None,
    *,
    claimed: bool = False,
) -> tuple[R, bool]:
    """Claim the key (unless the caller has: `claimed`), then run `work` and store its answer (now, or
    with `answers` of the transaction); or the stored answer of an earlier call."""
    if not claimed:
        stored = await claim(conn, scope=scope, key=key, method=method, request_hash=request_hash)
        if stored is not None:
            return response_type.FromString(stored), True
    response = await work(conn)
    if answers is not None:
        answers.add(scope, key, method, request_hash, response.SerializeToString())
    else:
        await record(conn, scope=scope, key=key, response=response.SerializeToString())
    return response, False
