"""Prize tables of instant-win games: what may be won, with which odds, and the draw itself.

A game's prize table is a list of weighted prizes plus the weight of "no prize". Before each play the
table is reduced to what can actually be handed out (`effective_table`): a prize out of stock or at its
daily cap is removed and its weight is added to "no prize", so the total weight never changes and the
odds published by ListGames (`odds`) are exactly the odds of the next play.

`choose` takes the random source as an argument (`secrets.randbelow` in production, a seeded
`random.Random(seed).randrange` in tests) and returns the integer it drew, so every play can be stored
with its draw and replayed for an audit with `outcome_for_draw`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Literal, TypeAlias

__all__ = [
    "NO_PRIZE",
    "Choice",
    "DrawEntriesGrant",
    "Grant",
    "NoPrize",
    "Outcome",
    "PlayTokensGrant",
    "PointsGrant",
    "Prize",
    "PrizeTable",
    "RewardGrant",
    "StampGrant",
    "after_win",
    "choose",
    "effective_table",
    "is_available",
    "odds",
    "outcome_for_draw",
    "stock_after_update",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PointsGrant:
    """Credit `points` to the member's points balance."""

    points: int

    def __post_init__(self) -> None:
        if self.points <= 0:
            raise ValueError("a points grant is at least 1 point")


@dataclass(frozen=True, slots=True, kw_only=True)
class RewardGrant:
    """Issue a voucher for the reward `reward_id` (the rewards feature issues it)."""

    reward_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StampGrant:
    """Stamp `stamp_id` of passport `passport_id`."""

    passport_id: str
    stamp_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawEntriesGrant:
    """`entries` entries in prize draw `draw_id` (pending until the draws feature records them)."""

    draw_id: str
    entries: int

    def __post_init__(self) -> None:
        if self.entries <= 0:
            raise ValueError("a draw entries grant is at least 1 entry")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayTokensGrant:
    """Credit `tokens` play tokens to the member's second ledger balance."""

    tokens: int

    def __post_init__(self) -> None:
        if self.tokens <= 0:
            raise ValueError("a play tokens grant is at least 1 token")


Grant: TypeAlias = PointsGrant | RewardGrant | StampGrant | DrawEntriesGrant | PlayTokensGrant


@dataclass(frozen=True, slots=True, kw_only=True)
class Prize:
    """One line of a prize table, with the counters that decide whether it can still be won."""

    prize_id: str
    weight: int
    """Relative chance, > 0; probability is weight / total weight of the table (no prize included)."""
    stock_remaining: int | None
    """Units left in total; None for unlimited."""
    daily_cap: int | None
    """At most this many wins per programme day (see `limits.day_of`); None for no cap."""
    won_today: int
    """Wins of this prize so far in the current programme day."""
    grant: Grant

    def __post_init__(self) -> None:
        if self.weight <= 0:
            raise ValueError(f"prize {self.prize_id}: weight must be > 0")
        if self.stock_remaining is not None and self.stock_remaining < 0:
            raise ValueError(f"prize {self.prize_id}: stock_remaining must be >= 0")
        if self.daily_cap is not None and self.daily_cap < 0:
            raise ValueError(f"prize {self.prize_id}: daily_cap must be >= 0")
        if self.won_today < 0:
            raise ValueError(f"prize {self.prize_id}: won_today must be >= 0")


class NoPrize(enum.Enum):
    """The "no prize" outcome; an enum member so it is a typed singleton."""

    NO_PRIZE = "no_prize"


NO_PRIZE: Literal[NoPrize.NO_PRIZE] = NoPrize.NO_PRIZE

