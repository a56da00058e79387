"""Stamp conditions and play-token rules, pure: the valid case and the edge just outside it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from loyalty_service.ledger.earning import PurchaseLine
from loyalty_service.ledger.purchase_event import category_amounts
from loyalty_service.ledger.tokens import TokenFacts, TokenRule, tokens_for_purchase
from loyalty_service.passports.conditions import Facts, line_category_amounts, matching_stamps, stamp_rule

AT = datetime(2025, 6, 1, 12, tzinfo=UTC)


def test_purchase_stamp_by_channel_store_category_and_minimum() -> None:
    """Goal: a category condition counts only that category's lines; the minimum is inclusive."""
    rules = [
        stamp_rule({"stamp_id": "store", "purchase": {"channels": ["CHANNEL_POS"], "store_ids": ["st-1"]}}),
        stamp_rule(
            {
                "stamp_id": "shoes",
                "purchase": {"categories": ["shoes"], "min_amount_minor": 5000, "currency": "EUR"},
            }
        ),
        stamp_rule({"stamp_id": "win", "game": {"won_only": True}}),
    ]
    pos = Facts(
        kind="purchase",
        channel="pos",
        store_id="st-1",
        amount_minor=9000,
        currency="EUR",
        category_amounts={"shoes": 5000, "socks": 4000},
    )
    assert matching_stamps(rules, pos) == ["store", "shoes"]
    short = Facts(
        kind="purchase",
        channel="webshop",
        amount_minor=9000,
        currency="EUR",
        category_amounts={"shoes": 4999, "socks": 4001},
    )
    assert matching_stamps(rules, short) == []
    assert matching_stamps(rules, Facts(kind="game", game_id="game_x", won=False)) == []
    assert matching_stamps(rules, Facts(kind="game", game_id="game_x", won=True)) == ["win"]


def test_token_rule_is_strictly_over_its_minimum_and_in_its_window() -> None:
    """Goal: "over 20 EUR in the web shop" grants at 20.01 EUR online, not at 20.00 nor in a store."""
    rule = TokenRule(
        rule_id="ptr_1",
        channels=frozenset({"webshop"}),
        currency="EUR",
        min_amount_minor=2000,
        tokens=1,
        valid_from=AT,
        valid_to=AT + timedelta(days=1),
    )

    def facts(channel: str, amount: int, at: datetime = AT) -> TokenFacts:
        return TokenFacts(channel=channel, amount_minor=amount, currency="EUR", occurred_at=at)

    assert tokens_for_purchase([rule], facts("webshop", 2001)) == [("ptr_1", 1)]
    assert tokens_for_purchase([rule], facts("webshop", 2000)) == []
    assert tokens_for_purchase([rule], facts("pos", 5000)) == []
    assert tokens_for_purchase([rule], facts("webshop", 5000, AT + timedelta(days=1))) == []


_LINES = st.lists(
    st.builds(
        PurchaseLine,
        sku=st.just("sku"),
        category=st.sampled_from(["", "shoes", "socks", "Shoes"]),
        quantity=st.integers(1, 3),
        amount_minor=st.integers(0, 10**7),
    ),
    max_size=200,  # ledger.requests.MAX_LINES
)


@given(_LINES, st.integers(0, 10**6))
def test_both_events_of_a_purchase_give_the_same_stamps(lines: list[PurchaseLine], minimum: int) -> None:
    """Goal: the category totals in `purchase_recorded` equal those the old-format path reads from the
    purchases row, so a purchase's two events earn the same stamps (the per-purchase dedupe relies on it)."""
    from_event = category_amounts(lines)
    stored = [
        {"sku": ln.sku, "category": ln.category, "quantity": ln.quantity, "amount_minor": ln.amount_minor}
        for ln in lines
    ]
    assert from_event == line_category_amounts(stored)
    rules = [
        stamp_rule(
            {
                "stamp_id": "shoes",
                "purchase": {"categories": ["shoes"], "min_amount_minor": minimum, "currency": "EUR"},
            }
        ),
        stamp_rule({"stamp_id": "any", "purchase": {}}),
    ]
    total = sum(ln.amount_minor for ln in lines)

    def facts(categories: dict[str, int]) -> Facts:
        return Facts(
            kind="purchase", channel="pos", amount_minor=total, currency="EUR", category_amounts=categories
        )

    assert matching_stamps(rules, facts(from_event)) == matching_stamps(
        rules, facts(line_category_amounts(stored))
    )
