"""Proportional refund reversal: exact in total, never negative, never too much."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_service.ledger.refunds import (
    NonPositiveRefund,
    RefundExceedsPurchase,
    cumulative_reversal,
    reversal_points,
)

FAST = settings(max_examples=200, deadline=None)


@st.composite
def refund_sequences(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    """(earned, amount, refunds) where the refunds add up to exactly the amount."""
    amount = draw(st.integers(min_value=1, max_value=1_000_000))
    earned = draw(st.integers(min_value=0, max_value=100_000))
    cuts = draw(
        st.lists(st.integers(min_value=1, max_value=amount - 1), max_size=20, unique=True)
        if amount > 1
        else st.just([])
    )
    bounds = [0, *sorted(cuts), amount]
    return earned, amount, [b - a for a, b in itertools.pairwise(bounds)]


def test_three_thirds_reverse_everything() -> None:
    """Three equal partial refunds of 10 points reverse 3 + 3 + 4, not 3 + 3 + 3."""
    reversals = [
        reversal_points(
            earned_points=10,
            purchase_amount_minor=300,
            refunded_before_minor=before,
            refund_amount_minor=100,
        )
        for before in (0, 100, 200)
    ]
    assert reversals == [3, 3, 4]


def test_full_refund_reverses_all() -> None:
    """A single full refund reverses exactly what was earned."""
    assert (
        reversal_points(
            earned_points=137,
            purchase_amount_minor=4999,
            refunded_before_minor=0,
            refund_amount_minor=4999,
        )
        == 137
    )


def test_refund_beyond_purchase_is_refused() -> None:
    """Refunding more than is left of the purchase raises with the amounts attached."""
    with pytest.raises(RefundExceedsPurchase) as caught:
        reversal_points(
            earned_points=10,
            purchase_amount_minor=1000,
            refunded_before_minor=600,
            refund_amount_minor=401,
        )
    assert caught.value.refunded_before_minor == 600
    assert caught.value.refund_amount_minor == 401
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("amount", [0, -5])
def test_non_positive_refund_is_refused(amount: int) -> None:
    """A refund of nothing, or a negative refund, is an error the client can fix."""
    with pytest.raises(NonPositiveRefund):
        reversal_points(
            earned_points=10,
            purchase_amount_minor=1000,
            refunded_before_minor=0,
            refund_amount_minor=amount,
        )


@FAST
@given(refund_sequences())
def test_partial_refunds_sum_to_earned(case: tuple[int, int, list[int]]) -> None:
    """Any refunds adding to the amount reverse exactly E, each >= 0, never over E."""
    earned, amount, refunds = case
    refunded = 0
    reversed_total = 0
    for refund in refunds:
        points = reversal_points(
            earned_points=earned,
            purchase_amount_minor=amount,
            refunded_before_minor=refunded,
            refund_amount_minor=refund,
        )
        assert points >= 0
        refunded += refund
        reversed_total += points
        assert reversed_total <= earned
        assert reversed_total == cumulative_reversal(
            earned_points=earned, purchase_amount_minor=amount, refunded_minor=refunded
        )
    assert reversed_total == earned
