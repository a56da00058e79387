"""Group commit: concurrent calls of one write method committed together, each answered on its own.

A call joins a queue. While fewer than `transactions` groups are being written, a new group takes every
queued call (at most `max_calls`) at once and writes them with `Runtime.write_each` in one transaction:
the same claim, work and stored answer per call as alone, a refused call rolled back to its own
savepoint while its neighbours commit, and the group's members locked first in one order and its
rows read ahead as an offline upload's chunk reads them (`reader`). There is no
timer: a call that finds a free slot is written at once, alone (a group of one is a lone call: no
read-ahead, no savepoint), and calls queue only while
other groups are in their transactions, so the wait is bounded by the transactions already running.
Every caller gets its answer after the group's commit, so an acknowledged call is durable. A refusal
(`LoyaltyError`) stays with its call; an unexpected error (a lost database, a bug) fails the whole group, as
it would fail the one transaction they share.

The saving is per call: one BEGIN/COMMIT, one settings read, and one statement each for the keys' claims,
the members, the ledgers' locks and reads, the orders' claims, each kind of ledger write and the answers,
per group instead of per call (docs/performance.md).
The price is coupling inside a group: a call waits for the group's other calls, and a group holding a hot
member's lock holds it for the whole group (`group_commit_max_calls` bounds both).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import Message

from loyalty_service import metrics
from loyalty_service.errors import LoyaltyError
from loyalty_service.runtime import BatchReader, Runtime, WriteCall

__all__ = ["GroupCommit"]

R = TypeVar("R", bound=Message)
K = TypeVar("K")


@dataclass(slots=True)
class _Queued(Generic[R, K]):
    call: WriteCall[R]
    item: K
    answer: asyncio.Future[tuple[R, bool]]


class GroupCommit(Generic[R, K]):
    def __init__(
        self,
        runtime: Runtime,
        *,
        method: str,
        response_type: type[R],
        reader: Callable[[Sequence[K]], BatchReader],
        transactions: int,
        max_calls: int,
    ) -> None:
        """`reader` makes the `BatchReader` of a group from its calls' items."""
        assert transactions >= 1
        assert max_calls >= 1
        self._runtime = runtime
        self._method = method
        self._response_type = response_type
        self._reader = reader
        self._transactions = transactions
        self._max_calls = max_calls
        self._queue: deque[_Queued[R, K]] = deque()
        self._writing: set[asyncio.Task[None]] = set()

    async def write(self, call: WriteCall[R], item: K) -> tuple[R, bool]:
        """The call's (answer, replayed), after the commit of the group it was written in; its
        `LoyaltyError` if it was refused. A caller cancelled before its group starts is left out."""
        queued = _Queued(call, item, asyncio.get_running_loop().create_future())
        self._queue.append(queued)
        self._start_groups()
        return await queued.answer

    def _start_groups(self) -> None:
        while self._queue and len(self._writing) < self._transactions:
            group: list[_Queued[R, K]] = []
            while self._queue and len(group) < self._max_calls:
                queued = self._queue.popleft()
                if not queued.answer.done():  # not cancelled by its caller meanwhile
                    group.append(queued)
            if group:
                task = asyncio.create_task(self._write_group(group), name=f"group-commit {self._method}")
                self._writing.add(task)
                task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writing.discard(task)
        self._start_groups()

    async def _write_group(self, group: list[_Queued[R, K]]) -> None:
        metrics.GROUP_TRANSACTIONS.labels(self._method).inc()
        metrics.GROUP_CALLS.labels(self._method).inc(len(group))

        try:
            outcomes = await self._runtime.write_each(
                method=self._method,
                response_type=self._response_type,
                calls=[queued.call for queued in group],
                chunk=len(group),
                reader=self._reader([queued.item for queued in group]),
            )
        except asyncio.CancelledError:  # the server is stopping
            for queued in group:
                queued.answer.cancel()
            raise
        except Exception as error:  # the group's transaction failed as a whole (e.g. the database is down)
            for queued in group:
                if not queued.answer.done():
                    queued.answer.set_exception(error)
            return
        for queued, outcome in zip(group, outcomes, strict=True):
            if queued.answer.done():
                continue  # its caller went away; the call committed all the same (a retry replays it)
            if isinstance(outcome, LoyaltyError):
                queued.answer.set_exception(outcome)
            else:
                queued.answer.set_result(outcome)
