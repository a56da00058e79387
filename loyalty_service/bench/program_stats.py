"""`loyalty-service bench stats`: how long GetProgramStats takes on a programme with a million entries.

Seeds, by set-based SQL in the bench's own database, members spread over a year, purchases in three
channels and ten stores, an EARN entry per purchase and a SPEND entry for one in five, then times
GetProgramStats through a real server (the same read the back office refreshes every few seconds and
WatchProgram sends as figures) for three ranges: the whole history, the last 30 days and today.

The seeded rows are figures only: their hash chain is not valid, so run it on the bench's own
database (the default, an embedded one), never on a real one.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from loyalty.v1 import program_pb2_grpc, stats_pb2

from loyalty_service.bench import database, seed
from loyalty_service.bench.report import Row
from loyalty_service.bench.servers import start_service_processes
from loyalty_service.bench.stats import summarize
from loyalty_service.proto_time import to_timestamp

__all__ = ["StatsOptions", "measure_program_stats"]

_CALLS_PER_RANGE = 20
_DAYS = 365

# Purchases (and their EARN entries) spread evenly over the last year; a quarter of them followed by a
# SPEND. $1 = now; the counts are formatted in (integers).
_SEED = """
insert into members (member_id, status, display_name, created_at)
select 'mem_stat' || m, 'active', '', $1::timestamptz - (m % 365) * interval '1 day'
from generate_series(1, {members}) m;
insert into accounts (member_id, available, lifetime_earned, updated_at)
select 'mem_stat' || m, 0, 0, $1::timestamptz from generate_series(1, {members}) m;
insert into purchases (member_id, purchase_id, channel, store_id, order_id, amount_minor, currency, points,
                       lines, applied_rules, credential_id, occurred_at, recorded_at)
select 'mem_stat' || (p % {members} + 1), 'pur_stat' || p, (array['store','webshop','app'])[p % 3 + 1],
       'st' || (p % 10), 'o' || p, 1000 + p % 9000, 'EUR', (1000 + p % 9000) / 100, '[]', '[]', 'bench',
       $1::timestamptz - (p::float8 / {purchases} * 365) * interval '1 day', $1::timestamptz
from generate_series(1, {purchases}) p;
insert into ledger_entries (member_id, entry_seq, entry_id, entry_type, points, balance_after, channel,
                            store_id, source_type, source_ref, credential_id, occurred_at, recorded_at,
                            entry_hash)
select member_id, row_number() over (partition by member_id order by purchase_id), 'ent_' || purchase_id,
       'earn', points, 0, channel, store_id, 'purchase', order_id, 'bench', occurred_at, recorded_at, '\\x00'
from purchases where purchase_id like 'pur_stat%';
insert into ledger_entries (member_id, entry_seq, entry_id, entry_type, points, balance_after, channel,
                            store_id, source_type, source_ref, credential_id, occurred_at, recorded_at,
                            entry_hash)
select member_id, 1000000 + row_number() over (partition by member_id order by purchase_id),
       'ent_spend_' || purchase_id, 'spend', -points / 2, 0, channel, store_id, 'spend', order_id, 'bench',
       occurred_at + interval '1 minute', recorded_at, '\\x00'
from purchases where purchase_id like 'pur_stat%' and right(purchase_id, 1) in ('0', '4');
update accounts a set available = s.total, lifetime_earned = s.total
from (select member_id, sum(points) total from ledger_entries group by member_id) s
where a.member_id = s.member_id;
vacuum analyze;
"""


@dataclass(frozen=True, kw_only=True)
class StatsOptions:
    entries: int
    """Ledger entries to reach (purchases = entries / 1.2: one EARN each, a SPEND for one in five)."""
    members: int
    database_url: str | None


async def _seed(url: str, *, entries: int, members: int) -> int:
    import asyncpg

    purchases = max(1, int(entries / 1.2))
    conn: Any = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        now = datetime.now(UTC)
        sql = _SEED.format(purchases=int(purchases), members=int(members))
        for statement in sql.split(";\n"):
            if statement.strip():
                await conn.execute(statement, *([now] if "$1" in statement else []))
        return int(await conn.fetchval("select count(*) from ledger_entries"))
    finally:
        await conn.close()


async def _time_ranges(address: str, backoffice_key: str) -> list[Row]:
    now = datetime.now(UTC)
    ranges = {
        "whole history": None,
        "last 30 days": now - timedelta(days=30),
        "today": now.replace(hour=0, minute=0, second=0, microsecond=0),
    }
    metadata = (("authorization", f"Bearer {backoffice_key}"),)
    rows = []
    async with grpc.aio.insecure_channel(address) as channel:
        stub: Any = program_pb2_grpc.ProgramServiceStub(channel)
        for name, start in ranges.items():
            request = stats_pb2.GetProgramStatsRequest()
            if start is not None:
                request.occurred_from.CopyFrom(to_timestamp(start))
            latencies, purchases = [], 0
            for _ in range(_CALLS_PER_RANGE):
                began = time.perf_counter()
                answer = await stub.GetProgramStats(request, metadata=metadata, timeout=120)
                latencies.append(time.perf_counter() - began)
                purchases = answer.stats.purchases
            summary = summarize(latencies)
            rows.append(
                Row(
                    name=f"GetProgramStats, {name}",
                    value=summary.p50_ms,
                    unit="ms p50",
                    p50_ms=summary.p50_ms,
                    p99_ms=summary.p99_ms,
                    target="refresh every few seconds",
                    note=f"{purchases} purchases in range, {_CALLS_PER_RANGE} calls",
                )
            )
    return rows


async def _measure(options: StatsOptions) -> tuple[int, list[Row]]:
    with database.bench_database(options.database_url) as db:
        await seed.migrate(db.url)
        total = await _seed(db.url, entries=options.entries, members=options.members)
        keys = await seed.create_keys(db.url)
        service = start_service_processes(database_url=db.url, workers=1, work_dir=db.work_dir)
        try:
            return total, await _time_ranges(service.address, keys.backoffice)
        finally:
            service.stop()


def measure_program_stats(options: StatsOptions) -> tuple[int, list[Row]]:
    """Seed, serve and time; returns the ledger entries seeded and one row per range."""
    return asyncio.run(_measure(options))
