"""The hub's statements run on one connection for the process's lifetime, so the generic plans they
cache while the outbox is small and not yet analyzed (a new database, or the bench's first minute) must
still be right once it holds many events."""

from __future__ import annotations

import asyncpg

from loyalty_service.events import feed, hub
from tests.support.database import TestDatabase
from tests.support.plans import plans_after_growth


async def _append(conn: asyncpg.Connection, first: int, count: int) -> None:
    await conn.execute(
        "insert into events (member_id, seq, event_type, payload, occurred_at)"
        " select 'mem_' || (i % 1000), i / 1000 + 1, 'points_changed', '\\x00', now()"
        f" from generate_series({first}, {first + count - 1}) as i"
    )


async def test_plans_cached_on_a_small_outbox_use_indexes_once_it_is_large(test_db: TestDatabase) -> None:
    url = await test_db.new_database()
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await _append(conn, 0, 1000)
        plans = await plans_after_growth(
            conn,
            {
                "poll": (hub._POLL, (500,)),
                "tails": (feed._MEMBER_TAILS, (["mem_1", "mem_2"], [10, 20], [12, 22], 2)),
            },
            lambda: _append(conn, 1000, 59_000),
        )
    finally:
        await conn.close()
    for name, plan in plans.items():
        assert "Seq Scan on events" not in plan, f"the {name} reads the whole outbox:\n{plan}"
