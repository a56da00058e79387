"""Helpers for the client tests: targets, keys made straight in a database, the UNIMPLEMENTED guard."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from loyalty_clients import Unimplemented

from loyalty_service.auth import credentials
from loyalty_service.auth.principal import PrincipalKind
from loyalty_service.db.engine import create_engine
from loyalty_service.program import stores
from tests.support.api import Running


def target_of(service: Running) -> str:
    return f"127.0.0.1:{service.port}"


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


def unique_card() -> str:
    return "C" + secrets.token_hex(6).upper()


@contextlib.contextmanager
def ledger_guard() -> Iterator[None]:
    """Until the ledger RPCs land, an UNIMPLEMENTED answer marks the test xfail (and only that answer)."""
    try:
        yield
    except Unimplemented:
        pytest.xfail("ledger RPC not implemented yet")


@dataclass
class Keys:
    backoffice: str
    pos: str
    webshop: str
    app_backend: str
    store_id: str


async def make_keys(url: str) -> Keys:
    """One key per kind in the database at `url` (bootstrap, as the CLI does), and a store for the till."""
    engine = create_engine(url, pool_size=1, max_overflow=0)
    store_id = unique("st")
    made: dict[str, str] = {}
    try:
        async with engine.begin() as conn:
            await stores.create(conn, store_id=store_id, name="Client test store", now=datetime.now(UTC))
            for kind in ("backoffice", "pos", "webshop", "app_backend"):
                _row, made[kind] = await credentials.create(
                    conn,
                    kind=PrincipalKind(kind),
                    name=f"client test {kind}",
                    store_id=store_id if kind == "pos" else None,
                )
    finally:
        await engine.dispose()
    return Keys(store_id=store_id, **made)


@pytest.fixture
async def keys(service: Running) -> Keys:
    return await make_keys(service.url)
