"""Rows a batch read in one statement for its transaction, handed over to the code that would otherwise
read them one at a time.

`SyncOfflinePurchases` writes a chunk of purchases in one transaction. Each purchase looks up its member,
reads its ledger and claims its order; done per purchase, that is a round trip each. The chunk instead
reads them for all its purchases at its start, and keeps the rows here; the per-purchase code takes its
row from here when there is one and reads it itself otherwise, so it works the same with or without.

A row is handed out once: the code that takes it may change what it describes (a ledger, a claim), and a
second purchase of the same member in the chunk must see that change, so it reads the database again.
Rows are kept for the transaction that read them only (a retried or later transaction reads afresh).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from contextvars import ContextVar
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db import fast

__all__ = ["ReadAhead"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ReadAhead(Generic[K, V]):
    """Rows read ahead by key for one transaction of this task, each taken at most once."""

    def __init__(self, name: str) -> None:
        self._held: ContextVar[tuple[object, dict[K, V]] | None] = ContextVar(name, default=None)

    async def keep(self, conn: AsyncConnection, rows: Mapping[K, V]) -> None:
        """Hold `rows` for the transaction `conn` is in (replacing what an earlier chunk kept)."""
        self._held.set((await fast.transaction_of(conn), dict(rows)))

    async def add(self, conn: AsyncConnection, key: K, value: V) -> None:
        """Hold one more row for the transaction `conn` is in."""
        transaction = await fast.transaction_of(conn)
        held = self._held.get()
        if held is None or held[0] is not transaction:
            held = (transaction, {})
            self._held.set(held)
        held[1][key] = value

    async def take(self, conn: AsyncConnection, key: K) -> V | None:
        """The row read ahead for `key` in this transaction, once; None: read it yourself."""
        held = self._held.get()
        if held is None or key not in held[1]:
            return None
        if held[0] is not await fast.transaction_of(conn):
            self._held.set(None)  # kept by a transaction that has ended
            return None
        return held[1].pop(key)