Outcome: TypeAlias = Prize | Literal[NoPrize.NO_PRIZE]
PrizeTable: TypeAlias = tuple[tuple[Outcome, int], ...]
"""(outcome, weight) pairs, every weight > 0; the order fixes which draws map to which outcome."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """The result of a play: stored whole so the play can be audited and replayed."""

    outcome: Outcome
    draw: int
    """The integer drawn, 0 <= draw < total_weight."""
    total_weight: int


def is_available(prize: Prize) -> bool:
    """Whether the prize can be handed out now: stock left and daily cap not reached."""
    in_stock = prize.stock_remaining is None or prize.stock_remaining > 0
    under_cap = prize.daily_cap is None or prize.won_today < prize.daily_cap
    return in_stock and under_cap


def effective_table(prizes: Iterable[Prize], no_prize_weight: int) -> PrizeTable:
    """The table for the next play: available prizes in the given order, then "no prize".

    Weights of unavailable prizes move to "no prize" instead of vanishing; otherwise the remaining
    prizes would silently become likelier than published. "No prize" is left out only when its
    weight is 0, so every entry can be drawn.
    """
    if no_prize_weight < 0:
        raise ValueError("no_prize_weight must be >= 0")
    table: list[tuple[Outcome, int]] = []
    seen: set[str] = set()
    moved_weight = 0
    for prize in prizes:
        if prize.prize_id in seen:
            raise ValueError(f"prize {prize.prize_id} appears twice")
        seen.add(prize.prize_id)
        if is_available(prize):
            table.append((prize, prize.weight))
        else:
            moved_weight += prize.weight
    nothing_weight = no_prize_weight + moved_weight
    if nothing_weight > 0:
        table.append((NO_PRIZE, nothing_weight))
    if not table:
        raise ValueError("a prize table needs at least one prize or a no-prize weight")
    return tuple(table)


def odds(table: PrizeTable) -> dict[Outcome, Fraction]:
    """Exact probability of each outcome of the next play; they sum to exactly 1."""
    total = _total_weight(table)
    return {outcome: Fraction(weight, total) for outcome, weight in table}


def choose(table: PrizeTable, random_below: Callable[[int], int]) -> Choice:
    """Draw one outcome: `random_below(n)` must return a uniform integer in [0, n).

    The server passes `secrets.randbelow`; the client never influences the draw.
    """
    total = _total_weight(table)
    draw = random_below(total)
    if not 0 <= draw < total:
        raise ValueError(f"random source returned {draw}, outside [0, {total})")
    return Choice(outcome=outcome_for_draw(table, draw), draw=draw, total_weight=total)


def outcome_for_draw(table: PrizeTable, draw: int) -> Outcome:
    """The outcome a draw selects: entries own consecutive ranges of draws, in table order.

    Public so an auditor can replay a stored play from its table and draw.
    """
    total = _total_weight(table)
    if not 0 <= draw < total:
        raise ValueError(f"draw {draw} outside [0, {total})")
    upper = 0
    for outcome, weight in table:  # bounded by the table's length
        upper += weight
        if draw < upper:
            return outcome
    raise AssertionError("unreachable: draw < total weight")


def after_win(prize: Prize) -> Prize:
    """The prize's counters once it has been won: one unit of stock less, one more win today."""
    if not is_available(prize):
        raise ValueError(f"prize {prize.prize_id} is not available")
    stock = None if prize.stock_remaining is None else prize.stock_remaining - 1
    return replace(prize, stock_remaining=stock, won_today=prize.won_today + 1)


def stock_after_update(total: int | None, won_so_far: int) -> int | None:
    """A kept prize's stock left once a game update sets its total: what it has given counts (never < 0).

    `total` None is unlimited. An added prize has won nothing, so it starts with its whole total.
    """
    if won_so_far < 0 or (total is not None and total < 0):
        raise ValueError("total and wins are >= 0")
    return None if total is None else max(0, total - won_so_far)


def _total_weight(table: PrizeTable) -> int:
    if not table:
        raise ValueError("empty prize table")
    total = 0
    for _, weight in table:
        if weight <= 0:
            raise ValueError("every weight in a prize table must be > 0")
        total += weight
    return total
