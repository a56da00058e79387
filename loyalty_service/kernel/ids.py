"""Time-ordered, type-prefixed ids: `mem_01JD3...` sorts by creation time and says what it names.

26 Crockford base32 characters after the prefix: 48 bits of milliseconds and 80 random bits (ULID
layout), so ids made on many replicas never collide and index well.
"""

from __future__ import annotations

import secrets
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


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    assert prefix in PREFIXES, prefix
    millis = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    value = (millis & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    return f"{prefix}_{_encode(value, 26)}"
