"""Point lots: which credit a debit takes from, what is pending, what expires, debt.

Every credit (earn, positive adjustment, refund of a spend, game win, merge, ...)
creates a lot; debits take points from lots. Lots answer what a bare balance cannot:
which points expire when, which are still pending (not yet spendable, e.g. during a
return window), and which credit a refund reversal should claw back.

Accounting identity, kept by every function here and checked by the property tests:

    sum(signed ledger amounts) == sum(lot.remaining) - debt == available + pending

`debt` is one non-negative integer per member: the part of a refund reversal that no
lot could cover (the points were already spent). It is not a lot; a credit that becomes
available pays it first (`settle_debt`), so a debt never sits beside spendable lots.

Protocol for callers, inside one transaction, before any debit or balance answer:
1. `release_due` on the lots not yet released, then `settle_debt` each (or
   `release_and_settle`), in the order returned;
2. `expiry_due`, posting one expire entry per take.
Lots past `expires_at` are never spent nor reversed from, even before step 2 has run;
`balances` counts them until step 2 posts their expiry, so it matches the ledger.

Changes to the brief:
- `Lot` is keyword-only (three datetimes in a row are easy to swap).
- `allocate_reversal` skips lots already past `expires_at` (those points are gone),
  including the purchase's own lot, and accepts 0 points (returns nothing).
- `release_due` and `expiry_due` return in a stated order so replays are deterministic.
- Added `apply_takes` (lots after takes), `spendable` (what `allocate_spend` allows),
  and `release_and_settle` (release_due + settle_debt in one step).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

__all__ = [
    "InsufficientPoints",
    "Lot",
    "NextExpiry",
    "Take",
    "allocate_reversal",
    "allocate_spend",
    "apply_takes",
    "balances",
    "expiry_due",
    "is_expired",
    "is_pending",
    "next_expiry",
    "release_and_settle",
    "release_due",
    "settle_debt",
    "spend_order",
    "spendable",
]


class InsufficientPoints(ValueError):
    """A debit asked for more points than are spendable."""

    def __init__(self, *, available: int, requested: int) -> None:
        super().__init__(f"available {available} < requested {requested}")
        self.available = available
        self.requested = requested


@dataclass(frozen=True, slots=True, kw_only=True)
class Lot:
    """Points from one credit, and how many of them are still held."""

    lot_id: str
    points: int
    """What the credit gave; never changes."""
    remaining: int
    """What debits, expiry and debt settlement have not taken yet."""
    earned_at: datetime
    available_at: datetime
    """Pending until then (spendable from this instant on)."""
    expires_at: datetime | None
    """Expired from this instant on; None: never."""

    def __post_init__(self) -> None:
        assert 0 <= self.remaining <= self.points, "remaining outside [0, points]"
        assert self.earned_at.tzinfo is not None, "earned_at must be aware"
        assert self.available_at.tzinfo is not None, "available_at must be aware"
        assert self.expires_at is None or self.expires_at.tzinfo is not None


@dataclass(frozen=True, slots=True)
class Take:
    """How many points one debit takes from one lot."""

    lot_id: str
    points: int

    def __post_init__(self) -> None:
        assert self.points > 0, "a take takes something"


@dataclass(frozen=True, slots=True)
class NextExpiry:
    points: int
    expires_at: datetime


def is_pending(lot: Lot, now: datetime) -> bool:
    return lot.available_at > now


def is_expired(lot: Lot, now: datetime) -> bool:
    return lot.expires_at is not None and lot.expires_at <= now


def _spend_key(lot: Lot) -> tuple[bool, datetime, datetime, str]:
    # Lots that never expire sort last (True > False); earned_at then orders them.
    never = lot.expires_at is None
    return (never, lot.expires_at or lot.earned_at, lot.earned_at, lot.lot_id)


def spend_order(lots: Iterable[Lot]) -> list[Lot]:
    """Oldest-expiring first, so members lose as few points as possible to expiry."""
    return sorted(lots, key=_spend_key)


def _spendable_lots(lots: Iterable[Lot], now: datetime) -> list[Lot]:
    return spend_order(
        lot for lot in lots if lot.remaining > 0 and not is_pending(lot, now) and not is_expired(lot, now)
    )


def spendable(lots: Iterable[Lot], now: datetime, *, debt: int) -> int:
    """Points a debit may take now: available, unexpired remaining minus debt."""
    assert debt >= 0, "negative debt"
    return sum(lot.remaining for lot in _spendable_lots(lots, now)) - debt


def _take_in_order(ordered: Iterable[Lot], points: int) -> tuple[tuple[Take, ...], int]:
    """Takes from `ordered` until `points` are covered; returns takes and the rest."""
    takes: list[Take] = []
    rest = points
    for lot in ordered:
        if rest == 0:
            break
        taken = min(rest, lot.remaining)
        if taken > 0:
            takes.append(Take(lot.lot_id, taken))
            rest -= taken
    return tuple(takes), rest


def allocate_spend(lots: Iterable[Lot], points: int, now: datetime, *, debt: int) -> tuple[Take, ...]:
    """Takes for a spend of `points`, from available lots in `spend_order`.

    Raises InsufficientPoints when `points` exceeds `spendable`, so a spend never
    takes the available balance below zero.
    """
    assert points > 0, "spend a positive number of points"
    ordered = _spendable_lots(lots, now)
    available = sum(lot.remaining for lot in ordered) - debt
    if points > available:
        raise InsufficientPoints(available=available, requested=points)
    takes, rest = _take_in_order(ordered, points)
    assert rest == 0
    return takes


def allocate_reversal(
    lots: Iterable[Lot], points: int, *, own_lot_id: str | None, now: datetime
) -> tuple[tuple[Take, ...], int]:
    """Takes for a refund reversal, and the uncovered rest that becomes debt.

    Order: the purchase's own lot (pending or not), then other pending lots youngest
    first (points the member cannot use yet), then available lots in `spend_order`.
    Lots past `expires_at` are skipped: their points are already lost to the member.
    """
    assert points >= 0, "negative reversal"
    live = [lot for lot in lots if lot.remaining > 0 and not is_expired(lot, now)]
    own = [lot for lot in live if lot.lot_id == own_lot_id]
    others = [lot for lot in live if lot.lot_id != own_lot_id]
    pending = sorted(
        (lot for lot in others if is_pending(lot, now)),
        key=lambda lot: (lot.available_at, lot.earned_at, lot.lot_id),
        reverse=True,
    )
    available = spend_order(lot for lot in others if not is_pending(lot, now))
    return _take_in_order([*own, *pending, *available], points)


def apply_takes(lots: Iterable[Lot], takes: Iterable[Take]) -> tuple[Lot, ...]:
    """`lots` with each take subtracted from its lot's remaining (same order)."""
    taken: dict[str, int] = {}
    for take in takes:
        taken[take.lot_id] = taken.get(take.lot_id, 0) + take.points
    result = tuple(replace(lot, remaining=lot.remaining - taken.pop(lot.lot_id, 0)) for lot in lots)
    assert not taken, f"takes for unknown lots: {sorted(taken)}"
    return result


