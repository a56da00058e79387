"""The private currency each programme of the ledger helpers earns in (`conftest.currency_code`)."""

from __future__ import annotations

from loyalty_service.kernel.money import currency_exponent
from tests.ledger.conftest import NAMED_BY_TESTS, currency_code


def test_each_programme_gets_a_currency_of_its_own_with_two_decimals() -> None:
    """Goal: codes never repeat in a session and always have 100 minor units to the unit, because the
    tests' figures assume it (a tier story once met JPY: 15000 minor units earned 15000 points, not 150,
    and the member was Gold with 11000 instead of Silver with 110)."""
    codes = [currency_code() for _ in range(2_000)]
    assert len(set(codes)) == len(codes)
    assert [code for code in codes if currency_exponent(code) != 2] == []
    assert NAMED_BY_TESTS.isdisjoint(codes)
    assert all(len(code) == 3 and code.isascii() and code.isupper() for code in codes)
