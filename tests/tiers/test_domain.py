"""The pure tier rules against simple reference models (hypothesis).

- A stateful machine drives `after_purchase`, `catch_up` and `after_refund` the way `tiers.api` does,
  on a calendar-year ladder, and compares with a model written in whole years: a tier reached in year Y
  is held through Y+1; at each 1 January the year that just ended decides; a refund undoes the latest
  upgrade when the purchase that caused it no longer makes the value reach it.
- Rolling windows: the qualifying value equals a brute-force sum over the last N months, and the hold
  always covers the whole next window.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from loyalty_service.kernel.clock import add_months
from loyalty_service.tiers.domain import (
    Basis,
    Change,
    Contribution,
    Ladder,
    LadderVersion,
    Reason,
    Status,
    Tier,
    WindowKind,
    after_purchase,
    after_refund,
    catch_up,
    hold_end,
    ladder_as_of,
    progress,
    qualifying_value,
    tier_at,
    window_start,
)

THRESHOLDS = (0, 100, 300)
START = datetime(2030, 1, 1, tzinfo=UTC)


def ladder(kind: WindowKind = WindowKind.CALENDAR_YEAR, months: int = 12) -> Ladder:
    return Ladder(
        basis=Basis.POINTS,
        window_kind=kind,
        window_months=months,
        tiers=tuple(
            Tier(tier_id=f"t{i}", name=f"T{i}", threshold=t, multiplier=Fraction(2 + i, 2))
            for i, t in enumerate(THRESHOLDS)
        ),
    )


def reached(value: int) -> int:
    return max(i for i, t in enumerate(THRESHOLDS) if t <= value)


@dataclass
class Purchase:
    purchase_id: str
    at: datetime
    points: int
    refunded: bool = False


@dataclass
class Model:
    """The reference, in whole calendar years."""

    tier: int = 0
    held_through: int | None = None
    """The last calendar year the tier is held (None: the base tier)."""
    latest_upgrade: tuple[str, int, int | None, datetime] | None = None
    """(purchase, from tier, held_through before, when) of the latest change if it was an upgrade."""
    purchases: list[Purchase] = field(default_factory=list)

    def value(self, year: int, until: datetime) -> int:
        return sum(p.points for p in self.purchases if not p.refunded and p.at.year == year and p.at <= until)


class CalendarTiers(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ladder = ladder()
        self.versions = [LadderVersion(1, START - timedelta(days=1), self.ladder)]
        self.now = START
        self.status = Status("t0", None)
        self.latest: Change | None = None
        self.history: list[tuple[datetime, str]] = []
        self.model = Model()

    def contributions(self) -> list[Contribution]:
        return [
            Contribution(p.purchase_id, p.at, 0 if p.refunded else p.points, 0, "EUR")
            for p in self.model.purchases
        ]

    def _apply(self, changes: list[Change]) -> None:
        for change in changes:
            self.history.append((change.effective_at, change.to_tier_id))
            self.latest = change

    def _catch_up(self) -> None:
        self.status, changes = catch_up(self.versions, self.status, self.contributions(), now=self.now)
        self._apply(changes)
        model = self.model
        while (
            model.held_through is not None and datetime(model.held_through + 1, 1, 1, tzinfo=UTC) <= self.now
        ):
            ended = model.held_through
            value = model.value(ended, datetime(ended + 1, 1, 1, tzinfo=UTC) - timedelta(microseconds=1))
            if reached(value) >= model.tier:
                model.held_through = ended + 1
                continue
            model.tier = reached(value)
            model.held_through = ended + 1 if model.tier > 0 else None
            model.latest_upgrade = None

    @rule(points=st.integers(1, 400), days_ago=st.sampled_from([0, 0, 0, 3, 40]))
    def purchase(self, points: int, days_ago: int) -> None:
        """A sale, made now or uploaded late from a till that was offline."""
        self._catch_up()
        at = self.now - timedelta(days=days_ago)
        bought = Purchase(f"p{len(self.model.purchases)}", at, points)
        self.model.purchases.append(bought)
        value = qualifying_value(self.ladder, self.contributions(), self.now)
        self.status, change = after_purchase(self.ladder, self.status, value=value, now=self.now)
        if change is not None:
            self._apply([replace(change, purchase_id=bought.purchase_id)])
        model, year = self.model, self.now.year
        now_reached = reached(model.value(year, self.now))
        if now_reached > model.tier:
            model.latest_upgrade = (bought.purchase_id, model.tier, model.held_through, self.now)
            model.tier, model.held_through = now_reached, year + 1
        elif now_reached == model.tier > 0:
            model.held_through = max(model.held_through or 0, year + 1)

    @precondition(lambda self: any(not p.refunded for p in self.model.purchases))
    @rule(pick=st.integers(0, 10_000), partial=st.booleans())
    def refund(self, pick: int, partial: bool) -> None:
        """A full refund, or one of half the amount (half the points, rounded down, stop counting)."""
        self._catch_up()
        open_purchases = [p for p in self.model.purchases if not p.refunded]
        refunded = open_purchases[pick % len(open_purchases)]
        if partial and refunded.points > 1:
            refunded.points //= 2
        else:
            refunded.refunded = True
        self.status, change = after_refund(
            self.ladder,
            self.status,
            latest=self.latest,
            purchase_id=refunded.purchase_id,
            contributions=self.contributions(),
            now=self.now,
        )
        if change is not None:
            self._apply([change])
        model = self.model
        if model.latest_upgrade is not None and model.latest_upgrade[0] == refunded.purchase_id:
            _, before, held_before, at = model.latest_upgrade
            still = reached(model.value(at.year, at))
            if still < model.tier:
                model.tier = max(still, before)
                model.held_through = held_before if model.tier == before else at.year + 1
                if model.tier == 0:
                    model.held_through = None
                model.latest_upgrade = None

    @rule(days=st.integers(1, 500))
    def advance(self, days: int) -> None:
        self.now += timedelta(days=days)
        self._catch_up()

    @invariant()
    def matches_the_model(self) -> None:
        assert self.status.tier_id == f"t{self.model.tier}"
        expected = (
            None
            if self.model.held_through is None
            else datetime(self.model.held_through + 1, 1, 1, tzinfo=UTC)
        )
        assert self.status.held_until == expected

    @invariant()
    def history_says_the_same(self) -> None:
        assert tier_at(self.history, self.now, base_tier_id="t0") == self.status.tier_id

    @invariant()
    def downgrades_happen_only_at_period_ends_or_by_refund(self) -> None:
        if self.latest is not None and self.latest.reason is Reason.REVIEW_DOWNGRADE:
            at = self.latest.effective_at
            assert (at.month, at.day, at.hour, at.minute) == (1, 1, 0, 0)


CalendarTiers.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestCalendarTiers = CalendarTiers.TestCase

instants = st.integers(0, 3 * 365 * 24).map(lambda hours: START + timedelta(hours=hours))


@given(
    months=st.integers(1, 36),
    purchases=st.lists(st.tuples(instants, st.integers(0, 500)), max_size=30),
    at=instants,
)
def test_rolling_value_is_the_sum_over_the_last_n_months(
    months: int, purchases: list[tuple[datetime, int]], at: datetime
) -> None:
    """Goal: a rolling window counts exactly what occurred in (at - N months, at]."""
    rolling = ladder(WindowKind.ROLLING_MONTHS, months)
    contributions = [Contribution(f"p{i}", t, p, 0, "EUR") for i, (t, p) in enumerate(purchases)]
    expected = sum(p for t, p in purchases if add_months(at, -months) < t <= at)
    assert qualifying_value(rolling, contributions, at) == expected
    assert window_start(rolling, at) == add_months(at, -months)


@given(months=st.integers(1, 36), at=instants)
def test_a_hold_covers_the_next_whole_period(months: int, at: datetime) -> None:
    """Goal: the grace rule: held past the end of the period after `at`'s, never less than the window."""
    rolling = ladder(WindowKind.ROLLING_MONTHS, months)
    end = hold_end(rolling, at)
    assert (end.day, end.time()) == (1, datetime.min.time())
    assert add_months(at, months) < end <= add_months(at, months + 1)
    calendar_end = hold_end(ladder(), at)
    assert calendar_end == datetime(at.year + 2, 1, 1, tzinfo=UTC)


