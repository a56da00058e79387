"""What other features may use of the ledger: merging a provisional member, and the earning rules.

Play tokens, the ledger's second balance (ledger/play_tokens.py): `move_play_tokens` adds or takes
tokens (never below zero, one move per source), `play_token_balance` reads it, `grant_purchase_tokens`
applies the play-token rules (ledger/tokens.py) to a purchase.

Other features never import the ledger's store or book; they call these functions inside their own
transaction (the caller's Runtime.write), so their change and the ledger's commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from loyalty.v1 import ledger_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.errors import InsufficientPoints, NotFound
from loyalty_service.kernel.clock import add_months
from loyalty_service.kernel.ids import new_id
from loyalty_service.ledger import records, store
from loyalty_service.ledger.book import HELD_UNTIL_RELEASED, Book, Cause
from loyalty_service.ledger.earning import EarningRule, RuleCondition, RuleKind, rules_as_of
from loyalty_service.ledger.export import member_records
from loyalty_service.ledger.messages import EntryType
from loyalty_service.ledger.play_tokens import (
    InsufficientPlayTokens,
    grant_purchase_tokens,
    move_play_tokens,
    play_token_balance,
)
from loyalty_service.ledger.recorded import RecordedPurchase
from loyalty_service.ledger.rules_store import (
    StoredRule,
    insert_version,
    latest_version,
    load_versions,
    lock_rules,
)
from loyalty_service.ledger.tokens import TokenFacts
from loyalty_service.program import settings as program_settings
from loyalty_service.tiers import api as tiers_api

__all__ = [
    "HELD_UNTIL_RELEASED",
    "Book",
    "Cause",
    "EarningRule",
    "EntryType",
    "InsufficientPlayTokens",
    "InsufficientPoints",
    "PointsMoved",
    "PurchaseReversal",
    "RecordedPurchase",
    "RuleCondition",
    "RuleKind",
    "StoredRule",
    "TokenFacts",
    "available_points",
    "credit_points",
    "debit_points",
    "find_order",
    "grant_purchase_tokens",
    "has_purchase_at_store",
    "insert_version",
    "latest_version",
    "load_versions",
    "lock_ledger",
    "lock_rules",
    "member_records",
    "merge_member",
    "move_play_tokens",
    "play_token_balance",
    "return_points",
    "reverse_purchase",
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


# --- moving points for other features (rewards, games, passports, challenges, draws) ---------------
# Each opens the member's Book (locking the ledger head first, the one lock order of the ledger), posts
# one entry with its `points_changed` event and closes the Book, all in the caller's transaction.


@dataclass(frozen=True, slots=True, kw_only=True)
class PointsMoved:
    """The entry one call posted, and the member's balance after it."""

    entry_id: str
    points: int
    """Signed: positive for a credit, negative for a debit."""
    balance: ledger_pb2.Balance


async def lock_ledger(conn: AsyncConnection, member_id: str) -> None:
    """Take the member's ledger lock without moving points (serialises per-member limits); NOT_FOUND."""
    if await store.lock_account(conn, member_id) is None:
        raise NotFound("member", member_id)


async def available_points(conn: AsyncConnection, member_id: str) -> int:
    """The member's spendable points as last saved (a read for listings; no lock, no catch-up)."""
    account = await store.read_account(conn, member_id)
    return 0 if account is None else max(0, account.available)


async def credit_points(
    conn: AsyncConnection,
    *,
    member_id: str,
    points: int,
    entry_type: EntryType,
    cause: Cause,
    now: datetime,
    credential_id: str,
    book: Book | None = None,
) -> PointsMoved:
    """Credit `points` (> 0) as a new lot, available at once, expiring as the programme's settings say.

    For GAME_WIN, PASSPORT_REWARD, CHALLENGE_REWARD, DRAW_WIN, BONUS: these do not count as lifetime earned.
    With `book` (the member's Book the caller already opened, e.g. in a purchase), the credit goes on it
    and the caller closes it; never open a second Book of one member in a transaction.
    """
    assert points > 0, "a credit credits something"
    settings = await program_settings.read(conn)
    own_book = book is None
    if book is None:
        book = await Book.open(conn, member_id, now=now, credential_id=credential_id)
    assert book.member_id == member_id, "the book of another member"
    expires_at = add_months(now, settings.expiry_months) if settings.expiry_months else None
    entry, _lot_id = await book.credit(
        entry_type, points, cause, earned_at=now, available_at=now, expires_at=expires_at
    )
    if own_book:
        await book.close()
    return PointsMoved(entry_id=entry.entry_id, points=points, balance=book.balance())


