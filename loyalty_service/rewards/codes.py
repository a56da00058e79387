"""Voucher codes: unguessable, easy to read aloud, and telling a typing mistake from an unknown code.

A code is 15 random characters and 1 check character of Crockford's base 32 alphabet
(`0-9A-Z` without I, L, O, U: no look-alikes), shown in groups of four: `7KQ4-M9XD-2RWH-TB5P`.

- Entropy: 15 characters x 5 bits = 75 bits from `secrets` (CSPRNG); at a million live vouchers a random
  guess finds one with probability 2^-55.
- Reading: dashes, spaces and case are ignored; I and L read as 1, O as 0 (Crockford's decoding).
- Check character: the Damm algorithm over the quasigroup x * y = 2x + y of GF(32) (polynomial
  x^5 + x^2 + 1). It is a Latin square, so every single-character substitution changes the result, and
  totally anti-symmetric ((c*x)*y = (c*y)*x only if x = y), so every swap of two different adjacent
  characters, the check character included, changes it too. Both are proven by `tests/rewards/test_codes.py`
  over random codes and every position. A code failing the check is "mistyped" (INVALID_ARGUMENT); a
  code passing it that is not on file is unknown (NOT_FOUND): a random string passes with odds 1/32.

Pure functions: no I/O except `new_code`'s randomness, which can be passed in.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "CodeError",
    "check_character",
    "format_code",
    "is_well_formed",
    "new_code",
    "parse_code",
]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_LENGTH = 15
CODE_LENGTH = RANDOM_LENGTH + 1
GROUP = 4
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_READ_AS = {"I": "1", "L": "1", "O": "0"}
_POLYNOMIAL = 0b100101  # x^5 + x^2 + 1, irreducible over GF(2)
_MULTIPLIER = 2  # any element other than 0 and 1 makes x * y = a x + y totally anti-symmetric


class CodeError(ValueError):
    """Not a voucher code; `mistyped` when only the check character disagrees."""

    def __init__(self, message: str, *, mistyped: bool) -> None:
        super().__init__(message)
        self.mistyped = mistyped


def _gf32_times(a: int, b: int) -> int:
    product = 0
    for _ in range(5):
        if b & 1:
            product ^= a
        b >>= 1
        a <<= 1
        if a & 0b100000:
            a ^= _POLYNOMIAL
    return product


_TABLE = tuple(tuple(_gf32_times(_MULTIPLIER, x) ^ y for y in range(32)) for x in range(32))


def _interim(characters: str) -> int:
    state = 0
    for ch in characters:
        state = _TABLE[state][_VALUE[ch]]
    return state


def check_character(payload: str) -> str:
    """The character that makes `payload + it` check to zero (x * c = 0 means c = 2x in GF(32))."""
    state = _interim(payload)
    return ALPHABET[next(c for c in range(32) if _TABLE[state][c] == 0)]


def is_well_formed(canonical: str) -> bool:
    """Right length, alphabet and check character (canonical form: no dashes, upper case)."""
    return (
        len(canonical) == CODE_LENGTH and all(ch in _VALUE for ch in canonical) and _interim(canonical) == 0
    )


def new_code(token_below: Callable[[int], int] = secrets.randbelow) -> str:
    """A fresh canonical code: 15 CSPRNG characters and the check character."""
    payload = "".join(ALPHABET[token_below(32)] for _ in range(RANDOM_LENGTH))
    return payload + check_character(payload)


def format_code(canonical: str) -> str:
    """`7KQ4M9XD2RWHTB5P` -> `7KQ4-M9XD-2RWH-TB5P`."""
    return "-".join(canonical[i : i + GROUP] for i in range(0, len(canonical), GROUP))


def parse_code(text: str) -> str:
    """The canonical form of a typed or scanned code; CodeError if it cannot be one."""
    cleaned = "".join(ch for ch in text.upper() if ch not in "- ")
    cleaned = "".join(_READ_AS.get(ch, ch) for ch in cleaned)
    if len(cleaned) != CODE_LENGTH:
        raise CodeError(f"a voucher code has {CODE_LENGTH} characters", mistyped=False)
    if any(ch not in _VALUE for ch in cleaned):
        raise CodeError(f"a voucher code uses only {ALPHABET}", mistyped=False)
    if _interim(cleaned) != 0:
        raise CodeError("mistyped: the check character does not match", mistyped=True)
    return cleaned
