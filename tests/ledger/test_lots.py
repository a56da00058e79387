"""Point lots: allocation order, pending, expiry, debt, and the ledger identity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from loyalty_service.ledger.lots import (
    InsufficientPoints,
    Lot,
    NextExpiry,
    Take,
    allocate_reversal,
    allocate_spend,
    apply_takes,
    balances,
    expiry_due,
    next_expiry,
    release_and_settle,
    release_due,
    settle_debt,
    spend_order,
    spendable,
)

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


def lot(
    lot_id: str,
    points: int,
    *,
    remaining: int | None = None,
    earned_h: int = -10,
    available_h: int | None = None,
    expires_h: int | None = None,
) -> Lot:
    """A lot with times given in hours relative to NOW."""
    return Lot(
        lot_id=lot_id,
        points=points,
        remaining=points if remaining is None else remaining,
        earned_at=NOW + earned_h * HOUR,
        available_at=NOW + (earned_h if available_h is None else available_h) * HOUR,
        expires_at=None if expires_h is None else NOW + expires_h * HOUR,
    )


def test_spend_order_oldest_expiring_first_never_expiring_last() -> None:
    """Lots that expire sooner are spent first; ties by earned_at then lot_id."""
    lots = [
        lot("d", 1, expires_h=None, earned_h=-50),
        lot("c", 1, expires_h=48, earned_h=-5),
        lot("b", 1, expires_h=48, earned_h=-5),
        lot("a", 1, expires_h=48, earned_h=-6),
        lot("e", 1, expires_h=24),
        lot("f", 1, expires_h=None, earned_h=-60),
    ]
    assert [x.lot_id for x in spend_order(lots)] == ["e", "a", "b", "c", "f", "d"]


def test_spend_skips_pending_and_expired_and_respects_debt() -> None:
    """Only available, unexpired points minus debt can be spent."""
    lots = [
        lot("pending", 100, available_h=5),
        lot("expired", 100, expires_h=0),
        lot("old", 30, expires_h=10),
        lot("new", 50, earned_h=-1),
    ]
    assert spendable(lots, NOW, debt=5) == 75
    assert allocate_spend(lots, 40, NOW, debt=5) == (Take("old", 30), Take("new", 10))
    with pytest.raises(InsufficientPoints) as caught:
        allocate_spend(lots, 76, NOW, debt=5)
    assert (caught.value.available, caught.value.requested) == (75, 76)


def test_reversal_takes_own_lot_then_pending_then_available_then_debt() -> None:
    """A refund claws back its own points first, then unusable ones, then the rest."""
    lots = [
        lot("own", 10, available_h=24),
        lot("pending-old", 20, available_h=2),
        lot("pending-young", 20, available_h=30),
        lot("available", 5),
        lot("expired", 100, expires_h=-1),
    ]
    takes, debt = allocate_reversal(lots, 70, own_lot_id="own", now=NOW)
    assert takes == (
        Take("own", 10),
        Take("pending-young", 20),
        Take("pending-old", 20),
        Take("available", 5),
    )
    assert debt == 15
    assert allocate_reversal(lots, 0, own_lot_id=None, now=NOW) == ((), 0)


def test_expiry_takes_everything_due_once() -> None:
    """Expiry takes all of each due lot; applied, a second run takes nothing."""
    lots = (lot("a", 10, remaining=4, expires_h=0), lot("b", 7, expires_h=1), lot("c", 3))
    takes = expiry_due(lots, NOW)
    assert takes == (Take("a", 4),)
    assert expiry_due(apply_takes(lots, takes), NOW) == ()


def test_next_expiry_sums_points_expiring_together() -> None:
    """The next expiry reports the earliest future instant and all points due then."""
    lots = [
        lot("a", 10, expires_h=5),
        lot("b", 7, expires_h=5, available_h=3),
        lot("c", 3, expires_h=1, remaining=0),
        lot("d", 9, expires_h=0),
        lot("e", 1),
    ]
    assert next_expiry(lots, NOW) == NextExpiry(17, NOW + 5 * HOUR)
    assert next_expiry([lot("e", 1)], NOW) is None


def test_debt_is_paid_by_the_next_available_credit() -> None:
    """A credit pays the debt first; released lots settle in availability order."""
    assert settle_debt(100, 30) == (70, 0)
    assert settle_debt(20, 30) == (0, 10)
    pending = [lot("late", 50, available_h=1), lot("early", 50, available_h=-1), lot("x", 5)]
    assert [x.lot_id for x in release_due(pending, NOW)] == ["x", "early"]
    released, debt = release_and_settle(pending, NOW, debt=30)
    assert [(x.lot_id, x.remaining) for x in released] == [("x", 0), ("early", 25)]
    assert debt == 0


def test_balances_split_available_and_pending() -> None:
    """Available is non-pending remaining minus debt (may go negative); pending apart."""
    lots = [lot("a", 10), lot("b", 20, available_h=1)]
    assert balances(lots, NOW, debt=3) == (7, 20)
    assert balances(lots, NOW, debt=15) == (-5, 20)


class LedgerLots(RuleBasedStateMachine):
    """Random earn/spend/reverse/expire/release against signed ledger amounts."""

    @initialize()
    def start(self) -> None:
        self.now = NOW
        self.lots: list[Lot] = []
        self.unreleased: set[str] = set()
        self.debt = 0
        self.ledger: list[int] = []

    @rule(
        points=st.integers(1, 500),
        pending_h=st.sampled_from([0, 0, 1, 24, 72]),
        expires_h=st.none() | st.integers(1, 200),
    )
    def earn(self, points: int, pending_h: int, expires_h: int | None) -> None:
        remaining = points
        if pending_h == 0:
            remaining, self.debt = settle_debt(points, self.debt)
        new = Lot(
            lot_id=f"lot-{len(self.lots):04d}",
            points=points,
            remaining=remaining,
            earned_at=self.now,
            available_at=self.now + pending_h * HOUR,
            expires_at=None if expires_h is None else self.now + expires_h * HOUR,
        )
        if pending_h:
            self.unreleased.add(new.lot_id)
        self.lots.append(new)
        self.ledger.append(points)

    @rule(points=st.integers(1, 1000))
    def spend(self, points: int) -> None:
        before = spendable(self.lots, self.now, debt=self.debt)
        if points > before:
            with pytest.raises(InsufficientPoints) as refused:
                allocate_spend(self.lots, points, self.now, debt=self.debt)
            assert (refused.value.available, refused.value.requested) == (before, points)
            return
        takes = allocate_spend(self.lots, points, self.now, debt=self.debt)
        assert sum(take.points for take in takes) == points
        self.lots = list(apply_takes(self.lots, takes))
        self.ledger.append(-points)
        after = spendable(self.lots, self.now, debt=self.debt)
        assert after == before - points >= 0
        assert balances(self.lots, self.now, debt=self.debt)[0] >= 0

    @rule(points=st.integers(0, 600), own=st.integers(0, 1000))
    def reverse(self, points: int, own: int) -> None:
        own_lot_id = self.lots[own % len(self.lots)].lot_id if self.lots else None
        takes, uncovered = allocate_reversal(self.lots, points, own_lot_id=own_lot_id, now=self.now)
        assert uncovered >= 0
        assert sum(take.points for take in takes) + uncovered == points
        self.lots = list(apply_takes(self.lots, takes))
        self.debt += uncovered
        self.ledger.append(-points)

    @rule()
    def expire(self) -> None:
        takes = expiry_due(self.lots, self.now)
        self.lots = list(apply_takes(self.lots, takes))
        self.ledger.append(-sum(take.points for take in takes))
        assert expiry_due(self.lots, self.now) == ()

    @rule(hours=st.integers(1, 100))
    def advance(self, hours: int) -> None:
        self.now += hours * HOUR

    @rule()
    def release(self) -> None:
        waiting = [x for x in self.lots if x.lot_id in self.unreleased]
        released, self.debt = release_and_settle(waiting, self.now, debt=self.debt)
        by_id = {x.lot_id: x for x in released}
        self.lots = [by_id.get(x.lot_id, x) for x in self.lots]
        self.unreleased -= set(by_id)
        if self.debt:
            assert all(x.remaining == 0 for x in released)

    @invariant()
    def balance_is_sum_of_ledger(self) -> None:
        available, pending = balances(self.lots, self.now, debt=self.debt)
        assert available + pending == sum(self.ledger)
        assert self.debt >= 0
        assert pending >= 0

    @invariant()
    def next_expiry_is_in_the_future(self) -> None:
        upcoming = next_expiry(self.lots, self.now)
        assert upcoming is None or (upcoming.points > 0 and upcoming.expires_at > self.now)


TestLedgerLots = LedgerLots.TestCase
TestLedgerLots.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
