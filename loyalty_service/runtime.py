"""What every servicer needs, built once at start and passed down: settings, engine, clock, signer.

`write` is the shape of every state-changing RPC: one transaction holding the idempotency claim, the
change, its events and the stored answer, retried as a whole on serialisation failures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_service import idempotency
from loyalty_service.auth.authenticator import Authenticator
from loyalty_service.auth.principal import current_principal
from loyalty_service.auth.tokens import TokenSigner
from loyalty_service.config import Settings
from loyalty_service.db import fast
from loyalty_service.db.transaction import in_transaction
from loyalty_service.errors import LoyaltyError

__all__ = ["Runtime", "WriteCall"]

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
            return await _claimed(conn, scope, key, method, request_hash, response_type, work)

        return await in_transaction(self.engine, transaction)

    async def write_each(
        self,
        *,
        method: str,
        response_type: type[R],
        calls: Sequence[WriteCall[R]],
        chunk: int = 50,
        before_chunk: Callable[[AsyncConnection, Sequence[int]], Awaitable[None]] | None = None,
        before_calls: Callable[[AsyncConnection, Sequence[int]], Awaitable[None]] | None = None,
    ) -> list[tuple[R, bool] | LoyaltyError]:
        """`write_outcome` for many calls, with one transaction (and one durable commit) per chunk.

        Each call runs with its own idempotency claim, so it has exactly the effect and answer it
        would have alone, and a call that raises a `LoyaltyError` gets that error as its result and
        leaves nothing behind, never failing its neighbours: the chunk first runs without savepoints
        (two round trips per call saved); if a call raises, that transaction is rolled back and the
        chunk runs again with a savepoint per call, which the failing call rolls back to. Calls run in the
        order given; `before_chunk` runs first in each chunk's transaction with the indexes of its
        calls (the ledger locks the chunk's members there, in one order, so that concurrent batches
        cannot deadlock, and reads ahead what the calls will read). A serialisation failure or deadlock
        retries the chunk as a whole. Results come back in the order of `calls`.

        Without savepoints, the chunk claims all its keys in one statement after `before_chunk`, and
        `before_calls` gets the indexes of the calls whose keys were new (the calls that will run their
        work; the ledger claims their orders ahead there). With savepoints each call claims its own key
        inside its savepoint, and `before_calls` is not called: nothing may outlive a call's rollback.
        """
        caller_scope = current_principal().idempotency_scope if any(not c.scope for c in calls) else ""
        scopes = [call.scope or caller_scope for call in calls]
        hashes = [idempotency.fingerprint(method, call.request) for call in calls]
        results: list[tuple[R, bool] | LoyaltyError] = []

        async def _claim_new(conn: AsyncConnection, part: range) -> set[int]:
            """Claim the chunk's keys; the calls that hold a key claimed now (the first of a repeat)."""
            claimed = await idempotency.claim_new(
                conn, [(scopes[i], calls[i].key, method, hashes[i]) for i in part]
            )
            fresh: set[int] = set()
            for i in part:
                if (scopes[i], calls[i].key) in claimed:
                    claimed.discard((scopes[i], calls[i].key))
                    fresh.add(i)
            return fresh

        for start in range(0, len(calls), chunk):
            part = range(start, min(len(calls), start + chunk))

            def chunk_transaction(
                part: range, *, guarded: bool
            ) -> Callable[[AsyncConnection], Awaitable[list[tuple[R, bool] | LoyaltyError]]]:
                async def transaction(conn: AsyncConnection) -> list[tuple[R, bool] | LoyaltyError]:
                    done: list[tuple[R, bool] | LoyaltyError] = []
                    answers = idempotency.Answers()  # stored together at the end of the chunk
                    await fast.defer_writes(conn)  # the calls' ledger writes go together
                    if before_chunk is not None:
                        await before_chunk(conn, part)
                    fresh = set() if guarded else await _claim_new(conn, part)
                    if fresh and before_calls is not None:
                        await before_calls(conn, sorted(fresh))
                    for i in part:
                        call, scope = calls[i], scopes[i]
                        if answers.pending(scope, call.key):  # a repeated key: its claim reads the answer
                            await answers.flush(conn)
                        if guarded:  # plain SQL, one round trip each way
                            await fast.execute(conn, "savepoint write_each_call")
                        try:
                            outcome = await _claimed(
                                conn,
                                scope,
                                call.key,
                                method,
                                hashes[i],
                                response_type,
                                call.work,
                                answers,
                                claimed=i in fresh,
                            )
                        except LoyaltyError as error:
                            if not guarded:
                                raise _NeedsSavepoints from error
                            await fast.execute(conn, "rollback to savepoint write_each_call")
                            done.append(error)
                            continue
                        if guarded:
                            await fast.execute(conn, "release savepoint write_each_call")
                        done.append(outcome)
                    await answers.flush(conn)
                    return done

                return transaction

            try:
                results.extend(await in_transaction(self.engine, chunk_transaction(part, guarded=False)))
            except _NeedsSavepoints:
                results.extend(await in_transaction(self.engine, chunk_transaction(part, guarded=True)))
        return results

    async def read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self.engine.connect() as conn:
            return await work(conn)


class _NeedsSavepoints(Exception):
    """A call of an unguarded chunk refused: run the chunk again with a savepoint per call."""


@dataclass(frozen=True, slots=True)
class WriteCall(Generic[R]):
    """One call of a `Runtime.write_each` batch: its request, idempotency key and work."""

    request: Message
    key: str
    work: Callable[[AsyncConnection], Awaitable[R]]
    scope: str = ""
    """The caller's idempotency scope; empty: the scope of the principal calling `write_each`."""


async def _claimed(
    conn: AsyncConnection,
    scope: str,
    key: str,
    method: str,
    request_hash: bytes,
    response_type: type[R],
    work: Callable[[AsyncConnection], Awaitable[R]],
    answers: idempotency.Answers | None = None,
    *,
    claimed: bool = False,
) -> tuple[R, bool]:
    """Claim the key (unless the caller has: `claimed`), then run `work` and store its answer (now, or
    with `answers` of the transaction); or the stored answer of an earlier call."""
    if not claimed:
        stored = await idempotency.claim(conn, scope=scope, key=key, method=method, request_hash=request_hash)
        if stored is not None:
            return response_type.FromString(stored), True
    response = await work(conn)
    if answers is not None:
        answers.add(scope, key, response.SerializeToString())
    else:
        await idempotency.record(conn, scope=scope, key=key, response=response.SerializeToString())
    return response, False
