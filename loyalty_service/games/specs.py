"""Game specs: validation of the back office's GameSpec, its JSON form in `games.spec`, and the domain
objects (prizes.Prize, limits.PlayCost/PlayLimits/GameWindow) the play is decided with."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf import json_format
from loyalty.v1 import games_pb2

from loyalty_service.games.limits import GameWindow, PlayCost, PlayCostKind, PlayLimits
from loyalty_service.games.prizes import (
    DrawEntriesGrant,
    Grant,
    PlayTokensGrant,
    PointsGrant,
    Prize,
    RewardGrant,
    StampGrant,
)
from loyalty_service.validation import Checks

__all__ = [
    "COST_KINDS",
    "GameRules",
    "grant_of",
    "read_spec",
    "rules_of",
    "spec_from_json",
    "spec_json",
    "window_bounds",
]

_PRIZE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PRIZES_MAX = 50
_WEIGHT_MAX = 10**12
COST_KINDS = {
    games_pb2.PLAY_COST_KIND_POINTS: PlayCostKind.POINTS,
    games_pb2.PLAY_COST_KIND_PLAY_TOKENS: PlayCostKind.PLAY_TOKENS,
    games_pb2.PLAY_COST_KIND_FREE: PlayCostKind.FREE,
}


def spec_json(spec: games_pb2.GameSpec) -> dict[str, Any]:
    return json_format.MessageToDict(spec, preserving_proto_field_name=True)


def spec_from_json(value: dict[str, Any]) -> games_pb2.GameSpec:
    return json_format.ParseDict(value, games_pb2.GameSpec())


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _check_grant(checks: Checks, field: str, grant: games_pb2.PrizeGrant) -> None:
    kind = grant.WhichOneof("grant")
    if kind is None:
        checks.fail(field, "required: points, reward_id, stamp, draw_entries or play_tokens")
    elif kind == "points" and not 0 < grant.points <= 10**9:
        checks.fail(f"{field}.points", "must be between 1 and 1000000000")
    elif kind == "play_tokens" and not 0 < grant.play_tokens <= 1000:
        checks.fail(f"{field}.play_tokens", "must be between 1 and 1000")
    elif kind == "reward_id":
        checks.entity_id(f"{field}.reward_id", grant.reward_id, "rwd")
    elif kind == "stamp":
        checks.entity_id(f"{field}.stamp.passport_id", grant.stamp.passport_id, "psp")
        checks.code(f"{field}.stamp.stamp_id", grant.stamp.stamp_id)
    elif kind == "draw_entries":
        checks.entity_id(f"{field}.draw_entries.draw_id", grant.draw_entries.draw_id, "drw")
        checks.count(f"{field}.draw_entries.entries", grant.draw_entries.entries, minimum=1, maximum=100)


def read_spec(checks: Checks, spec: games_pb2.GameSpec, *, present: bool) -> games_pb2.GameSpec:
    """Collect the spec's violations in `checks`; returns the spec (meaningful once checks.done())."""
    if not present:
        checks.fail("spec", "required")
        return spec
    checks.text("spec.name", spec.name)
    checks.text("spec.description", spec.description, required=False, max_length=2000)
    checks.window(spec, "opens_at", "closes_at", prefix="spec.", start_required=True)
    kind = checks.enum("spec.cost_kind", spec.cost_kind, COST_KINDS)
    if kind is PlayCostKind.FREE and spec.cost_amount != 0:
        checks.fail("spec.cost_amount", "must be 0 for a free game")
    elif kind is not None and kind is not PlayCostKind.FREE and not 0 < spec.cost_amount <= 10**9:
        checks.fail("spec.cost_amount", "must be between 1 and 1000000000")
    for name in ("plays_per_day", "plays_total"):
        if spec.HasField(name) and getattr(spec, name) < 1:
            checks.fail(f"spec.{name}", "must be >= 1 when set")
    if not 0 <= spec.no_prize_weight <= _WEIGHT_MAX:
        checks.fail("spec.no_prize_weight", f"must be between 0 and {_WEIGHT_MAX}")
    if _zone(spec.timezone) is None:
        checks.fail("spec.timezone", "not a known IANA zone")
    if len(spec.prizes) > _PRIZES_MAX:
        checks.fail("spec.prizes", f"at most {_PRIZES_MAX}")
    if not spec.prizes and spec.no_prize_weight == 0:
        checks.fail("spec.prizes", "a game needs a prize or a no-prize weight")
    seen: set[str] = set()
    for index, prize in enumerate(spec.prizes[:_PRIZES_MAX]):
        field = f"spec.prizes[{index}]"
        if not _PRIZE_ID.match(prize.prize_id) or prize.prize_id in seen:
            checks.fail(f"{field}.prize_id", "1-64 of A-Z a-z 0-9 _ -, unique in the game")
        seen.add(prize.prize_id)
        checks.text(f"{field}.name", prize.name)
        if not 0 < prize.weight <= _WEIGHT_MAX:
            checks.fail(f"{field}.weight", f"must be between 1 and {_WEIGHT_MAX}")
        if prize.HasField("stock") and prize.stock < 0:
            checks.fail(f"{field}.stock", "must be >= 0")
        if prize.HasField("daily_cap") and prize.daily_cap < 0:
            checks.fail(f"{field}.daily_cap", "must be >= 0")
        _check_grant(checks, f"{field}.grant", prize.grant)
    return spec


