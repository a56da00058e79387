"""Configuration every purchase consults, cached per process while its revision does not move.

A purchase reads the programme settings row anyway (`program.settings.read`, once per transaction); the
row carries a revision per kind of configuration that purchases consult (`rules_revision`,
`draws_revision`, `token_rules_revision`, `ladders_revision`). Every change of that configuration bumps
its revision in the same transaction, so a process reloads only when the revision it reads has moved,
and a purchase on a programme with no draws, play-token rules or tier ladders sends no statement to find
that out.

What a purchase sees is the configuration as of its settings read, its transaction's first statement:
a change committed a few milliseconds later applies from the next purchase on, as if it had committed
after this one (the same holds for a read later in the transaction, under READ COMMITTED).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Generic, Literal, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db import fast
from loyalty_service.program import settings as program_settings

__all__ = ["Revision", "RevisionCache", "bump"]

T = TypeVar("T")
Revision = Literal["rules_revision", "draws_revision", "token_rules_revision", "ladders_revision"]


class RevisionCache(Generic[T]):
    """One value loaded from the database, kept per (database, revision) by the process."""

    def __init__(self, column: Revision, load: Callable[[AsyncConnection], Awaitable[T]]) -> None:
        self._column = column
        self._load = load
        self._key: tuple[str, int] | None = None
        self._value: T | None = None

    async def get(self, conn: AsyncConnection) -> T:
        """The value as of the revision this transaction's settings read names."""
        settings = await program_settings.read(conn)
        key = (settings.database, getattr(settings, self._column))
        if key == self._key:
            return self._value  # type: ignore[return-value]  # set together with the key
        value = await self._load(conn)
        # A change may commit between the settings read and the load: cache only what the revision
        # read after loading still names.
        current = await fast.fetchval(
            conn, f"select {self._column} from program_settings where settings_id = 1"
        )
        # No await from here on: no other purchase of this process can interleave.
        if current == key[1] and (self._key is None or self._key[0] != key[0] or key[1] > self._key[1]):
            self._key, self._value = key, value
        return value


async def bump(conn: AsyncConnection, column: Revision, *, now: datetime) -> None:
    """Mark the configuration of `column` changed, in the changing transaction."""
    program_settings.forget()  # the revision read earlier in this transaction is moving
    await fast.execute(
        conn,
        f"update program_settings set {column} = {column} + 1, updated_at = greatest(updated_at, $1) "
        "where settings_id = 1",
        now,
    )
