"""`serve --demo`: a demo programme created once, with one credential per channel.

Keys are shown only at creation, so the demo keeps its keys in `data_dir/demo-credentials.json`
(mode 0600) and prints them again on later starts. Development only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.auth import credentials
from loyalty_service.auth.principal import PrincipalKind
from loyalty_service.config import Settings
from loyalty_service.db.transaction import in_transaction
from loyalty_service.ledger.demo_rules import ensure_demo_rules
from loyalty_service.program import stores
from loyalty_service.runtime import Runtime

__all__ = ["DEMO_STORE", "ensure_demo"]

DEMO_STORE = "paris-01"
_KINDS = (PrincipalKind.POS, PrincipalKind.WEBSHOP, PrincipalKind.APP_BACKEND, PrincipalKind.BACKOFFICE)


def _file(settings: Settings) -> Path:
    return settings.data_dir / "demo-credentials.json"


async def _still_valid(conn: AsyncConnection, saved: dict[str, dict[str, str]]) -> bool:
    for entry in saved.values():
        row = await credentials.get(conn, entry["credential_id"])
        if row is None or row.revoked_at is not None:
            return False
    return set(saved) == {k.value for k in _KINDS}


async def ensure_demo(runtime: Runtime, settings: Settings) -> dict[str, object]:
    """Create the demo programme if needed; returns what to print (store, rules, keys)."""
    if settings.environment != "development":
        raise SystemExit("--demo is for development only")
    path = _file(settings)
    saved: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}

    async def work(conn: AsyncConnection) -> dict[str, dict[str, str]]:
        await stores.create(conn, store_id=DEMO_STORE, name="Demo store, Paris", now=runtime.now())
        await ensure_demo_rules(conn, now=runtime.now())
        if saved and await _still_valid(conn, saved):
            return saved
        created: dict[str, dict[str, str]] = {}
        for kind in _KINDS:
            row, key = await credentials.create(
                conn,
                kind=kind,
                name=f"demo {kind.value}",
                store_id=DEMO_STORE if kind is PrincipalKind.POS else None,
            )
            created[kind.value] = {"credential_id": row.credential_id, "api_key": key}
        return created

    keys = await in_transaction(runtime.engine, work)
    if keys is not saved:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(keys, handle, indent=2)
    return {"demo_store": DEMO_STORE, "credentials": keys, "saved_in": str(path)}