async def debit_points(
    conn: AsyncConnection,
    *,
    member_id: str,
    points: int,
    entry_type: EntryType,
    cause: Cause,
    now: datetime,
    credential_id: str,
) -> PointsMoved:
    """Take `points` (> 0), oldest-expiring first; raises InsufficientPoints rather than go below zero.

    For REDEEM, GAME_PLAY, DRAW_ENTRY. Keep the entry id to give the points back with `return_points`.
    """
    assert points > 0, "a debit debits something"
    book = await Book.open(conn, member_id, now=now, credential_id=credential_id)
    entry = await book.debit(entry_type, points, cause)
    await book.close()
    return PointsMoved(entry_id=entry.entry_id, points=-points, balance=book.balance())


async def return_points(
    conn: AsyncConnection,
    *,
    member_id: str,
    debit_entry_id: str,
    entry_type: EntryType,
    cause: Cause,
    now: datetime,
    credential_id: str,
) -> PointsMoved:
    """Give back exactly what the debit `debit_entry_id` took, into the lots it came from (REDEEM_CANCEL).

    The caller makes sure it happens once (e.g. by the state of the thing the debit paid for).
    """
    book = await Book.open(conn, member_id, now=now, credential_id=credential_id)
    takes = await store.takes_of(conn, member_id=member_id, entry_id=debit_entry_id)
    assert takes, "a debit entry has takes"
    entry = await book.put_back(takes, cause, entry_type=entry_type)
    await book.close()
    return PointsMoved(entry_id=entry.entry_id, points=entry.points, balance=book.balance())


async def has_purchase_at_store(
    conn: AsyncConnection, *, member_id: str, store_id: str, since: datetime, until: datetime
) -> bool:
    """Whether the member has a purchase at `store_id` that occurred in [since, until) (challenges)."""
    from sqlalchemy import exists, select

    from loyalty_service.db.tables import purchases

    found = select(
        exists().where(
            purchases.c.member_id == member_id,
            purchases.c.store_id == store_id,
            purchases.c.occurred_at >= since,
            purchases.c.occurred_at < until,
        )
    )
    return bool((await conn.execute(found)).scalar_one())


# --- click-and-collect (journeys) -------------------------------------------------------------------


async def find_order(
    conn: AsyncConnection, *, channel: str, store_id: str, order_id: str
) -> tuple[str, str] | None:
    """(member_id, purchase_id) of a recorded order, or None."""
    return await records.find_order(conn, channel=channel, store_id=store_id, order_id=order_id)


@dataclass(frozen=True, slots=True)
class PurchaseReversal:
    points: int
    entry_id: str
    """"" when there was nothing left to reverse."""
    amount_minor: int
    """The purchase's amount (a cancelled order counts as refunded in full elsewhere, e.g. for tiers)."""


async def reverse_purchase(
    conn: AsyncConnection, *, book: Book, purchase_id: str, cause: Cause
) -> PurchaseReversal:
    """Reverse what is left of a purchase's points (a cancelled order) on the caller's open `book`.

    Takes the purchase's own lot first, like a refund; records the points as reversed (a refunds row of
    amount 0, so `check` still finds the purchase's reversals in its refunds) so that a later refund of
    the same order reverses nothing more.
    """
    purchase = await records.lock_purchase(conn, member_id=book.member_id, purchase_id=purchase_id)
    if purchase is None:
        raise NotFound("purchase", purchase_id)
    # Status tiers: a cancelled order stops counting, like a full refund (tiers.api).
    await tiers_api.on_refund(
        conn,
        member_id=book.member_id,
        purchase_id=purchase_id,
        refunded_total_minor=purchase.amount_minor,
        now=book.now,
    )
    points = purchase.points - purchase.reversed_points
    if points <= 0:
        return PurchaseReversal(0, "", purchase.amount_minor)
    entry = await book.reverse(points, cause, own_lot_id=purchase.lot_id)
    book.add_lifetime(-points)
    await records.record_refund_totals(
        conn, purchase, refunded_minor=purchase.refunded_minor, reversed_points=purchase.points
    )
    await records.insert_refund(
        conn,
        member_id=book.member_id,
        refund_id=new_id("ref"),
        purchase_id=purchase_id,
        amount_minor=0,
        points_reversed=points,
        lines=[],
        entry_id=entry.entry_id,
        occurred_at=cause.occurred_at,
        recorded_at=book.now,
    )
    return PurchaseReversal(points, entry.entry_id, purchase.amount_minor)
