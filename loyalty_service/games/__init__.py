"""Instant-win games: the pure rules of prize selection and play limits.

The service layer (later) loads a game's prizes and counters, calls these functions inside one
transaction, and stores the play with its draw.
"""

from __future__ import annotations

from loyalty_service.games.limits import (
    GameWindow,
    PlayCost,
    PlayCostKind,
    PlayLimits,
    PlayRefusal,
    check_cost,
    check_play,
    day_bounds,
    day_of,
    next_day_start,
    publish_odds,
    remaining_plays,
)
from loyalty_service.games.prizes import (
    NO_PRIZE,
    Choice,
    DrawEntriesGrant,
    Grant,
    NoPrize,
    Outcome,
    PlayTokensGrant,
    PointsGrant,
    Prize,
    PrizeTable,
    RewardGrant,
    StampGrant,
    after_win,
    choose,
    effective_table,
    is_available,
    odds,
    outcome_for_draw,
    stock_after_update,
)

__all__ = [
    "NO_PRIZE",
    "Choice",
    "DrawEntriesGrant",
    "GameWindow",
    "Grant",
    "NoPrize",
    "Outcome",
    "PlayCost",
    "PlayCostKind",
    "PlayLimits",
    "PlayRefusal",
    "PlayTokensGrant",
    "PointsGrant",
    "Prize",
    "PrizeTable",
    "RewardGrant",
    "StampGrant",
    "after_win",
    "check_cost",
    "check_play",
    "choose",
    "day_bounds",
    "day_of",
    "effective_table",
    "is_available",
    "next_day_start",
    "odds",
    "outcome_for_draw",
    "publish_odds",
    "remaining_plays",
    "stock_after_update",
]
