"""Voucher codes: entropy and alphabet, and a check character that catches typing mistakes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty_service.rewards import codes

payloads = st.text(alphabet=codes.ALPHABET, min_size=codes.CODE_LENGTH - 1, max_size=codes.CODE_LENGTH - 1)


def _code(payload: str) -> str:
    return payload + codes.check_character(payload)


def test_new_codes_are_well_formed_and_distinct() -> None:
    """Goal: fresh codes pass their own check, use only the alphabet and do not repeat."""
    made = {codes.new_code() for _ in range(2000)}
    assert len(made) == 2000
    assert all(codes.is_well_formed(code) for code in made)
    assert not set("ILOU") & set("".join(made))


@given(payloads)
def test_every_single_substitution_is_detected(payload: str) -> None:
    """Goal: any one character typed wrong, check character included, fails the check."""
    code = _code(payload)
    for position in range(len(code)):
        for other in codes.ALPHABET:
            if other != code[position]:
                typo = code[:position] + other + code[position + 1 :]
                assert not codes.is_well_formed(typo)


@given(payloads)
def test_every_adjacent_transposition_is_detected(payload: str) -> None:
    """Goal: two different neighbours swapped, check character included, fail the check."""
    code = _code(payload)
    for position in range(len(code) - 1):
        a, b = code[position], code[position + 1]
        if a != b:
            swapped = code[:position] + b + a + code[position + 2 :]
            assert not codes.is_well_formed(swapped)


@given(payloads)
def test_parse_reads_what_people_type(payload: str) -> None:
    """Goal: grouping, case, spaces and look-alikes (O for 0, I/L for 1) read back to the same code."""
    code = _code(payload)
    typed = codes.format_code(code).lower().replace("0", "o").replace("1", "l")
    assert codes.parse_code(typed) == code
    assert codes.parse_code(" " + codes.format_code(code) + " ") == code


def test_parse_tells_mistyped_from_malformed() -> None:
    """Goal: a wrong check character is `mistyped`; a wrong length or character is not."""
    code = codes.new_code()
    wrong = code[:-1] + next(ch for ch in codes.ALPHABET if ch != code[-1])
    with pytest.raises(codes.CodeError) as mistyped:
        codes.parse_code(wrong)
    assert mistyped.value.mistyped
    for bad in (code[:-1], code + "0", code[:-1] + "U", ""):
        with pytest.raises(codes.CodeError) as malformed:
            codes.parse_code(bad)
        assert not malformed.value.mistyped


def test_format_groups_by_four() -> None:
    assert codes.format_code("ABCDEFGHJKMNPQRS") == "ABCD-EFGH-JKMN-PQRS"
