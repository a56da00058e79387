"""Stamp conditions, pure: which event facts earn which stamp.

The processor turns an outbox event into `Facts` (one kind: purchase, game, challenge, voucher) and asks
`matching_stamps` which stamps of an open passport it earns. Empty lists in a condition mean "any".
A purchase condition with categories counts only the amount of lines in those categories.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Facts", "StampRule", "line_category_amounts", "matches", "matching_stamps", "stamp_rule"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    kind: str
    """"purchase", "game", "challenge" or "voucher"."""
    channel: str = ""
    store_id: str = ""
    amount_minor: int = 0
    currency: str = ""
    category_amounts: Mapping[str, int] = field(default_factory=dict)
    game_id: str = ""
    won: bool = False
    challenge_id: str = ""
    reward_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StampRule:
    stamp_id: str
    kind: str
    channels: frozenset[str] = frozenset()
    store_ids: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    min_amount_minor: int = 0
    currency: str = ""
    game_id: str = ""
    won_only: bool = False
    challenge_id: str = ""
    reward_id: str = ""


_KINDS = {"purchase": "purchase", "game": "game", "challenge": "challenge", "voucher_used": "voucher"}
_CHANNELS = {"CHANNEL_POS": "pos", "CHANNEL_WEBSHOP": "webshop", "CHANNEL_APP": "app"}


def stamp_rule(stamp: Mapping[str, Any]) -> StampRule:
    """A StampDefinition in its stored JSON form (protobuf field names) as a rule."""
    for key, kind in _KINDS.items():
        if key in stamp:
            c = stamp[key]
            return StampRule(
                stamp_id=str(stamp["stamp_id"]),
                kind=kind,
                channels=frozenset(_CHANNELS.get(x, x) for x in c.get("channels", ())),
                store_ids=frozenset(c.get("store_ids", ())),
                categories=frozenset(c.get("categories", ())),
                min_amount_minor=int(c.get("min_amount_minor", 0)),
                currency=str(c.get("currency", "")),
                game_id=str(c.get("game_id", "")),
                won_only=bool(c.get("won_only", False)),
                challenge_id=str(c.get("challenge_id", "")),
                reward_id=str(c.get("reward_id", "")),
            )
    raise ValueError(f"stamp {stamp.get('stamp_id')} has no condition")


def _purchase(rule: StampRule, facts: Facts) -> bool:
    if rule.channels and facts.channel not in rule.channels:
        return False
    if rule.store_ids and facts.store_id not in rule.store_ids:
        return False
    amount = facts.amount_minor
    if rule.categories:
        found = [v for k, v in facts.category_amounts.items() if k in rule.categories]
        if not found:
            return False
        amount = sum(found)
    if rule.min_amount_minor:
        return facts.currency == rule.currency and amount >= rule.min_amount_minor
    return True


def matches(rule: StampRule, facts: Facts) -> bool:
    if rule.kind != facts.kind:
        return False
    if rule.kind == "purchase":
        return _purchase(rule, facts)
    if rule.kind == "game":
        return rule.game_id in ("", facts.game_id) and (facts.won or not rule.won_only)
    if rule.kind == "challenge":
        return rule.challenge_id in ("", facts.challenge_id)
    return rule.reward_id in ("", facts.reward_id)


def matching_stamps(rules: Iterable[StampRule], facts: Facts) -> list[str]:
    """The ids of the stamps the facts earn, in passport order."""
    return [rule.stamp_id for rule in rules if matches(rule, facts)]


_LINES_MAX = 1000


def line_category_amounts(lines: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The total of a purchase's stored lines per category (lines without one are left out).

    The old-format path reads lines from the `purchases` row; `purchase_recorded` carries the same totals
    (ledger/purchase_event.py), so both events of one purchase give the same facts and the same stamps.
    """
    totals: dict[str, int] = {}
    for index, line in enumerate(lines):
        if index >= _LINES_MAX:
            break
        category = line.get("category")
        if category:
            totals[str(category)] = totals.get(str(category), 0) + int(line["amount_minor"])
    return totals
