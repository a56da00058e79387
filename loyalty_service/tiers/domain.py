"""Status tiers: the pure rules (no I/O, no clock; time and state come in as arguments).

- A `Ladder` lists tiers from the base tier (threshold 0) up, thresholds strictly increasing. Ladders are
  versioned like earning rules (`ladder_as_of`): a change never rewrites what an earlier version decided.
- The qualifying value at a time `at` sums the member's `Contribution`s (one per purchase, net of refunds)
  whose occurred_at lies in the window ending at `at`: the calendar year so far (UTC), or the last N months
  (rolling, `occurred_at > at - N months`).
- Upgrade (`after_purchase`): when the value reaches a higher tier's threshold, at once. Reaching the
  current tier's threshold again extends the hold (requalification).
- Grace (`hold_end`): a tier qualified for at `at` is held until the end of the period AFTER the one
  containing `at`: calendar year -> 1 January of the year after next (the airline rule: the rest of this
  year and all of next); rolling N months -> the end of `at`'s month plus N months.
- Downgrade (`catch_up`): only when the hold ends. The review at `r = held_until` looks at the window
  ending just before `r` (the period that just ended); the member keeps the tier if that value still
  reaches it (held one more period), else drops to the tier the value reaches (held one period from there,
  the base tier for ever).
- Refund (`after_refund`): undoes the upgrade a purchase caused when that upgrade is still the member's
  latest change and the value at the upgrade's time, recomputed without the refunded amount, no longer
  reaches it; the member goes back to the tier (and hold) it had, or to the tier the value still reaches.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from loyalty_service.kernel.clock import add_months

__all__ = [
    "CATCH_UP_STEPS_MAX",
    "Basis",
    "Change",
    "Contribution",
    "Ladder",
    "LadderVersion",
    "Progress",
    "Reason",
    "Status",
    "Tier",
    "WindowKind",
    "after_purchase",
    "after_refund",
    "catch_up",
    "hold_end",
    "ladder_as_of",
    "progress",
    "qualifying_value",
    "tier_at",
    "window_start",
]

CATCH_UP_STEPS_MAX = 100
"""Reviews one catch-up may run (a hold is at least a month, so this covers 8 years of missed runs)."""
_JUST_BEFORE = timedelta(microseconds=1)


class Basis(enum.StrEnum):
    POINTS = "points"
    SPEND = "spend"


class WindowKind(enum.StrEnum):
    ROLLING_MONTHS = "rolling_months"
    CALENDAR_YEAR = "calendar_year"


class Reason(enum.StrEnum):
    UPGRADE = "upgrade"
    REVIEW_DOWNGRADE = "review_downgrade"
    REFUND = "refund"


@dataclass(frozen=True, slots=True, kw_only=True)
class Tier:
    tier_id: str
    name: str
    threshold: int
    multiplier: Fraction = Fraction(1)
    reserved_reward_ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        assert self.threshold >= 0, "negative threshold"
        assert self.multiplier >= 0, "negative multiplier"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ladder:
    basis: Basis
    window_kind: WindowKind
    tiers: tuple[Tier, ...]
    window_months: int = 12
    """Rolling windows only."""
    currency: str | None = None
    """Spend basis only: the currency whose spend counts."""

    def __post_init__(self) -> None:
        assert self.tiers, "at least the base tier"
        assert self.tiers[0].threshold == 0, "the base tier has threshold 0"
        thresholds = [t.threshold for t in self.tiers]
        assert all(a < b for a, b in itertools.pairwise(thresholds)), "thresholds increase"
        assert self.window_months >= 1, "a window of at least a month"
        assert self.basis is not Basis.SPEND or self.currency, "spend needs a currency"

    def index_of(self, tier_id: str) -> int:
        """The tier's rank; a tier_id this ladder does not know ranks as the base tier."""
        for index, tier in enumerate(self.tiers):
            if tier.tier_id == tier_id:
                return index
        return 0

    def reached(self, value: int) -> int:
        """The rank of the highest tier whose threshold `value` reaches."""
        return max(i for i, tier in enumerate(self.tiers) if tier.threshold <= value)


@dataclass(frozen=True, slots=True)
class LadderVersion:
    version: int
    effective_from: datetime
    ladder: Ladder


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one purchase counts for, net of its refunds."""

    purchase_id: str
    occurred_at: datetime
    points: int
    spend_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class Status:
    tier_id: str
    held_until: datetime | None
    """None for the base tier (held for ever)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    from_tier_id: str
    to_tier_id: str
    reason: Reason
    effective_at: datetime
    held_until: datetime | None
    qualifying_value: int
    previous_held_until: datetime | None
    """The hold the member had before, so a refund can give it back."""
    purchase_id: str | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    tier: Tier
    value: int
    window_start: datetime
    next_tier: Tier | None
    remaining: int


def ladder_as_of(versions: Iterable[LadderVersion], at: datetime) -> LadderVersion | None:
    """The version in force at `at`: the latest effective_from <= at (ties to the higher version)."""
    in_force = [v for v in versions if v.effective_from <= at]
    return max(in_force, key=lambda v: (v.effective_from, v.version), default=None)


def window_start(ladder: Ladder, at: datetime) -> datetime:
    """The first instant counted at `at` (rolling: exclusive, calendar: inclusive)."""
    if ladder.window_kind is WindowKind.CALENDAR_YEAR:
        return datetime(at.astimezone(UTC).year, 1, 1, tzinfo=UTC)
    return add_months(at, -ladder.window_months)


