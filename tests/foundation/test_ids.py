"""Ids: the table-driven encoding must give exactly the characters of the first, divmod-per-character one,
for every millisecond and every 80 random bits, and the one-entry millisecond cache must never leak one
millisecond's characters into another's id.
"""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_service.kernel import ids

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_MILLIS = st.integers(0, (1 << 48) - 1)
_RANDOM = st.integers(0, (1 << 80) - 1)
_ID = re.compile(r"^(?P<prefix>[a-z]+)_(?P<body>[0-9A-HJKMNP-TV-Z]{26})$")


def _reference_encode(value: int, length: int) -> str:
    """The encoding as first written (one divmod per character), kept to hold the fast one to it."""
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def _decode(body: str) -> int:
    value = 0
    for char in body:
        value = value * 32 + _ALPHABET.index(char)
    return value


@settings(max_examples=500)
@given(st.sampled_from(sorted(ids.PREFIXES)), _MILLIS, _RANDOM)
def test_fast_encoding_equals_reference(prefix: str, millis: int, rand: int) -> None:
    """Goal: same time bits and random bits, same characters as the reference encoding, edges included."""
    expected = f"{prefix}_{_reference_encode(millis << 80 | rand, 26)}"
    assert ids._format(prefix, ids._encode_time(millis), rand) == expected


def test_encoding_edges() -> None:
    """Goal: all-zero and all-one bits, each alone, encode as the reference does."""
    for millis in (0, 1, (1 << 48) - 1):
        for rand in (0, 1, (1 << 80) - 1, 1 << 79):
            expected = f"ent_{_reference_encode(millis << 80 | rand, 26)}"
            assert ids._format("ent", ids._encode_time(millis), rand) == expected


@given(st.lists(st.integers(0, (1 << 50) - 1), min_size=1, max_size=20))
def test_ids_carry_their_millisecond_through_the_cache(moments: list[int]) -> None:
    """Goal: whatever order milliseconds come in (repeats too), each id's top 48 bits are its own time."""
    for now_ms in [*moments, *moments]:
        made = ids.new_id("pur", now_ms=now_ms)
        match = _ID.match(made)
        assert match is not None, made
        assert match["prefix"] == "pur"
        assert _decode(match["body"]) >> 80 == now_ms & ((1 << 48) - 1)


def test_ids_are_time_ordered_and_random() -> None:
    """Goal: later milliseconds sort later; within one millisecond the 80 random bits differ."""
    earlier = ids.new_id("ent", now_ms=1_700_000_000_000)
    later = ids.new_id("ent", now_ms=1_700_000_000_001)
    assert earlier < later
    same = {ids.new_id("ent", now_ms=1_700_000_000_002) for _ in range(1000)}
    assert len(same) == 1000
    assert len({_decode(made[4:]) >> 80 for made in same}) == 1
    # 1000 draws of 80 bits: every bit position is seen both set and clear (a stuck bit would fail).
    randoms = [_decode(made[4:]) & ((1 << 80) - 1) for made in same]
    for bit in range(80):
        assert 0 < sum(value >> bit & 1 for value in randoms) < 1000


def test_now_is_the_default_time() -> None:
    """Goal: without now_ms the id carries the wall clock's millisecond."""
    before = time.time_ns() // 1_000_000
    made = ids.new_id("evt")
    after = time.time_ns() // 1_000_000
    assert before <= _decode(made[4:]) >> 80 <= after


def test_unknown_prefix_is_refused() -> None:
    """Goal: a prefix outside PREFIXES is a programmer error."""
    with pytest.raises(AssertionError):
        ids.new_id("nope")
