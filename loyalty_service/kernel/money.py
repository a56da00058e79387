"""Money in integer minor units with an ISO 4217 currency; never floats."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Money", "currency_exponent", "is_currency_code"]

# ISO 4217 minor-unit exponents that differ from the default of 2.
_EXPONENTS: dict[str, int] = {
    "BHD": 3,
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "RWF": 0,
    "TND": 3,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
}
_CODE = re.compile(r"^[A-Z]{3}$")


def is_currency_code(code: str) -> bool:
    return bool(_CODE.match(code))


def currency_exponent(code: str) -> int:
    """How many minor units make a major unit, as a power of ten (EUR: 2, JPY: 0)."""
    return _EXPONENTS.get(code, 2)


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str