def grant_of(grant: games_pb2.PrizeGrant) -> Grant:
    kind = grant.WhichOneof("grant")
    if kind == "points":
        return PointsGrant(points=grant.points)
    if kind == "reward_id":
        return RewardGrant(reward_id=grant.reward_id)
    if kind == "stamp":
        return StampGrant(passport_id=grant.stamp.passport_id, stamp_id=grant.stamp.stamp_id)
    if kind == "draw_entries":
        return DrawEntriesGrant(draw_id=grant.draw_entries.draw_id, entries=grant.draw_entries.entries)
    assert kind == "play_tokens", kind
    return PlayTokensGrant(tokens=grant.play_tokens)


class GameRules:
    """A stored game's rules as domain values."""

    def __init__(self, spec: games_pb2.GameSpec) -> None:
        self.spec = spec
        zone = _zone(spec.timezone)
        assert zone is not None, "validated at creation"
        self.zone = zone
        opens_at, closes_at = window_bounds(spec)
        self.window = GameWindow(opens_at=opens_at, closes_at=closes_at)
        self.cost = PlayCost(kind=COST_KINDS[spec.cost_kind], amount=spec.cost_amount)
        self.limits = PlayLimits(
            plays_per_day=spec.plays_per_day if spec.HasField("plays_per_day") else None,
            plays_total=spec.plays_total if spec.HasField("plays_total") else None,
        )

    def limited(self) -> list[str]:
        """Prize ids whose stock or daily cap a play must lock."""
        return [p.prize_id for p in self.spec.prizes if p.HasField("stock") or p.HasField("daily_cap")]

    def prizes(self, stock: dict[str, int | None], won_today: dict[str, int]) -> list[Prize]:
        return [
            Prize(
                prize_id=p.prize_id,
                weight=p.weight,
                stock_remaining=stock.get(p.prize_id),
                daily_cap=p.daily_cap if p.HasField("daily_cap") else None,
                won_today=won_today.get(p.prize_id, 0),
                grant=grant_of(p.grant),
            )
            for p in self.spec.prizes
        ]


def rules_of(spec: dict[str, Any]) -> GameRules:
    return GameRules(spec_from_json(spec))


def window_bounds(spec: games_pb2.GameSpec) -> tuple[datetime, datetime | None]:
    closes = spec.closes_at.ToDatetime(tzinfo=UTC) if spec.HasField("closes_at") else None
    return spec.opens_at.ToDatetime(tzinfo=UTC), closes
