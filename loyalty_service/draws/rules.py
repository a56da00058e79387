"""What a draw is and the rules around entries, as pure values (no I/O): the spec, its JSON form, the
draw's state at a time, and how many entries each source grants.

The verifiable algorithm itself is `domain.py`; this module is the product around it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "ENTRIES_PER_CALL_MAX",
    "DirectSource",
    "DrawSpec",
    "DrawState",
    "Prize",
    "SourceType",
    "Sources",
    "SpendSource",
    "draw_state",
    "granted_entries",
    "spend_entries_due",
]

ENTRIES_PER_CALL_MAX = 10_000
"""Bound on the entries one call (a grant, a purchase, an EnterDraw) may create."""


class SourceType(enum.StrEnum):
    """Where an entry came from; stored in `draw_entries.source_type`."""

    DIRECT = "direct"
    PASSPORT = "passport"
    CHALLENGE = "challenge"
    GAME = "game"
    PURCHASE = "purchase"


class DrawState(enum.StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"
    """The window has closed (the list is frozen, or will be on the next look)."""
    DRAWN = "drawn"


@dataclass(frozen=True, slots=True, kw_only=True)
class Prize:
    prize_id: str
    name: str
    quantity: int
    reward_id: str | None = None
    """A voucher of this reward per winner; otherwise `points` per winner."""
    points: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectSource:
    enabled: bool = False
    cost_points: int = 0
    max_entries_per_member: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class SpendSource:
    channel: str
    """A Channel value, or "" for any channel."""
    currency: str
    spend_step_minor: int
    entries_per_step: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Sources:
    direct: DirectSource = DirectSource()
    entries_per_passport: int = 0
    entries_per_challenge: int = 0
    game_entries: bool = False
    spend: SpendSource | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawSpec:
    name: str
    description: str
    opens_at: datetime
    closes_at: datetime
    prizes: tuple[Prize, ...]
    sources: Sources
    beacon_source: str = ""

    def prize_list(self) -> list[tuple[str, int]]:
        """(prize_id, quantity) in prize order: the input of `domain.expand_slots`."""
        return [(p.prize_id, p.quantity) for p in self.prizes]

    def prize(self, prize_id: str) -> Prize:
        return next(p for p in self.prizes if p.prize_id == prize_id)

    def to_json(self) -> dict[str, object]:
        """The stored form (`draws.spec`); the window is also kept in columns for queries."""
        spend = self.sources.spend
        return {
            "name": self.name,
            "description": self.description,
            "prizes": [
                {
                    "prize_id": p.prize_id,
                    "name": p.name,
                    "quantity": p.quantity,
                    "reward_id": p.reward_id,
                    "points": p.points,
                }
                for p in self.prizes
            ],
            "direct": {
                "enabled": self.sources.direct.enabled,
                "cost_points": self.sources.direct.cost_points,
                "max_entries_per_member": self.sources.direct.max_entries_per_member,
            },
            "entries_per_passport": self.sources.entries_per_passport,
            "entries_per_challenge": self.sources.entries_per_challenge,
            "game_entries": self.sources.game_entries,
            "spend": None
            if spend is None
            else {
                "channel": spend.channel,
                "currency": spend.currency,
                "spend_step_minor": spend.spend_step_minor,
                "entries_per_step": spend.entries_per_step,
            },
            "beacon_source": self.beacon_source,
        }

    @classmethod
    def from_json(cls, value: dict[str, object], *, opens_at: datetime, closes_at: datetime) -> DrawSpec:
        data: dict[str, object] = value
        prizes = tuple(Prize(**p) for p in data["prizes"])  # type: ignore[attr-defined]
        spend = data.get("spend")
        sources = Sources(
            direct=DirectSource(**data["direct"]),  # type: ignore[arg-type]
            entries_per_passport=int(data["entries_per_passport"]),  # type: ignore[call-overload]
            entries_per_challenge=int(data["entries_per_challenge"]),  # type: ignore[call-overload]
            game_entries=bool(data["game_entries"]),
            spend=None if spend is None else SpendSource(**spend),  # type: ignore[arg-type]
        )
        return cls(
            name=str(data["name"]),
            description=str(data["description"]),
            opens_at=opens_at,
            closes_at=closes_at,
            prizes=prizes,
            sources=sources,
            beacon_source=str(data.get("beacon_source", "")),
        )


def draw_state(now: datetime, *, opens_at: datetime, closes_at: datetime, drawn: bool) -> DrawState:
    """The state at `now`; the window is [opens_at, closes_at)."""
    if drawn:
        return DrawState.DRAWN
    if now >= closes_at:
        return DrawState.CLOSED
    if now >= opens_at:
        return DrawState.OPEN
    return DrawState.SCHEDULED


def granted_entries(sources: Sources, source_type: SourceType, count: int) -> int:
    """Entries a grant of `count` completions (passport, challenge) or won entries (game) is worth;
    0 when the draw does not take that source."""
    assert count >= 0
    if source_type is SourceType.PASSPORT:
        return count * sources.entries_per_passport
    if source_type is SourceType.CHALLENGE:
        return count * sources.entries_per_challenge
    if source_type is SourceType.GAME:
        return count if sources.game_entries else 0
    raise ValueError(f"{source_type} entries are not granted through grant_entries")


def spend_entries_due(spend: SpendSource, *, spend_minor_total: int, entries_granted: int) -> int:
    """New entries for a member whose counted spend is now `spend_minor_total`: K per whole X spent in
    the window (cumulative over purchases), minus what earlier purchases already granted."""
    earned = (spend_minor_total // spend.spend_step_minor) * spend.entries_per_step
    return max(0, earned - entries_granted)
