"""The one idempotency mechanism of every write RPC (invariant 2).

Inside the request's transaction, `claim` inserts (scope, key, request hash). A concurrent request with
the same key blocks on that insert until the first commits or rolls back, so two racing calls can never
both run: the loser reads the first answer. A different request under the same key is refused.
Failed requests roll back with their claim: only answers that committed are remembered.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from google.protobuf.message import Message
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables import idempotency_keys
from loyalty_service.errors import IdempotencyKeyReused

__all__ = ["claim", "fingerprint", "prune", "record"]


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
    inserted = (
        await conn.execute(
            insert(idempotency_keys)
            .values(scope=scope, idempotency_key=key, method=method, request_hash=request_hash)
            .on_conflict_do_nothing()
            .returning(idempotency_keys.c.scope)
        )
    ).first()
    if inserted is not None:
        return None
    row = (
        await conn.execute(
            select(
                idempotency_keys.c.method, idempotency_keys.c.request_hash, idempotency_keys.c.response
            ).where(idempotency_keys.c.scope == scope, idempotency_keys.c.idempotency_key == key)
        )
    ).one()
    if row.request_hash != request_hash:
        raise IdempotencyKeyReused(key=key, method=row.method)
    assert row.response is not None, "a committed claim always has its answer"
    return bytes(row.response)


async def record(conn: AsyncConnection, *, scope: str, key: str, response: bytes) -> None:
    await conn.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.scope == scope, idempotency_keys.c.idempotency_key == key)
        .values(response=response)
    )


async def prune(conn: AsyncConnection, *, now: datetime, retention_days: int) -> int:
    """Forget keys older than the retention (at least 7 days)."""
    assert retention_days >= 7
    result = await conn.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < now - timedelta(days=retention_days))
    )
    return int(result.rowcount)
