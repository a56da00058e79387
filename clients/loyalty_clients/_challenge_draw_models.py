"""Geolocation challenges and prize draws as the clients take and return them (frozen dataclasses).

Conversions live in `_convert_challenges.py` and `_convert_draws.py`; a draw result converts back to the
export JSON in `_ops_draws.py`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from loyalty_clients._models import Channel

__all__ = [
    "Challenge",
    "ChallengeCompletion",
    "ChallengeGrant",
    "ChallengeProgress",
    "ChallengeSpec",
    "ChallengeStanding",
    "CheckInResult",
    "DirectEntrySource",
    "Draw",
    "DrawDetails",
    "DrawEntry",
    "DrawEntrySources",
    "DrawPrize",
    "DrawResult",
    "DrawResultReport",
    "DrawSlot",
    "DrawSpec",
    "DrawStatus",
    "DrawWinner",
    "EnteredDraw",
    "MemberDrawOutcome",
    "NearbyChallenge",
    "NearbyPlace",
    "OpeningHours",
    "Place",
    "PlacePage",
    "PlaceSpec",
    "SpendEntrySource",
]


# --- challenges -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OpeningHours:
    day_of_week: int
    """1 = Monday … 7 = Sunday."""
    opens_minute: int
    """Minutes after local midnight, [0, 1440)."""
    closes_minute: int
    """Minutes after local midnight of `day_of_week`; may pass midnight (e.g. 1560)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceSpec:
    """A place to check in at: `PlaceSpec(name="Fountain", latitude=48.86, longitude=2.34, radius_m=200)`."""

    name: str
    latitude: float
    longitude: float
    radius_m: int
    store_id: str = ""
    time_zone: str = ""
    opening_hours: tuple[OpeningHours, ...] = ()
    """Empty: always open."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Place:
    place_id: str
    spec: PlaceSpec
    created_at: datetime | None
    updated_at: datetime | None
    archived_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlacePage:
    places: tuple[Place, ...]
    next_page_token: str
    """"" on the last page."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChallengeGrant:
    """What completing a challenge grants (any of them)."""

    points: int = 0
    reward_id: str = ""
    stamp: bool = False
    """A stamp in every passport whose stamp condition names this challenge."""
    draw_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChallengeSpec:
    name: str
    opens_at: datetime
    place_ids: tuple[str, ...]
    goal_places: int
    """Distinct places to visit in one period."""
    grant: ChallengeGrant
    description: str = ""
    closes_at: datetime | None = None
    requires_purchase: bool = False
    repeat_period_days: int = 0
    """0: once; N: again every N days."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    challenge_id: str
    spec: ChallengeSpec
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChallengeProgress:
    challenge_id: str
    period: int
    period_starts_at: datetime | None
    period_ends_at: datetime | None
    visited_place_ids: tuple[str, ...]
    goal_places: int
    completed_at: datetime | None
    """None while not completed in this period."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChallengeCompletion:
    challenge_id: str
    period: int
    completed_at: datetime | None
    points: int
    ledger_entry_id: str
    voucher_id: str
    draw_entry_ids: tuple[str, ...]
    stamp: bool
    skipped: tuple[str, ...]
    """Grants that could not be made, e.g. "voucher: OUT_OF_STOCK"."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NearbyPlace:
    place_id: str
    name: str
    latitude: float
    longitude: float
    radius_m: int
    distance_m: int
    visited: bool
    open_now: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class NearbyChallenge:
    challenge: Challenge
    places: tuple[NearbyPlace, ...]
    """Nearest first."""
    progress: ChallengeProgress | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckInResult:
    checkin_id: str
    distance_band: str
    """Coarse distance to the place, e.g. "0-25m" (never the exact position)."""
    accuracy_band: str
    progress: ChallengeProgress | None
    completion: ChallengeCompletion | None
    """Set when this check-in completed the challenge."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChallengeStanding:
    """A challenge and the member's progress in its current period."""

    challenge: Challenge | None
    progress: ChallengeProgress | None


# --- draws ------------------------------------------------------------------------------------------


class DrawStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"
    DRAWN = "drawn"


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawPrize:
    """`quantity` winners of points or of a reward's voucher (exactly one of `points`, `reward_id`)."""

    prize_id: str
    name: str
    quantity: int
    points: int | None = None
    reward_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectEntrySource:
    enabled: bool = True
    cost_points: int = 0
    max_entries_per_member: int = 0
    """0: no maximum."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SpendEntrySource:
    """`entries_per_step` entries per `spend_step_minor` spent in `channel` (UNSPECIFIED: any)."""

    channel: Channel
    currency: str
    spend_step_minor: int
    entries_per_step: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawEntrySources:
    direct: DirectEntrySource | None = None
    entries_per_passport: int = 0
    entries_per_challenge: int = 0
    game_entries: bool = False
    spend: SpendEntrySource | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawSpec:
    """A prize draw as marketing defines it.

    >>> DrawSpec(name="Summer", opens_at=start, closes_at=end,
    ...          prizes=(DrawPrize(prize_id="p", name="100 points", quantity=1, points=100),),
    ...          sources=DrawEntrySources(direct=DirectEntrySource()))
    """

    name: str
    opens_at: datetime
    closes_at: datetime
    prizes: tuple[DrawPrize, ...]
    sources: DrawEntrySources
    description: str = ""
    beacon_source: str = ""
    """Where the public beacon given to `run_draw` comes from (shown to members)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Draw:
    draw_id: str
    spec: DrawSpec
    status: DrawStatus | None
    commitment: str
    """SHA-256 of the secret seed, published at creation (64 hex digits)."""
    entry_count: int
    entries_digest: str
    """Set once the window closed and the entries are frozen."""
    frozen_at: datetime | None
    drawn_at: datetime | None
    created_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawDetails:
    draw: Draw
    my_entry_count: int
    """The member's entries (member token); 0 for other credentials."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EnteredDraw:
    entry_ids: tuple[str, ...]
    points_spent: int
    direct_entries: int
    """The member's direct entries in this draw after this call."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawEntry:
    position: int
    entry_id: str
    member_ref: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawSlot:
    slot: int
    prize_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawWinner:
    slot: int
    prize_id: str
    entry_id: str
    member_ref: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawResult:
    draw_id: str
    commitment: str
    seed: str
    """The revealed seed: its SHA-256 is `commitment`."""
    beacon: str | None
    entries: tuple[DrawEntry, ...]
    """Only when asked for (`include_entries=True`)."""
    entries_digest: str
    slots: tuple[DrawSlot, ...]
    winners: tuple[DrawWinner, ...]
    entry_count: int
    drawn_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberDrawOutcome:
    member_ref: str
    entry_count: int
    won: bool
    wins: tuple[DrawWinner, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawResultReport:
    result: DrawResult
    my_outcome: MemberDrawOutcome | None
    """The member's own outcome (member token only)."""
