"""Proportional reversal of earned points when a purchase is refunded.

Each reversal is the difference of two cumulative floors,

    reversal = floor(E * (Rb + r) / A) - floor(E * Rb / A),

where E is what the purchase earned, A its amount, Rb what was refunded before and r
this refund (amounts in minor units). Because the terms telescope, any sequence of
partial refunds that adds up to A reverses exactly E, every reversal is >= 0, and the
cumulative reversal never exceeds E. Rounding each refund on its own would drift: three
refunds of a third would each reverse floor(E/3) and leave points behind.

Integer arithmetic only (`//` on non-negative ints is an exact floor).

Changes to the brief: a non-positive refund amount raises `NonPositiveRefund` (a
ValueError) rather than asserting, since it comes straight from a till or web shop.
"""

from __future__ import annotations

__all__ = [
    "NonPositiveRefund",
    "RefundExceedsPurchase",
    "cumulative_reversal",
    "reversal_points",
]


class RefundExceedsPurchase(ValueError):
    """Refunds would add up to more than the purchase amount."""

    def __init__(
        self,
        *,
        purchase_amount_minor: int,
        refunded_before_minor: int,
        refund_amount_minor: int,
    ) -> None:
        super().__init__(
            f"refund {refund_amount_minor} after {refunded_before_minor} already "
            f"refunded exceeds purchase amount {purchase_amount_minor}"
        )
        self.purchase_amount_minor = purchase_amount_minor
        self.refunded_before_minor = refunded_before_minor
        self.refund_amount_minor = refund_amount_minor


class NonPositiveRefund(ValueError):
    """A refund must return some money."""

    def __init__(self, *, refund_amount_minor: int) -> None:
        super().__init__(f"refund amount must be > 0, got {refund_amount_minor}")
        self.refund_amount_minor = refund_amount_minor


def cumulative_reversal(*, earned_points: int, purchase_amount_minor: int, refunded_minor: int) -> int:
    """Points reversed in total once `refunded_minor` of the purchase is refunded."""
    assert earned_points >= 0, "negative earning"
    assert 0 <= refunded_minor <= purchase_amount_minor, "refunded outside [0, amount]"
    if purchase_amount_minor == 0:
        return 0
    return earned_points * refunded_minor // purchase_amount_minor


def reversal_points(
    *,
    earned_points: int,
    purchase_amount_minor: int,
    refunded_before_minor: int,
    refund_amount_minor: int,
) -> int:
    """Points this refund reverses, so that all refunds together reverse exactly E."""
    assert earned_points >= 0, "negative earning"
    assert purchase_amount_minor >= 0, "negative purchase amount"
    assert refunded_before_minor >= 0, "negative refunded amount"
    if refund_amount_minor <= 0:
        raise NonPositiveRefund(refund_amount_minor=refund_amount_minor)
    refunded_after = refunded_before_minor + refund_amount_minor
    if refunded_after > purchase_amount_minor:
        raise RefundExceedsPurchase(
            purchase_amount_minor=purchase_amount_minor,
            refunded_before_minor=refunded_before_minor,
            refund_amount_minor=refund_amount_minor,
        )
    before = cumulative_reversal(
        earned_points=earned_points,
        purchase_amount_minor=purchase_amount_minor,
        refunded_minor=refunded_before_minor,
    )
    after = cumulative_reversal(
        earned_points=earned_points,
        purchase_amount_minor=purchase_amount_minor,
        refunded_minor=refunded_after,
    )
    return after - before
