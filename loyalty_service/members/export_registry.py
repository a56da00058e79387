"""Where features plug their member data into ExportMemberData and EraseMember (GDPR).

A feature that keeps data about members (rewards and vouchers, game plays, passports, check-ins, draw
entries, ...) registers once, at import time of its module, an async exporter returning a JSON-able
value (dicts, lists, strings, numbers, booleans, None; datetimes become ISO 8601 strings), and, if it
keeps personal data beyond amounts and references, an eraser:

    from loyalty_service.members import export_registry

    async def _export(conn: AsyncConnection, member_id: str) -> object:
        return {"vouchers": [...]}

    async def _erase(conn: AsyncConnection, member_id: str) -> None:
        ...  # delete or blank what identifies the person (positions, free text); keep amounts

    export_registry.register("rewards", export=_export, erase=_erase)

The export puts each feature's value under `features.<name>`. Both run inside the RPC's transaction,
after the member's account row is locked; they read and write their own tables only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["Eraser", "Exporter", "FeatureData", "erase_features", "export_features", "register", "registered"]

Exporter = Callable[[AsyncConnection, str], Awaitable[object]]
Eraser = Callable[[AsyncConnection, str], Awaitable[None]]
_FEATURES_MAX = 64


@dataclass(frozen=True, slots=True)
class FeatureData:
    export: Exporter
    erase: Eraser | None


_registry: dict[str, FeatureData] = {}


def register(name: str, *, export: Exporter, erase: Eraser | None = None) -> None:
    """Register a feature's exporter (and eraser) under `name`; registering a name again replaces it."""
    assert name.isidentifier(), f"feature name {name!r}: lower_snake_case"
    assert len(_registry) < _FEATURES_MAX or name in _registry, "too many features registered"
    _registry[name] = FeatureData(export=export, erase=erase)


def registered() -> Mapping[str, FeatureData]:
    return dict(_registry)


async def export_features(conn: AsyncConnection, member_id: str) -> dict[str, object]:
    """Every registered feature's data about the member, by feature name (sorted)."""
    return {name: await _registry[name].export(conn, member_id) for name in sorted(_registry)}


async def erase_features(conn: AsyncConnection, member_id: str) -> list[str]:
    """Run every registered eraser; returns the names of the features that erased something."""
    erased = []
    for name in sorted(_registry):
        eraser = _registry[name].erase
        if eraser is not None:
            await eraser(conn, member_id)
            erased.append(name)
    return erased