@given(value=st.integers(0, 1000), current=st.integers(0, 2), at=instants)
def test_a_purchase_never_downgrades_and_progress_adds_up(value: int, current: int, at: datetime) -> None:
    """Goal: after_purchase only raises or keeps the tier; remaining is what the next tier needs."""
    calendar = ladder()
    held = None if current == 0 else hold_end(calendar, at)
    status = Status(f"t{current}", held)
    after, change = after_purchase(calendar, status, value=value, now=at)
    assert calendar.index_of(after.tier_id) == max(
        current, reached(value) if reached(value) > current else current
    )
    assert (change is not None) == (reached(value) > current)
    shown = progress(calendar, after, value=value, now=at)
    if shown.next_tier is None:
        assert shown.remaining == 0
    else:
        assert shown.remaining == max(0, shown.next_tier.threshold - value)


def test_ladder_as_of_picks_the_version_in_force() -> None:
    """Goal: versions hold from their effective_from; before the first, none."""
    one, two = LadderVersion(1, START, ladder()), LadderVersion(2, START + timedelta(days=5), ladder())
    assert ladder_as_of([one, two], START - timedelta(seconds=1)) is None
    assert ladder_as_of([one, two], START + timedelta(days=1)) == one
    assert ladder_as_of([two, one], START + timedelta(days=5)) == two
