"""What every servicer needs, built once at start and passed down: settings, engine, clock, signer.

`write` is the shape of every state-changing RPC: one transaction holding the idempotency claim, the
change, its events and the stored answer, retried as a whole on serialisation failures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_service import idempotency
from loyalty_service.auth.authenticator import Authenticator
from loyalty_service.auth.principal import current_principal
from loyalty_service.auth.tokens import TokenSigner
from loyalty_service.config import Settings
from loyalty_service.db.transaction import in_transaction

__all__ = ["Runtime"]

R = TypeVar("R", bound=Message)
T = TypeVar("T")


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    now: Callable[[], datetime]
    signer: TokenSigner
    authenticator: Authenticator

    async def write(
        self,
        *,
        method: str,
        request: Message,
        key: str,
        response_type: type[R],
        work: Callable[[AsyncConnection], Awaitable[R]],
    ) -> R:
        """Run `work` once per (caller, key); a retry gets the first answer back."""
        response, _replayed = await self.write_outcome(
            method=method, request=request, key=key, response_type=response_type, work=work
        )
        return response

    async def write_outcome(
        self,
        *,
        method: str,
        request: Message,
        key: str,
        response_type: type[R],
        work: Callable[[AsyncConnection], Awaitable[R]],
    ) -> tuple[R, bool]:
        """As `write`, and whether the answer is a replay of an earlier call with the same key."""
        scope = current_principal().idempotency_scope
        request_hash = idempotency.fingerprint(method, request)

        async def transaction(conn: AsyncConnection) -> tuple[R, bool]:
            stored = await idempotency.claim(
                conn, scope=scope, key=key, method=method, request_hash=request_hash
            )
            if stored is not None:
                return response_type.FromString(stored), True
            response = await work(conn)
            await idempotency.record(conn, scope=scope, key=key, response=response.SerializeToString())
            return response, False

        return await in_transaction(self.engine, transaction)

    async def read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self.engine.connect() as conn:
            return await work(conn)
