"""Many write calls, each with its own idempotency claim, effect and answer, written in chunk transactions
(`Runtime.write_each`: SyncOfflinePurchases, group commit)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_service import idempotency
from loyalty_service.auth.principal import current_principal
from loyalty_service.db import fast
from loyalty_service.db.transaction import in_transaction
from loyalty_service.errors import LoyaltyError

__all__ = ["BatchReader", "ChunkWriter", "WriteCall", "write_alone"]

R = TypeVar("R", bound=Message)
Outcome = tuple[R, bool] | LoyaltyError


@dataclass(frozen=True, slots=True)
class WriteCall(Generic[R]):
    """One call of a `Runtime.write_each` batch: its request, idempotency key and work."""

    request: Message
    key: str
    work: Callable[[AsyncConnection], Awaitable[R]]
    scope: str = ""
    """The caller's idempotency scope; empty: the scope of the principal calling `write_each`."""


class BatchReader(Protocol):
    """What a batch reads and claims ahead in each chunk's transaction, given indexes into its calls."""

    async def before_chunk(self, conn: AsyncConnection, part: Sequence[int]) -> None:
        """First in the chunk's transaction, with all its calls: take the chunk's locks in one order
        (so that concurrent batches cannot deadlock) and read what the calls will read."""

    async def before_calls(self, conn: AsyncConnection, fresh: Sequence[int]) -> None:
        """After the chunk's keys were claimed in one statement, with the calls whose keys were new (the
        calls that will run their work). Not called when each call runs in its own savepoint: nothing
        may outlive a call's rollback."""


async def write_alone(
    engine: AsyncEngine,
    *,
    scope: str,
    key: str,
    method: str,
    request_hash: bytes,
    response_type: type[R],
    work: Callable[[AsyncConnection], Awaitable[R]],
) -> tuple[R, bool]:
    """One call in a transaction of its own: its key claimed, its work run and its answer stored; or the
    stored answer of an earlier call with the key (then True: a replay)."""

    async def transaction(conn: AsyncConnection) -> tuple[R, bool]:
        return await idempotency.run_claimed(conn, scope, key, method, request_hash, response_type, work)

    return await in_transaction(engine, transaction)


class _NeedsSavepoints(Exception):
    """A call of an unguarded chunk refused: run the chunk again with a savepoint per call."""


class ChunkWriter(Generic[R]):
    """The calls of one `Runtime.write_each`, and how one chunk of them is written."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        method: str,
        response_type: type[R],
        calls: Sequence[WriteCall[R]],
        reader: BatchReader | None,
    ) -> None:
        self._engine = engine
        self._method = method
        self._response_type = response_type
        self._calls = calls
        self._reader = reader
        caller_scope = current_principal().idempotency_scope if any(not c.scope for c in calls) else ""
        self._scopes = [call.scope or caller_scope for call in calls]
        self._hashes = [idempotency.fingerprint(method, call.request) for call in calls]

    async def write(self, chunk: int) -> list[Outcome[R]]:
        results: list[Outcome[R]] = []
        for start in range(0, len(self._calls), chunk):
            part = range(start, min(len(self._calls), start + chunk))
            if len(part) == 1:
                results.append(await self._alone(start))
                continue
            try:
                results.extend(await in_transaction(self._engine, self._transaction(part, guarded=False)))
            except _NeedsSavepoints:
                results.extend(await in_transaction(self._engine, self._transaction(part, guarded=True)))
        return results

    async def _alone(self, i: int) -> Outcome[R]:
        """A chunk of one call, in a transaction of its own as `Runtime.write_outcome` writes it: nothing
        read ahead (the call reads for itself, with fewer and cheaper statements than a batch's) and no
        savepoint (a refusal rolls back a transaction that holds nothing else)."""
        call = self._calls[i]
        try:
            return await write_alone(
                self._engine,
                scope=self._scopes[i],
                key=call.key,
                method=self._method,
                request_hash=self._hashes[i],
                response_type=self._response_type,
                work=call.work,
            )
        except LoyaltyError as error:
            return error

    def _transaction(
        self, part: range, *, guarded: bool
    ) -> Callable[[AsyncConnection], Awaitable[list[Outcome[R]]]]:
        async def transaction(conn: AsyncConnection) -> list[Outcome[R]]:
            return await self._chunk(conn, part, guarded=guarded)

        return transaction

    async def _chunk(self, conn: AsyncConnection, part: range, *, guarded: bool) -> list[Outcome[R]]:
        done: list[Outcome[R]] = []
        answers = idempotency.Answers()  # stored together at the end of the chunk
        await fast.defer_writes(conn)  # the calls' ledger writes go together
        if self._reader is not None:
            await self._reader.before_chunk(conn, part)
        fresh = set() if guarded else await self._claim_new(conn, part)
        if fresh and self._reader is not None:
            await self._reader.before_calls(conn, sorted(fresh))
        for i in part:
            call, scope = self._calls[i], self._scopes[i]
            if answers.pending(scope, call.key):  # a repeated key: its claim reads the answer
                await answers.flush(conn)
            if guarded:  # plain SQL, one round trip each way
                await fast.execute(conn, "savepoint write_each_call")
            try:
                outcome = await idempotency.run_claimed(
                    conn,
                    scope,
                    call.key,
                    self._method,
                    self._hashes[i],
                    self._response_type,
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

    async def _claim_new(self, conn: AsyncConnection, part: range) -> set[int]:
        """Claim the chunk's keys in one statement; the calls holding a key claimed now (of a key
        given twice, the first)."""
        keys = [(self._scopes[i], self._calls[i].key) for i in part]
        claimed = await idempotency.claim_new(
            conn,
            [(scope, key, self._method, self._hashes[i]) for i, (scope, key) in zip(part, keys, strict=True)],
        )
        fresh: set[int] = set()
        for i, pair in zip(part, keys, strict=True):
            if pair in claimed:
                claimed.discard(pair)
                fresh.add(i)
        return fresh