def _counts(ladder: Ladder, contribution: Contribution) -> int:
    if ladder.basis is Basis.POINTS:
        return contribution.points
    return contribution.spend_minor if contribution.currency == ladder.currency else 0


def qualifying_value(ladder: Ladder, contributions: Iterable[Contribution], at: datetime) -> int:
    """The sum of what counts in the window ending at `at` (never below 0)."""
    start = window_start(ladder, at)
    if ladder.window_kind is WindowKind.CALENDAR_YEAR:
        inside = (c for c in contributions if start <= c.occurred_at <= at)
    else:
        inside = (c for c in contributions if start < c.occurred_at <= at)
    return max(0, sum(_counts(ladder, c) for c in inside))


def hold_end(ladder: Ladder, at: datetime) -> datetime:
    """Until when a tier qualified for at `at` is held: the end of the period after `at`'s."""
    utc = at.astimezone(UTC)
    if ladder.window_kind is WindowKind.CALENDAR_YEAR:
        return datetime(utc.year + 2, 1, 1, tzinfo=UTC)
    month_start = datetime(utc.year, utc.month, 1, tzinfo=UTC)
    return add_months(month_start, ladder.window_months + 1)


def after_purchase(
    ladder: Ladder, status: Status, *, value: int, now: datetime
) -> tuple[Status, Change | None]:
    """Upgrade at once when `value` (window ending `now`) reaches a higher tier; requalifying extends."""
    current, reached = ladder.index_of(status.tier_id), ladder.reached(value)
    if reached == 0 or reached < current:
        return status, None
    held_until = hold_end(ladder, now)
    if reached == current:
        if status.held_until is not None and status.held_until >= held_until:
            return status, None
        return replace(status, held_until=held_until), None
    to = ladder.tiers[reached].tier_id
    change = Change(
        from_tier_id=status.tier_id,
        to_tier_id=to,
        reason=Reason.UPGRADE,
        effective_at=now,
        held_until=held_until,
        qualifying_value=value,
        previous_held_until=status.held_until,
    )
    return Status(to, held_until), change


def catch_up(
    versions: Sequence[LadderVersion],
    status: Status,
    contributions: Sequence[Contribution],
    *,
    now: datetime,
) -> tuple[Status, list[Change]]:
    """Run every review due by `now` (each at its hold's end, on the ladder in force then)."""
    changes: list[Change] = []
    for _ in range(CATCH_UP_STEPS_MAX):
        review_at = status.held_until
        if review_at is None or review_at > now:
            break
        version = ladder_as_of(versions, review_at)
        if version is None:
            break
        ladder, ended = version.ladder, review_at - _JUST_BEFORE
        value = qualifying_value(ladder, contributions, ended)
        current, reached = ladder.index_of(status.tier_id), ladder.reached(value)
        if reached >= current and current > 0:
            status = replace(status, held_until=hold_end(ladder, ended))
            continue
        held_until = hold_end(ladder, ended) if reached > 0 else None
        to = ladder.tiers[reached].tier_id
        changes.append(
            Change(
                from_tier_id=status.tier_id,
                to_tier_id=to,
                reason=Reason.REVIEW_DOWNGRADE,
                effective_at=review_at,
                held_until=held_until,
                qualifying_value=value,
                previous_held_until=status.held_until,
            )
        )
        status = Status(to, held_until)
    return status, changes


def after_refund(
    ladder: Ladder,
    status: Status,
    *,
    latest: Change | None,
    purchase_id: str,
    contributions: Sequence[Contribution],
    now: datetime,
) -> tuple[Status, Change | None]:
    """Undo the upgrade `purchase_id` caused, if it is the latest change and no longer holds."""
    if latest is None or latest.reason is not Reason.UPGRADE or latest.purchase_id != purchase_id:
        return status, None
    if status.tier_id != latest.to_tier_id:
        return status, None
    value = qualifying_value(ladder, contributions, latest.effective_at)
    upgraded, reached = ladder.index_of(latest.to_tier_id), ladder.reached(value)
    if reached >= upgraded:
        return status, None
    back = max(reached, ladder.index_of(latest.from_tier_id))
    if back == ladder.index_of(latest.from_tier_id):
        held_until = latest.previous_held_until
    else:
        held_until = hold_end(ladder, latest.effective_at)
    if back == 0:
        held_until = None
    to = ladder.tiers[back].tier_id
    change = Change(
        from_tier_id=status.tier_id,
        to_tier_id=to,
        reason=Reason.REFUND,
        effective_at=now,
        held_until=held_until,
        qualifying_value=value,
        previous_held_until=status.held_until,
        purchase_id=purchase_id,
    )
    return Status(to, held_until), change


def tier_at(history: Sequence[tuple[datetime, str]], at: datetime, *, base_tier_id: str) -> str:
    """The tier held at `at` from (effective_at, tier_id) changes in the order they were made."""
    held = base_tier_id
    for effective_at, tier_id in history:
        if effective_at <= at:
            held = tier_id
    return held


def progress(ladder: Ladder, status: Status, *, value: int, now: datetime) -> Progress:
    """Where the member stands: the tier held, the value so far and what the next tier still needs."""
    index = ladder.index_of(status.tier_id)
    tier = ladder.tiers[index]
    next_tier = ladder.tiers[index + 1] if index + 1 < len(ladder.tiers) else None
    remaining = 0 if next_tier is None else max(0, next_tier.threshold - value)
    return Progress(tier, value, window_start(ladder, now), next_tier, remaining)
