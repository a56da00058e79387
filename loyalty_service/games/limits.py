"""Who may play now: game windows, per-member play limits, play costs, programme days, published odds.

Daily limits and daily prize caps count plays per *programme day*: the calendar day in the programme's
timezone, not in UTC, because members in Paris expect "3 plays a day" to reset at their midnight.
`day_of` names the day of an instant; `day_bounds` gives the UTC half-open range the store counts in.
Days are 23 or 25 hours long across a DST change, which is why they are computed and never assumed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import TypeVar
from zoneinfo import ZoneInfo

__all__ = [
    "GameWindow",
    "PlayCost",
    "PlayCostKind",
    "PlayLimits",
    "PlayRefusal",
    "check_cost",
    "check_play",
    "day_bounds",
    "day_of",
    "next_day_start",
    "publish_odds",
    "remaining_plays",
]

K = TypeVar("K")


class PlayRefusal(enum.StrEnum):
    """Why a play is refused; the app shows these codes."""

    GAME_NOT_OPEN = "GAME_NOT_OPEN"
    GAME_ENDED = "GAME_ENDED"
    TOTAL_LIMIT_REACHED = "TOTAL_LIMIT_REACHED"
    DAILY_LIMIT_REACHED = "DAILY_LIMIT_REACHED"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    INSUFFICIENT_PLAY_TOKENS = "INSUFFICIENT_PLAY_TOKENS"


class PlayCostKind(enum.StrEnum):
    POINTS = "points"
    PLAY_TOKENS = "play_tokens"
    FREE = "free"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayCost:
    """What one play debits: `amount` points or play tokens, or nothing."""

    kind: PlayCostKind
    amount: int
    """> 0 for points and play tokens; 0 for a free game."""

    def __post_init__(self) -> None:
        if self.kind is PlayCostKind.FREE and self.amount != 0:
            raise ValueError("a free play costs 0")
        if self.kind is not PlayCostKind.FREE and self.amount <= 0:
            raise ValueError(f"a play paid in {self.kind} costs at least 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayLimits:
    """Per-member limits of one game; None means unlimited."""

    plays_per_day: int | None
    """Plays per programme day (see `day_of`)."""
    plays_total: int | None
    """Plays over the whole life of the game."""

    def __post_init__(self) -> None:
        for name, value in (("plays_per_day", self.plays_per_day), ("plays_total", self.plays_total)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None")


@dataclass(frozen=True, slots=True, kw_only=True)
class GameWindow:
    """When a game can be played: the half-open range [opens_at, closes_at), aware datetimes."""

    opens_at: datetime
    closes_at: datetime | None
    """None for a game without an end."""

    def __post_init__(self) -> None:
        _require_aware(self.opens_at, "opens_at")
        if self.closes_at is not None:
            _require_aware(self.closes_at, "closes_at")
            if self.closes_at <= self.opens_at:
                raise ValueError("closes_at must be after opens_at")


def check_play(
    limits: PlayLimits, plays_today: int, plays_total: int, now: datetime, window: GameWindow
) -> PlayRefusal | None:
    """None when the member may play now, else the first reason in this order.

    Window first (nobody may play a closed game), then the total limit before the daily one: when
    both are reached, "no plays left at all" is the true answer, "come back tomorrow" would mislead.
    `plays_today` counts the member's plays in the programme day of `now`.
    """
    _require_aware(now, "now")
    if plays_today < 0 or plays_total < 0:
        raise ValueError("play counts must be >= 0")
    if now < window.opens_at:
        return PlayRefusal.GAME_NOT_OPEN
    if window.closes_at is not None and now >= window.closes_at:
        return PlayRefusal.GAME_ENDED
    if limits.plays_total is not None and plays_total >= limits.plays_total:
        return PlayRefusal.TOTAL_LIMIT_REACHED
    if limits.plays_per_day is not None and plays_today >= limits.plays_per_day:
        return PlayRefusal.DAILY_LIMIT_REACHED
    return None


def check_cost(cost: PlayCost, *, points_balance: int, play_tokens_balance: int) -> PlayRefusal | None:
    """None when the member can pay for one play; lets ListGames say what may still be played.

    The ledger enforces the balance again when debiting; this is the friendly early answer.
    """
    if cost.kind is PlayCostKind.POINTS and points_balance < cost.amount:
        return PlayRefusal.INSUFFICIENT_POINTS
    if cost.kind is PlayCostKind.PLAY_TOKENS and play_tokens_balance < cost.amount:
        return PlayRefusal.INSUFFICIENT_PLAY_TOKENS
    return None


def remaining_plays(limits: PlayLimits, plays_today: int, plays_total: int) -> int | None:
    """Plays the member has left today under the limits (None: unlimited), for ListGames."""
    left: list[int] = []
    if limits.plays_per_day is not None:
        left.append(max(0, limits.plays_per_day - plays_today))
    if limits.plays_total is not None:
        left.append(max(0, limits.plays_total - plays_total))
    return min(left) if left else None


def day_of(now: datetime, tz: ZoneInfo) -> date:
    """The programme day of an instant: its calendar date in the programme's timezone."""
    _require_aware(now, "now")
    return now.astimezone(tz).date()


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC half-open range [start, end) of a programme day, for counting plays in the store.

    Local midnight is converted with fold=0; where a DST gap swallows midnight, that maps to the
    instant the day actually begins. Consecutive days share their boundary, so no play is counted
    twice or lost.
    """
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def next_day_start(now: datetime, tz: ZoneInfo) -> datetime:
    """When daily limits reset after `now` (UTC): the start of the next programme day."""
    return day_bounds(day_of(now, tz), tz)[1]


def publish_odds(probabilities: Mapping[K, Fraction], *, scale: int = 1_000_000) -> dict[K, int]:
    """Probabilities as integers out of `scale` (parts per million by default) that sum to `scale`.

    Largest-remainder rounding: each outcome gets its floor, the leftover units go to the largest
    remainders (ties in mapping order), so the published figures add up and each is within one unit
    of the exact value. Exact values stay available from `prizes.odds`.
    """
    if scale <= 0:
        raise ValueError("scale must be > 0")
    if sum(probabilities.values(), Fraction(0)) != 1:
        raise ValueError("probabilities must sum to 1")
    floors: dict[K, int] = {}
    remainders: list[tuple[Fraction, int, K]] = []
    for index, (outcome, probability) in enumerate(probabilities.items()):
        if probability < 0:
            raise ValueError("probabilities must be >= 0")
        scaled = probability * scale
        floors[outcome] = scaled.numerator // scaled.denominator
        remainders.append((scaled - floors[outcome], -index, outcome))
    leftover = scale - sum(floors.values())
    remainders.sort(key=lambda item: (item[0], item[1]), reverse=True)
    for _, _, outcome in remainders[:leftover]:
        floors[outcome] += 1
    return floors


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
