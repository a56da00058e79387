"""Names shared by the seeder and the load generators, so that 100 000 members need no hand-over.

Member i has a fixed id and card number computed from i; a generator picks an index and knows both.
"""

from __future__ import annotations

__all__ = ["HOT_MEMBERS", "STORE_ID", "card_number", "member_id"]

STORE_ID = "BENCH-STORE-1"
HOT_MEMBERS = 10
"""The members that get 20% of the traffic in the hot-member scenario: indexes 0..9."""
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_EPOCH_MS = 1_767_225_600_000  # 2026-01-01, so the ids sort like real ones made then


def _base32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def member_id(index: int) -> str:
    """`mem_` + 26 Crockford characters, in the layout of `kernel.ids.new_id`: time, then the index."""
    assert index >= 0
    return f"mem_{_base32((_EPOCH_MS << 80) | index, 26)}"


def card_number(index: int) -> str:
    """A card: upper-case letters and digits, 6-32 characters."""
    assert index >= 0
    return f"BENCH{index:09d}"
