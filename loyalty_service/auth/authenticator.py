"""Turns the `authorization` metadata of a call into a Principal, or refuses it.

API keys are looked up by hash; a positive look-up is cached for a few seconds per process so the hot
path does not pay a query per call. A revocation made through this process clears the cache at once;
other replicas see it within `cache_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_service.auth import credentials
from loyalty_service.auth.principal import Principal, PrincipalKind
from loyalty_service.auth.tokens import TokenSigner
from loyalty_service.db.tables import members
from loyalty_service.errors import Unauthenticated

__all__ = ["Authenticator"]

_MAX_CACHED = 10_000


class Authenticator:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        signer: TokenSigner,
        now: Callable[[], datetime],
        cache_seconds: float = 5.0,
    ) -> None:
        self._engine = engine
        self._signer = signer
        self._now = now
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._active_members: dict[str, float] = {}
        """member_id -> until when it is known to be active (member tokens of others are refused)."""

    def forget_all(self) -> None:
        self._cache.clear()
        self._active_members.clear()

    def forget_member(self, member_id: str) -> None:
        """The member's status changed (erased): its tokens are checked against the database again."""
        self._active_members.pop(member_id, None)

    async def _require_active_member(self, member_id: str) -> None:
        """A token outlives nothing: an erased (or merged) member's tokens are refused at once here, on
        other replicas within `cache_seconds`."""
        until = self._active_members.get(member_id)
        if until is not None and until > time.monotonic():
            return
        async with self._engine.connect() as conn:
            status = (
                await conn.execute(select(members.c.status).where(members.c.member_id == member_id))
            ).scalar_one_or_none()
        if status != "active":
            self._active_members.pop(member_id, None)
            raise Unauthenticated("member token of a member that is no longer active")
        if len(self._active_members) >= _MAX_CACHED:
            self._active_members.clear()
        self._active_members[member_id] = time.monotonic() + self._cache_seconds

    async def authenticate(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> Principal:
        secret = _bearer(metadata)
        if TokenSigner.looks_like_token(secret):
            claims = self._signer.verify(secret, now=self._now())
            await self._require_active_member(claims.member_id)
            return Principal(
                kind=PrincipalKind.MEMBER, credential_id=claims.issued_by, member_id=claims.member_id
            )
        cached = self._cache.get(secret)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with self._engine.connect() as conn:
            row = await credentials.find_by_key(conn, secret)
        if row is None or row.revoked_at is not None:
            self._cache.pop(secret, None)
            raise Unauthenticated("unknown or revoked API key")
        principal = Principal(kind=row.kind, credential_id=row.credential_id, store_id=row.store_id)
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[secret] = (time.monotonic() + self._cache_seconds, principal)
        return principal


def _bearer(metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, secret = text.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise Unauthenticated("authorization must be 'Bearer <key or member token>'")
            return secret.strip()
    raise Unauthenticated("missing authorization metadata: 'authorization: Bearer <key>'")
