"""The statements a batch (an offline upload, a group commit) runs on every chunk: their generic plans,
cached while the tables were small and never analyzed, must still look each member up by key once the
tables are large. Before they were written as LATERAL lookups, they hashed a scan of `lots`,
`idempotency_keys`, `accounts` and `member_identifiers` every chunk until autovacuum analyzed them."""

from __future__ import annotations

import asyncpg

from loyalty_service import idempotency
from loyalty_service.ledger import store
from loyalty_service.members import store as members_store
from tests.support.database import TestDatabase
from tests.support.plans import plans_after_growth

_GROWN_TABLES = ("members", "member_identifiers", "accounts", "lots", "idempotency_keys")


async def _add_members(conn: asyncpg.Connection, first: int, count: int) -> None:
    last = first + count - 1
    await conn.execute(
        f"""
        insert into members (member_id, status)
            select 'mem_' || i, 'active' from generate_series({first}, {last}) i;
        insert into member_identifiers (kind, value, member_id)
            select 'card', 'card_' || i, 'mem_' || i from generate_series({first}, {last}) i;
        insert into accounts (member_id) select 'mem_' || i from generate_series({first}, {last}) i;
        insert into lots (member_id, lot_id, points, remaining, earned_at, available_at, entry_id, released)
            select 'mem_' || (i / 3), 'lot_' || i, 10, (i % 3 = 0)::int * 5, now(), now(), 'ent_' || i, true
            from generate_series({3 * first}, {3 * (last + 1) - 1}) i;
        insert into idempotency_keys (scope, idempotency_key, method, request_hash)
            select 'cred_' || (i % 5), 'key_' || i, 'RecordPurchase', '\\x00'
            from generate_series({first}, {last}) i;
        """
    )


async def test_batch_plans_cached_on_small_tables_look_members_up_by_key_once_they_are_large(
    test_db: TestDatabase,
) -> None:
    url = await test_db.new_database()
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await _add_members(conn, 0, 20)
        members = ["mem_1", "mem_2"]
        identifiers = (["card", "card"], ["card_3", "card_4"])
        plans = await plans_after_growth(
            conn,
            {
                "lock_accounts": (store._LOCK_ACCOUNTS, (members, *identifiers)),
                "ledgers": (store._ACCOUNTS_WITH_LOTS, (members,)),
                "members": (members_store._MEMBERS_BY_IDS_AND_IDENTIFIERS, (members, *identifiers)),
                "answers": (
                    idempotency._RECORD_MANY,
                    (["cred_1"], ["key_1"], ["RecordPurchase"], [b"\x00"], [b"\x01"]),
                ),
            },
            lambda: _add_members(conn, 20, 30_000),
        )
    finally:
        await conn.close()
    for name, plan in plans.items():
        for table in _GROWN_TABLES:
            assert f"Seq Scan on {table}" not in plan, f"{name} reads all of {table}:\n{plan}"
