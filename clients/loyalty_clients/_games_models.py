"""Games, passports and leaderboards as the clients take and return them (StrEnums and frozen dataclasses).

A prize grant or a stamp condition is one of several kinds: the dataclass has one optional field per kind
(exactly one set), as `RewardSpec` does for a reward's value. Conversions live in `_convert_games.py`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from loyalty_clients._models import Channel

__all__ = [
    "ChallengeCondition",
    "DrawEntriesRef",
    "Game",
    "GameCondition",
    "GameList",
    "GameOffer",
    "GamePrize",
    "GameSpec",
    "Leaderboard",
    "LeaderboardPeriod",
    "LeaderboardRow",
    "LeaderboardScope",
    "LeaderboardSettings",
    "Passport",
    "PassportCompletion",
    "PassportProgress",
    "PassportSpec",
    "Play",
    "PlayCostKind",
    "PlayResult",
    "PlayTokenRule",
    "PrizeGrant",
    "PrizeOdds",
    "PurchaseCondition",
    "StampCondition",
    "StampDefinition",
    "StampProgress",
    "StampRef",
    "VoucherCondition",
]


class PlayCostKind(enum.StrEnum):
    POINTS = "points"
    PLAY_TOKENS = "play_tokens"
    FREE = "free"


class LeaderboardScope(enum.StrEnum):
    GAME = "game"
    """Prizes won in one game (`subject_id` is the game id)."""
    PASSPORT = "passport"
    """Stamps collected in one passport (`subject_id` is the passport id)."""
    CHALLENGE = "challenge"
    """Accepted check-ins in one challenge (`subject_id` is the challenge id)."""


class LeaderboardPeriod(enum.StrEnum):
    WEEK = "week"
    MONTH = "month"
    ALL_TIME = "all_time"


@dataclass(frozen=True, slots=True, kw_only=True)
class StampRef:
    passport_id: str
    stamp_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawEntriesRef:
    draw_id: str
    entries: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PrizeGrant:
    """What a prize gives: exactly one of the fields, e.g. `PrizeGrant(points=50)`."""

    points: int | None = None
    reward_id: str | None = None
    """A voucher for this reward."""
    stamp: StampRef | None = None
    draw_entries: DrawEntriesRef | None = None
    play_tokens: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GamePrize:
    prize_id: str
    name: str
    weight: int
    """Relative chance against the other prizes and `GameSpec.no_prize_weight`."""
    grant: PrizeGrant
    stock: int | None = None
    """Units in all; None: unlimited."""
    daily_cap: int | None = None
    """Units a programme day at most; None: no cap."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GameSpec:
    """An instant-win game as marketing defines it.

    >>> GameSpec(name="Wheel", opens_at=now, cost_kind=PlayCostKind.FREE,
    ...          prizes=(GamePrize(prize_id="p5", name="5 points", weight=1, grant=PrizeGrant(points=5)),))
    """

    name: str
    opens_at: datetime
    cost_kind: PlayCostKind
    prizes: tuple[GamePrize, ...]
    description: str = ""
    closes_at: datetime | None = None
    cost_amount: int = 0
    """Points or play tokens a play costs (0 with `PlayCostKind.FREE`)."""
    plays_per_day: int | None = None
    plays_total: int | None = None
    no_prize_weight: int = 0
    timezone: str = ""
    """IANA zone of the programme days that daily limits count ("" = the service's)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PrizeOdds:
    prize_id: str
    name: str
    parts_per_million: int
    """The chance of this prize on the next play."""
    available: bool
    stock_remaining: int | None
    """None: unlimited."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Game:
    game_id: str
    spec: GameSpec
    odds: tuple[PrizeOdds, ...]
    no_prize_parts_per_million: int
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GameOffer:
    """An open game and whether the member may play it now."""

    game: Game
    can_play: bool
    refusal: str
    """Why not (UPPER_SNAKE, e.g. "DAILY_LIMIT_REACHED"); "" when `can_play`."""
    plays_left: int | None
    """None: no limit."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GameList:
    games: tuple[GameOffer, ...]
    play_tokens: int
    """The member's play tokens."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Play:
    play_id: str
    game_id: str
    member_id: str
    played_at: datetime | None
    won: bool
    prize_id: str
    prize_name: str
    grant: PrizeGrant | None
    """What the prize gave; None without a prize."""
    draw: int
    """The random draw in [0, total_weight): replay it with the game's table."""
    total_weight: int
    cost_kind: PlayCostKind | None
    cost_amount: int
    voucher_id: str
    draw_entry_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayResult:
    play: Play
    points_available: int
    play_tokens: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaderboardRow:
    rank: int
    display_name: str
    score: int
    is_me: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Leaderboard:
    top: tuple[LeaderboardRow, ...]
    me: LeaderboardRow | None
    """The member's own row (member token or a channel naming a member), also outside the top."""
    period_key: str
    """The period shown, e.g. "2026-W48", "2026-11" or "all"."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaderboardSettings:
    display_name: str
    opted_out: bool
    pseudonym: str
    """The name shown when `display_name` is empty (made by the service)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayTokenRule:
    """Play tokens a purchase earns: `tokens` per purchase of at least `min_amount_minor` in `channels`."""

    name: str
    tokens: int
    currency: str
    channels: tuple[Channel, ...] = ()
    """Empty: any channel."""
    min_amount_minor: int = 0
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    rule_id: str = ""
    """Set by the service."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PurchaseCondition:
    channels: tuple[Channel, ...] = ()
    store_ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    min_amount_minor: int = 0
    currency: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GameCondition:
    game_id: str
    won_only: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ChallengeCondition:
    challenge_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VoucherCondition:
    """A voucher of this reward used (in any channel)."""

    reward_id: str


StampCondition = PurchaseCondition | GameCondition | ChallengeCondition | VoucherCondition


@dataclass(frozen=True, slots=True, kw_only=True)
class StampDefinition:
    stamp_id: str
    name: str
    condition: StampCondition | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PassportCompletion:
    """What completing the passport grants (any of them)."""

    points: int = 0
    reward_id: str = ""
    draw_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PassportSpec:
    """A passport as marketing defines it.

    >>> PassportSpec(name="Tour", opens_at=now, completion=PassportCompletion(points=100),
    ...              stamps=(StampDefinition(stamp_id="paris", name="Paris",
    ...                                      condition=PurchaseCondition(store_ids=("paris-01",))),))
    """

    name: str
    opens_at: datetime
    stamps: tuple[StampDefinition, ...]
    completion: PassportCompletion
    description: str = ""
    closes_at: datetime | None = None
    repeatable: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Passport:
    passport_id: str
    spec: PassportSpec
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StampProgress:
    stamp_id: str
    name: str
    earned: bool
    earned_at: datetime | None
    channel: Channel | None
    """Where the stamp was earned (None while not earned)."""
    store_id: str
    source_type: str
    source_ref: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PassportProgress:
    passport: Passport
    cycle: int
    """The current round of a repeatable passport (1 for the first)."""
    stamps: tuple[StampProgress, ...]
    completions: int
