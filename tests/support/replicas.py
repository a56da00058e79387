"""Replica tests: server processes on one database (the `server_processes` fixture), a web-shop and a
back-office key made in that database, a channel to each process, and the ledger check afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc

from loyalty_service.auth import credentials
from loyalty_service.auth.principal import PrincipalKind
from loyalty_service.db.engine import create_engine
from loyalty_service.ledger.check import check_ledger
from tests.support.processes import ServerProcess

__all__ = ["Replicas", "StartServers", "ledger_problems", "replicas"]

StartServers = Callable[[int], Awaitable[tuple[str, list[ServerProcess]]]]
"""The `server_processes` fixture: starts n servers on one fresh database; returns its URL and them."""


@dataclass(frozen=True)
class Replicas:
    url: str
    servers: list[ServerProcess]
    channels: list[grpc.aio.Channel]
    """One per server, in the same order."""
    keys: dict[str, str]
    """API key secret by credential kind: "webshop" and "backoffice"."""


async def _make_keys(url: str, *, name: str) -> dict[str, str]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            keys = {}
            for kind in (PrincipalKind.WEBSHOP, PrincipalKind.BACKOFFICE):
                _row, keys[kind.value] = await credentials.create(conn, kind=kind, name=name, store_id=None)
        return keys
    finally:
        await engine.dispose()


@asynccontextmanager
async def replicas(start: StartServers, count: int, *, key_name: str) -> AsyncIterator[Replicas]:
    """`count` servers on one database with keys named `key_name`; the channels close on exit (the
    servers keep running until the fixture's teardown)."""
    url, servers = await start(count)
    keys = await _make_keys(url, name=key_name)
    channels = [grpc.aio.insecure_channel(server.address) for server in servers]
    try:
        yield Replicas(url=url, servers=servers, channels=channels, keys=keys)
    finally:
        for channel in channels:
            await channel.close()


async def ledger_problems(url: str) -> list[str]:
    """What `check_ledger` finds in the database at `url` (an empty list when every invariant holds)."""
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return await check_ledger(conn)
    finally:
        await engine.dispose()
