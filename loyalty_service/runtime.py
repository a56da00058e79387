"""What every servicer needs, built once at start and passed down: settings, engine, clock, signer.

`write` is the shape of every state-changing RPC: one transaction holding the idempotency claim, the
change, its events and the stored answer, retried as a whole on serialisation failures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
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
from loyalty_service.errors import LoyaltyError
from loyalty_service.write_batches import BatchReader, ChunkWriter, WriteCall, write_alone

__all__ = ["BatchReader", "Runtime", "WriteCall"]

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
        return await write_alone(
            self.engine,
            scope=current_principal().idempotency_scope,
            key=key,
            method=method,
            request_hash=idempotency.fingerprint(method, request),
            response_type=response_type,
            work=work,
        )

    async def write_each(
        self,
        *,
        method: str,
        response_type: type[R],
        calls: Sequence[WriteCall[R]],
        chunk: int = 50,
        reader: BatchReader | None = None,
    ) -> list[tuple[R, bool] | LoyaltyError]:
        """`write_outcome` for many calls, with one transaction (and one durable commit) per chunk.

        Each call runs with its own idempotency claim, so it has exactly the effect and answer it
        would have alone, and a call that raises a `LoyaltyError` gets that error as its result and
        leaves nothing behind, never failing its neighbours: the chunk first runs without savepoints
        (two round trips per call saved); if a call raises, that transaction is rolled back and the
        chunk runs again with a savepoint per call, which the failing call rolls back to. Calls run in the
        order given; `reader.before_chunk` runs first in each chunk's transaction with the indexes of its
        calls (the ledger locks the chunk's members there, in one order, so that concurrent batches
        cannot deadlock, and reads ahead what the calls will read). A serialisation failure or deadlock
        retries the chunk as a whole. Results come back in the order of `calls`.

        Without savepoints, the chunk claims all its keys in one statement after `before_chunk`, and
        `reader.before_calls` gets the indexes of the calls whose keys were new (the calls that will run
        their work; the ledger claims their orders ahead there). With savepoints each call claims its own
        key inside its savepoint, and `before_calls` is not called: nothing may outlive a call's rollback.
        """
        batch = ChunkWriter(
            self.engine,
            method=method,
            response_type=response_type,
            calls=calls,
            reader=reader,
        )
        return await batch.write(chunk)

    async def read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self.engine.connect() as conn:
            return await work(conn)
