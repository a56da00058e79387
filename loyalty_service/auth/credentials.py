"""API credentials: random keys shown once, stored only as a SHA-256 hash, revocable.

A key is 32 random bytes, so a fast hash is enough (there is nothing to brute-force); the hash is the
look-up key. Statements take a connection and never commit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.auth.principal import PrincipalKind
from loyalty_service.db.tables import credentials
from loyalty_service.kernel.ids import new_id

__all__ = [
    "CREDENTIAL_KINDS",
    "CredentialRow",
    "create",
    "find_by_key",
    "get",
    "hash_key",
    "list_all",
    "revoke",
]

CREDENTIAL_KINDS = frozenset(
    {PrincipalKind.POS, PrincipalKind.WEBSHOP, PrincipalKind.APP_BACKEND, PrincipalKind.BACKOFFICE}
)
_KEY_PREFIX = "lk_"


@dataclass(frozen=True, slots=True)
class CredentialRow:
    credential_id: str
    kind: PrincipalKind
    store_id: str | None
    name: str
    created_at: datetime
    revoked_at: datetime | None


def hash_key(api_key: str) -> bytes:
    return hashlib.sha256(api_key.encode()).digest()


def _row(row: object) -> CredentialRow:
    m = row._mapping  # type: ignore[attr-defined]
    return CredentialRow(
        credential_id=m["credential_id"],
        kind=PrincipalKind(m["kind"]),
        store_id=m["store_id"],
        name=m["name"],
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )


_COLUMNS = (
    credentials.c.credential_id,
    credentials.c.kind,
    credentials.c.store_id,
    credentials.c.name,
    credentials.c.created_at,
    credentials.c.revoked_at,
)


async def create(
    conn: AsyncConnection, *, kind: PrincipalKind, name: str, store_id: str | None
) -> tuple[CredentialRow, str]:
    """Insert a credential and return it with its key, which is not kept anywhere."""
    assert kind in CREDENTIAL_KINDS
    api_key = _KEY_PREFIX + secrets.token_urlsafe(32)
    row = (
        await conn.execute(
            insert(credentials)
            .values(
                credential_id=new_id("cred"),
                kind=kind.value,
                store_id=store_id,
                name=name,
                key_hash=hash_key(api_key),
            )
            .returning(*_COLUMNS)
        )
    ).one()
    return _row(row), api_key


async def find_by_key(conn: AsyncConnection, api_key: str) -> CredentialRow | None:
    row = (
        await conn.execute(select(*_COLUMNS).where(credentials.c.key_hash == hash_key(api_key)))
    ).one_or_none()
    return None if row is None else _row(row)


async def get(conn: AsyncConnection, credential_id: str) -> CredentialRow | None:
    row = (
        await conn.execute(select(*_COLUMNS).where(credentials.c.credential_id == credential_id))
    ).one_or_none()
    return None if row is None else _row(row)


async def list_all(conn: AsyncConnection, *, include_revoked: bool) -> list[CredentialRow]:
    query = select(*_COLUMNS).order_by(credentials.c.credential_id)
    if not include_revoked:
        query = query.where(credentials.c.revoked_at.is_(None))
    return [_row(r) for r in (await conn.execute(query)).all()]


async def revoke(conn: AsyncConnection, credential_id: str, *, now: datetime) -> CredentialRow | None:
    """Revoke once; revoking a revoked credential keeps its first revocation time."""
    await conn.execute(
        update(credentials)
        .where(credentials.c.credential_id == credential_id, credentials.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return await get(conn, credential_id)
