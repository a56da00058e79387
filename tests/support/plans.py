"""Generic plans cached on small tables, read again once the tables are large.

asyncpg prepares each statement once per connection, and PostgreSQL keeps a statement's generic plan
until a table it reads is analyzed again. A plan made while the tables were small and never analyzed (a
new database's first minute; the bench's earn phase) can prefer a scan of a whole table, and keeps doing
so as the table grows. `plans_after_growth` prepares statements (SQL `prepare`, generic plans forced),
makes their plans on the tables as they are, grows the tables, and returns the plans still cached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import asyncpg

__all__ = ["Statement", "plans_after_growth"]

Statement = tuple[str, Sequence[Any]]
"""SQL with `$n` parameters, each with a cast, and example arguments for it."""


def _literal(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "array[" + ", ".join(_literal(item) for item in value) + "]"
    if isinstance(value, bytes):
        return f"'\\x{value.hex()}'::bytea"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _execute(name: str, args: Sequence[Any]) -> str:
    return f"explain execute {name}({', '.join(_literal(arg) for arg in args)})"


async def plans_after_growth(
    conn: asyncpg.Connection,
    statements: Mapping[str, Statement],
    grow: Callable[[], Awaitable[None]],
) -> dict[str, str]:
    await conn.execute("set plan_cache_mode = force_generic_plan")
    for name, (sql, args) in statements.items():
        await conn.execute(f"prepare {name} as {sql}")
        await conn.fetch(_execute(name, args))  # the generic plan is made and cached here
    await grow()
    plans = {}
    for name, (_, args) in statements.items():
        plans[name] = "\n".join(row[0] for row in await conn.fetch(_execute(name, args)))
    return plans
