"""Alembic migrations: from an empty database to exactly the schema the code declares, idempotently."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, func, select, text

from loyalty_service.db.engine import create_engine
from loyalty_service.db.migrate import MIGRATIONS, current_revisions, head_revisions, migrate
from loyalty_service.db.schema import metadata
from loyalty_service.db.tables import program_settings
from tests.foundation.helpers import cli, service_env
from tests.support.database import TestDatabase


def _alembic(connection: Connection, step: str, target: str) -> None:
    """An Alembic command (upgrade, downgrade) on an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    getattr(command, step)(config, target)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="module")
async def empty_url(test_db: TestDatabase) -> str:
    """A database with nothing in it (not cloned from the migrated template)."""
    name = f"{test_db.prefix}_empty_{secrets.token_hex(3)}"
    conn = await asyncpg.connect(test_db.server_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    test_db.created.append(name)  # dropped with the session's databases
    return _with_database(test_db.server_url, name)


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def _schema(url: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "select table_name, column_name, data_type, is_nullable from information_schema.columns"
                    " where table_schema = 'public' order by 1, 2"
                )
            )
            return [tuple(r) for r in rows]
    finally:
        await engine.dispose()


async def test_migrate_twice_reaches_head_and_matches_the_metadata(empty_url: str) -> None:
    """Goal: `migrate` builds the declared schema, a second run changes nothing, settings row exists."""
    first = cli("migrate", env=service_env(empty_url))
    assert first.returncode == 0, first.stderr
    schema = await _schema(empty_url)
    assert schema, "migrate created no tables"
    second = cli("migrate", env=service_env(empty_url))
    assert second.returncode == 0, second.stderr
    assert await _schema(empty_url) == schema

    engine = create_engine(empty_url, pool_size=1, max_overflow=0)
    try:
        assert await current_revisions(engine) == head_revisions()
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences)
            assert differences == [], "the migrations and tables.py disagree"
            versions = (await conn.execute(text("select count(*) from alembic_version"))).scalar_one()
            assert versions == len(head_revisions()), "one row per branch head (features add branches)"
            settings_rows = (
                await conn.execute(select(func.count()).select_from(program_settings))
            ).scalar_one()
            assert settings_rows == 1, "the program_settings singleton row"
    finally:
        await engine.dispose()


# Look-up tables keyed by a value that must be unique across members (so it cannot include member_id):
# under Citus they are distributed by that key (or kept as reference tables). A new one is a decision.
GLOBAL_LOOKUP_TABLES = {
    "member_identifiers": "an identifier is unique within the programme",
    "purchase_orders": "one purchase per (channel, store, order), whichever member",
    "voucher_codes": "a voucher code is unique within the programme; tills find the member by it",
    "referral_codes": "a referral code is unique within the programme; enrolment finds the referrer by it",
    # docs/decisions/0006-draw-entries-by-draw.md: a draw's frozen list is one global entry_id order.
    "draw_entries": "distributed by draw_id: a draw's entries are ordered across members",
    "draw_winners": "distributed by draw_id, co-located with draw_entries",
}


def test_member_scoped_tables_are_distributable_by_member_id() -> None:
    """Goal: Citus-ready schema: a table with member_id has it in its primary key and every unique key."""
    from sqlalchemy import Index, UniqueConstraint

    problems: list[str] = []
    for table in metadata.sorted_tables:
        if "member_id" not in table.c or table.name in GLOBAL_LOOKUP_TABLES:
            continue
        if "member_id" not in table.primary_key.columns:
            problems.append(f"{table.name}: primary key {list(table.primary_key.columns.keys())}")
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint) and "member_id" not in constraint.columns:
                problems.append(f"{table.name}: unique {list(constraint.columns.keys())}")
        for index in table.indexes:
            assert isinstance(index, Index)
            if index.unique and "member_id" not in index.columns:
                problems.append(f"{table.name}: unique index {index.name}")
        for column in table.columns:
            if column.unique and column.name != "member_id":
                problems.append(f"{table.name}: unique column {column.name}")
    assert problems == []


async def test_config_revisions_count_configuration_made_before_them(test_db: TestDatabase) -> None:
    """Goal: on a database that already has tier ladders and play-token rules, migration 0009 starts
    their revisions above 0, so purchases never skip or keep stale configuration after an upgrade."""
    url = await test_db.new_database()  # migrated to every head
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_alembic, "downgrade", "config_revisions@-1")
            await conn.execute(
                text(
                    "insert into tier_ladders (version, effective_from, spec, created_by, created_at)"
                    " values (1, now(), '{}', 'test', now()), (2, now(), '{}', 'test', now())"
                )
            )
            await conn.execute(
                text("insert into play_token_rules (rule_id, spec, created_at) values ('ptr_1', '{}', now())")
            )
        await migrate(engine)
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "select draws_revision, token_rules_revision, ladders_revision from program_settings"
                    )
                )
            ).one()
        assert tuple(row) == (0, 1, 2)
    finally:
        await engine.dispose()


async def test_pending_referral_flags_start_from_the_referrals_already_made(test_db: TestDatabase) -> None:
    """Goal: on a database with referrals made before it, migration 0010 marks exactly the members whose
    referral is pending, so no purchase skips a referral that still has to be paid."""
    url = await test_db.new_database()  # migrated to every head
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_alembic, "downgrade", "0008_journeys")
            for member_id in ("mem_a", "mem_b", "mem_c", "mem_d"):
                await conn.execute(
                    text("insert into members (member_id, status, created_at) values (:m, 'active', now())"),
                    {"m": member_id},
                )
            await conn.execute(
                text(
                    "insert into referrals (member_id, referrer_id, status, enrolled_at) values"
                    " ('mem_b', 'mem_a', 'pending', now()), ('mem_c', 'mem_a', 'rewarded', now()),"
                    " ('mem_d', 'mem_a', 'over_limit', now())"
                )
            )
        await migrate(engine)
        async with engine.connect() as conn:
            rows = (await conn.execute(text("select member_id, pending_referral from members"))).all()
        assert dict(rows) == {"mem_a": False, "mem_b": True, "mem_c": False, "mem_d": False}
    finally:
        await engine.dispose()
