"""Time-ordered, type-prefixed ids: `mem_01JD3...` sorts by creation time and says what it names.

26 Crockford base32 characters after the prefix: 48 bits of milliseconds and 80 random bits (ULID
layout), so ids made on many replicas never collide and index well.
"""

from __future__ import annotations

import os
import time

__all__ = ["PREFIXES", "new_id"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIXES = frozenset(
    {
        "mem",
        "cred",
        "ent",
        "pur",
        "ref",
        "spd",
        "rule",
        "lot",
        "evt",
        "cons",
        "vch",
        "rwd",
        "game",
        "play",
        "psp",
        "tok",
        "ptr",
        "aud",
        "drw",
        "den",
        "plc",
        "chl",
        "cki",
        "cka",
    }
)


# Every 10-bit value as its two characters: an id is 13 table look-ups instead of 26 divmods.
_PAIRS = tuple(first + second for first in _ALPHABET for second in _ALPHABET)
_TIME_MASK = (1 << 48) - 1
_last_time: tuple[int, str] = (-1, "")
"""The last millisecond encoded and its 10 characters: ids made in the same millisecond share them."""


def _encode_time(millis: int) -> str:
    """The first 10 characters: 2 zero bits, then the 48 bits of milliseconds."""
    pairs = _PAIRS
    return (
        pairs[millis >> 40]
        + pairs[(millis >> 30) & 1023]
        + pairs[(millis >> 20) & 1023]
        + pairs[(millis >> 10) & 1023]
        + pairs[millis & 1023]
    )


def _format(prefix: str, time_chars: str, rand: int) -> str:
    """`prefix_`, the 10 time characters, then the 80 random bits as 16 characters."""
    pairs = _PAIRS
    return "".join(
        (
            prefix,
            "_",
            time_chars,
            pairs[rand >> 70],
            pairs[(rand >> 60) & 1023],
            pairs[(rand >> 50) & 1023],
            pairs[(rand >> 40) & 1023],
            pairs[(rand >> 30) & 1023],
            pairs[(rand >> 20) & 1023],
            pairs[(rand >> 10) & 1023],
            pairs[rand & 1023],
        )
    )


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    global _last_time
    assert prefix in PREFIXES, prefix
    millis = (time.time_ns() // 1_000_000 if now_ms is None else now_ms) & _TIME_MASK
    # One tuple, read once and replaced whole: threads can only make it miss, never mix two entries.
    cached_millis, time_chars = _last_time
    if cached_millis != millis:
        time_chars = _encode_time(millis)
        _last_time = (millis, time_chars)
    # secrets.randbits(80) is SystemRandom.getrandbits: os.urandom(10) read big-endian; same bits, no detour.
    return _format(prefix, time_chars, int.from_bytes(os.urandom(10)))
