"""What other features may use of the ledger: merging a provisional member, and the earning rules.

Other features never import the ledger's store or book; they call these functions inside their own
transaction (the caller's Runtime.write), so their change and the ledger's commit together.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.ledger import records
from loyalty_service.ledger.book import Book, Cause
from loyalty_service.ledger.earning import EarningRule, RuleCondition, RuleKind, rules_as_of
from loyalty_service.ledger.rules_store import (
    StoredRule,
    insert_version,
    latest_version,
    load_versions,
    lock_rules,
)

__all__ = [
    "EarningRule",
    "RuleCondition",
    "RuleKind",
    "StoredRule",
    "insert_version",
    "latest_version",
    "load_versions",
    "lock_rules",
    "merge_member",
    "rules_as_of",
]


async def merge_member(
    conn: AsyncConnection, *, source: str, target: str, now: datetime, credential_id: str
) -> int:
    """Move everything of the provisional member `source` to `target`; returns the points moved.

    Both ledgers are locked in member-id order (the one order of every multi-member change, so two
    merges can never deadlock). The source's lots, purchases, refunds and spends change owner; its
    entries stay as its history, closed by a MERGE_OUT entry that a MERGE_IN entry on the target
    mirrors, each with its `points_changed` event.
    """
    assert source != target, "a member is not merged into itself"
    books: dict[str, Book] = {}
    for member_id in sorted((source, target)):
        books[member_id] = await Book.open(conn, member_id, now=now, credential_id=credential_id)
    await records.move_member_rows(conn, source=source, target=target)
    cause_out = Cause(
        channel="", source_type="merge", source_ref=target, reason="card linked", occurred_at=now
    )
    cause_in = Cause(
        channel="", source_type="merge", source_ref=source, reason="card linked", occurred_at=now
    )
    points = await books[source].empty_into(books[target], cause_out, cause_in)
    for book in books.values():
        await book.close()
    return points
