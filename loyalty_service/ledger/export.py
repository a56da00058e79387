"""A member's ledger records as plain data, for ExportMemberData (GDPR access and portability).

Everything the ledger keeps about one member: entries (with their chain hashes), lots, purchases (with
their lines and the rules that applied), refunds and spends. Rows become JSON-able dicts: times in ISO
8601, hashes in hex.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables import ledger_entries, lots, purchases, refunds, spends

__all__ = ["member_records"]

_SECTIONS: tuple[tuple[str, Table, str], ...] = (
    ("ledger_entries", ledger_entries, "entry_seq"),
    ("lots", lots, "lot_id"),
    ("purchases", purchases, "purchase_id"),
    ("refunds", refunds, "refund_id"),
    ("spends", spends, "spend_id"),
)


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


async def member_records(conn: AsyncConnection, member_id: str) -> dict[str, list[dict[str, Any]]]:
    """Each ledger table's rows of the member, in their natural order."""
    records: dict[str, list[dict[str, Any]]] = {}
    for name, table, order in _SECTIONS:
        rows = await conn.execute(
            select(table).where(table.c.member_id == member_id).order_by(table.c[order])
        )
        records[name] = [{k: _plain(v) for k, v in row._mapping.items()} for row in rows.all()]
    return records
