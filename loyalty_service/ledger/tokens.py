"""Play-token earning rules, pure: how many play tokens a purchase earns.

A rule ("1 token per purchase over 20 EUR in the web shop") grants `tokens` once per purchase that
matches its channels (empty: any), currency, minimum amount (strictly over it: "over 20 EUR" means
> 2000 minor units) and window [valid_from, valid_to) on the purchase's occurred_at. Rules add up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

__all__ = ["TokenFacts", "TokenRule", "tokens_for_purchase"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRule:
    rule_id: str
    channels: frozenset[str]
    """Channel values ("pos", "webshop", ...); empty for any channel."""
    currency: str
    min_amount_minor: int
    """The purchase must be strictly over this amount."""
    tokens: int
    valid_from: datetime
    valid_to: datetime | None

    def __post_init__(self) -> None:
        assert self.tokens > 0, "a token rule grants at least one token"
        assert self.min_amount_minor >= 0, "negative minimum"


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenFacts:
    channel: str
    amount_minor: int
    currency: str
    occurred_at: datetime


def matches(rule: TokenRule, facts: TokenFacts) -> bool:
    if rule.channels and facts.channel not in rule.channels:
        return False
    if facts.currency != rule.currency or facts.amount_minor <= rule.min_amount_minor:
        return False
    if facts.occurred_at < rule.valid_from:
        return False
    return rule.valid_to is None or facts.occurred_at < rule.valid_to


def tokens_for_purchase(rules: Iterable[TokenRule], facts: TokenFacts) -> list[tuple[str, int]]:
    """(rule_id, tokens) of every matching rule, in rule order."""
    return [(rule.rule_id, rule.tokens) for rule in rules if matches(rule, facts)]