def expiry_due(lots: Iterable[Lot], now: datetime) -> tuple[Take, ...]:
    """All remaining points of every lot past `expires_at`, in `spend_order`.

    Idempotent once applied: an expired lot keeps remaining 0, so a second run over
    the same lots takes nothing.
    """
    return tuple(
        Take(lot.lot_id, lot.remaining)
        for lot in spend_order(lots)
        if lot.remaining > 0 and is_expired(lot, now)
    )


def release_due(pending_lots: Iterable[Lot], now: datetime) -> tuple[Lot, ...]:
    """Of the lots not yet released, those whose available_at has come, oldest first.

    Whether a lot was released is the caller's stored state: the order matters for
    debt settlement, which happens once per lot at release.
    """
    return tuple(
        sorted(
            (lot for lot in pending_lots if not is_pending(lot, now)),
            key=lambda lot: (lot.available_at, lot.earned_at, lot.lot_id),
        )
    )


def settle_debt(new_lot_points: int, debt: int) -> tuple[int, int]:
    """A credit becoming available pays the debt first: (lot_remaining, new_debt)."""
    assert new_lot_points >= 0, "negative credit"
    assert debt >= 0, "negative debt"
    paid = min(new_lot_points, debt)
    return new_lot_points - paid, debt - paid


def release_and_settle(
    pending_lots: Iterable[Lot], now: datetime, *, debt: int
) -> tuple[tuple[Lot, ...], int]:
    """`release_due` then `settle_debt` on each released lot; returns them and the debt."""
    released: list[Lot] = []
    for lot in release_due(pending_lots, now):
        remaining, debt = settle_debt(lot.remaining, debt)
        released.append(replace(lot, remaining=remaining))
    return tuple(released), debt


def next_expiry(lots: Iterable[Lot], now: datetime) -> NextExpiry | None:
    """The earliest future expiry among lots holding points, and how many expire then."""
    upcoming = [
        lot for lot in lots if lot.remaining > 0 and lot.expires_at is not None and lot.expires_at > now
    ]
    if not upcoming:
        return None
    first = min(lot.expires_at for lot in upcoming if lot.expires_at is not None)
    points = sum(lot.remaining for lot in upcoming if lot.expires_at == first)
    return NextExpiry(points, first)


def balances(lots: Iterable[Lot], now: datetime, *, debt: int) -> tuple[int, int]:
    """(available, pending); available may be negative while a debt is unpaid."""
    assert debt >= 0, "negative debt"
    available = 0
    pending = 0
    for lot in lots:
        if is_pending(lot, now):
            pending += lot.remaining
        else:
            available += lot.remaining
    return available - debt, pending
