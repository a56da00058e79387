"""Turns the `authorization` metadata of a call into a Principal, or refuses it.

API keys are looked up by hash; a positive look-up is cached for a few seconds per process so the hot
path does not pay a query per call. A revocation made through this process clears the cache at once;
other replicas see it within `cache_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_service.auth import credentials
from loyalty_service.auth.principal import Principal, PrincipalKind
from loyalty_service.auth.tokens import TokenSigner
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

    def forget_all(self) -> None:
        self._cache.clear()

    async def authenticate(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> Principal:
        secret = _bearer(metadata)
        if TokenSigner.looks_like_token(secret):
            claims = self._signer.verify(secret, now=self._now())
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
