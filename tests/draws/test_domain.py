"""The pure draw algorithm: known answers, uniform sampling, fair and one-prize-per-member selection."""

from __future__ import annotations

import ast
import hashlib
import hmac
import sys
from pathlib import Path
from typing import assert_type

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_service.draws import domain
from loyalty_service.draws.domain import (
    DrawResult,
    Entry,
    PositionedEntry,
    Slot,
    Winner,
    commitment,
    draw_key,
    entries_digest,
    expand_slots,
    member_ref,
    new_seed,
    order_entries,
    run_draw,
    select_winners,
    uniform,
)

FAST = settings(max_examples=100, deadline=None)
CHI_SQUARE_P001_DF4 = 18.467  # critical value of chi-square with 4 degrees of freedom at p = 0.001

seeds = st.binary(min_size=32, max_size=32)

# The known-answer vector, reproduced step by step in docs/draws.md.
KAT_SEED = bytes(range(32))
KAT_DRAW_ID = "draw_2024_summer"
KAT_BEACON = "drand-quicknet-round-12345678"
KAT_ENTRIES = [
    ("ent_01", "member-alice"),
    ("ent_02", "member-bob"),
    ("ent_03", "member-alice"),
    ("ent_04", "member-carol"),
    ("ent_05", "member-dave"),
    ("ent_06", "member-bob"),
    ("ent_07", "member-erin"),
    ("ent_08", "member-alice"),
]
KAT_PRIZES = [("voucher-10-eur", 2), ("points-500", 1)]
ALICE, BOB = "182043b5f9cf51121514bb84d4826bbf", "8e67fdf2dab8c8f136b08a07dc74699d"
CAROL, DAVE = "aa00663484057339efc09b4017fe0cb7", "63df83aee0b44de8f3407cdaac6330b0"


def kat_result(beacon: str | None) -> DrawResult:
    entries = order_entries(Entry(entry_id, member_ref(KAT_SEED, member)) for entry_id, member in KAT_ENTRIES)
    return run_draw(
        draw_id=KAT_DRAW_ID, seed=KAT_SEED, beacon=beacon, entries=entries, slots=expand_slots(KAT_PRIZES)
    )


def test_known_answer_vector() -> None:
    """Pins every published value of the docs/draws.md example, so any change to the algorithm shows."""
    result = kat_result(KAT_BEACON)
    assert result.commitment == "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"
    assert member_ref(KAT_SEED, "member-alice") == ALICE
    assert member_ref(KAT_SEED, "member-erin") == "732de2de6bee9d5a721af437cf2d3c9d"
    assert result.entries_digest == "9ee7461cc540523825efdc968d180e999ff6540b9b93266e69966116139de713"
    assert draw_key(KAT_SEED, KAT_BEACON).hex() == (
        "9c51f13dee6362550eb1e4856a46be3f1335877eea956261d749f3c4c029d4f9"
    )
    assert result.winners == (
        Winner(0, "voucher-10-eur", "ent_04", CAROL),
        Winner(1, "voucher-10-eur", "ent_06", BOB),
        Winner(2, "points-500", "ent_03", ALICE),
    )
    without_beacon = kat_result(None).winners
    assert [(w.entry_id, w.member_ref) for w in without_beacon] == [
        ("ent_03", ALICE),
        ("ent_02", BOB),
        ("ent_05", DAVE),
    ]


def test_export_has_exactly_the_documented_keys() -> None:
    """to_json_dict is the export format: eight keys, seed in hex, records without private fields."""
    exported = kat_result(KAT_BEACON).to_json_dict()
    assert_type(exported, dict[str, object])
    assert list(exported) == [
        "draw_id", "commitment", "seed", "beacon", "entries", "entries_digest", "slots", "winners",
    ]  # fmt: skip
    assert exported["seed"] == KAT_SEED.hex()
    assert exported["entries"][0] == {"position": 0, "entry_id": "ent_01", "member_ref": ALICE}  # type: ignore[index]
    assert exported["slots"][2] == {"slot": 2, "prize_id": "points-500"}  # type: ignore[index]
    assert exported["winners"][0] == {"slot": 0, "entry_id": "ent_04", "member_ref": CAROL}  # type: ignore[index]


def test_seed_commitment_and_member_ref() -> None:
    """32 random bytes, SHA-256 commitment, 32-hex pseudonym of the UTF-8 member id; other lengths refused."""
    seed = new_seed()
    assert_type(seed, bytes)
    assert len(seed) == 32
    assert seed != new_seed()
    assert commitment(seed) == hashlib.sha256(seed).hexdigest()
    ref = member_ref(seed, "mbr_é")
    assert ref == hmac.new(seed, "mbr_é".encode(), hashlib.sha256).hexdigest()[:32]
    assert member_ref(seed, "mbr_e") != ref
    with pytest.raises(ValueError, match="32 bytes"):
        commitment(seed[:31])
    with pytest.raises(ValueError, match="32 bytes"):
        member_ref(seed + b"x", "m")


def test_draw_key_none_differs_from_empty_beacon() -> None:
    """No beacon uses the seed itself; any string, even empty, is hashed in."""
    seed = bytes(32)
    assert draw_key(seed, None) == seed
    assert draw_key(seed, "") == hashlib.sha256(seed).digest()
    assert draw_key(seed, "r1") == hashlib.sha256(seed + b"r1").digest()


def test_order_entries_and_digest() -> None:
    """Entries sort by entry_id in code point order; the digest hashes one line per entry."""
    ref_a, ref_b = "a" * 32, "b" * 32
    ordered = order_entries([Entry("e_b", ref_a), Entry("E_z", ref_b), Entry("e_a", ref_b)])
    assert ordered == (
        PositionedEntry(0, "E_z", ref_b),
        PositionedEntry(1, "e_a", ref_b),
        PositionedEntry(2, "e_b", ref_a),
    )
    lines = f"0:E_z:{ref_b}\n1:e_a:{ref_b}\n2:e_b:{ref_a}\n"
    assert entries_digest(ordered) == hashlib.sha256(lines.encode()).hexdigest()
    assert entries_digest(()) == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([Entry("e1", "a" * 32), Entry("e1", "b" * 32)], "duplicate"),
        ([Entry("e:1", "a" * 32)], "without ':'"),
        ([Entry("e\n1", "a" * 32)], "without ':'"),
        ([Entry("", "a" * 32)], "non-empty"),
        ([Entry("e1", "A" * 32)], "lower-case hex"),
        ([Entry("e1", "a" * 31)], "lower-case hex"),
    ],
)
def test_order_entries_refuses_ambiguous_input(entries: list[Entry], message: str) -> None:
    """Duplicate ids, separators inside ids and malformed refs would make the digest ambiguous."""
    with pytest.raises(ValueError, match=message):
        order_entries(entries)


def test_expand_slots() -> None:
    """Prizes expand by quantity in prize order; a repeated prize or a quantity below 1 is refused."""
    assert expand_slots([("a", 2), ("b", 1)]) == (Slot(0, "a"), Slot(1, "a"), Slot(2, "b"))
    assert expand_slots([]) == ()
    with pytest.raises(ValueError, match="twice"):
        expand_slots([("a", 1), ("a", 1)])
    with pytest.raises(ValueError, match="at least 1"):
        expand_slots([("a", 0)])


def reference_uniform(key: bytes, draw_id: str, k: int, n: int) -> tuple[int, int]:
    """(index, accepted attempt), straight from the issue's formula."""
    attempt = 0
    while True:
        x = int.from_bytes(hmac.new(key, f"{draw_id}:{k}:{attempt}".encode(), hashlib.sha256).digest()[:8])
        if x < 2**64 - (2**64 % n):
            return x % n, attempt
        attempt += 1


@FAST
@given(key=st.binary(min_size=1, max_size=64), k=st.integers(0, 10_000), n=st.integers(1, 2**64))
def test_uniform_is_in_range_and_follows_the_formula(key: bytes, k: int, n: int) -> None:
    """Any pool size up to 2**64: the index is in [0, n) and equals the formula's."""
    index = uniform(key, "draw", k, n)
    assert 0 <= index < n
    assert index == reference_uniform(key, "draw", k, n)[0]


def test_uniform_rejection_is_exercised_near_2_63() -> None:
    """With n = 2**63 + 1 about half of the attempts are rejected; those slots use a later attempt."""
    n = 2**63 + 1
    attempts = [reference_uniform(b"key", "draw", k, n)[1] for k in range(64)]
    assert sum(a > 0 for a in attempts) >= 16  # expectation 32; fixed key, so deterministic
    for k in range(64):
        assert uniform(b"key", "draw", k, n) == reference_uniform(b"key", "draw", k, n)[0]


def test_uniform_refuses_bad_sizes_and_a_broken_mac(monkeypatch: pytest.MonkeyPatch) -> None:
    """Size outside 1..2**64 is a ValueError; endless rejection raises instead of looping forever."""
    for n in (0, -1, 2**64 + 1):
        with pytest.raises(ValueError, match="outside"):
            uniform(b"k", "d", 0, n)

    class AlwaysHigh:
        def digest(self) -> bytes:
            return b"\xff" * 32

    monkeypatch.setattr(hmac, "new", lambda *args: AlwaysHigh())  # the module domain calls
    with pytest.raises(RuntimeError, match="rejections"):
        uniform(b"k", "d", 0, 3)


def chi_square(counts: list[int]) -> float:
    expected = sum(counts) / len(counts)
    return sum((count - expected) ** 2 / expected for count in counts)


def test_each_entry_has_its_fair_chance() -> None:
    """Over 20,000 seeds each of 5 entries (2 of one member) wins slot 0 as often (chi-square, p=0.001)."""
    refs = ["a" * 32, "a" * 32, "b" * 32, "c" * 32, "d" * 32]
    entries = order_entries(Entry(f"e{i}", ref) for i, ref in enumerate(refs))
    counts = [0] * 5
    for i in range(20_000):
        seed = hashlib.sha256(i.to_bytes(4, "big")).digest()
        (winner,) = select_winners(key=seed, draw_id="fair", entries=entries, slots=[Slot(0, "p")])
        counts[int(winner.entry_id[1:])] += 1
    assert chi_square(counts) < CHI_SQUARE_P001_DF4, counts


def test_rejection_keeps_large_pools_fair() -> None:
    """n = 3 * 2**62 rejects a quarter of the attempts; fifths of [0, n) are still hit equally (p=0.001)."""
    n = 3 * 2**62
    counts = [0] * 5
    for i in range(20_000):
        counts[uniform(i.to_bytes(4, "big"), "fair", 0, n) * 5 // n] += 1
    assert chi_square(counts) < CHI_SQUARE_P001_DF4, counts


@st.composite
def draws(draw: st.DrawFn) -> tuple[bytes, tuple[PositionedEntry, ...], tuple[Slot, ...]]:
    seed = draw(seeds)
    members = draw(st.integers(1, 8))
    chosen = draw(st.lists(st.integers(0, members - 1), max_size=30))
    entries = order_entries(Entry(f"ent_{i:03d}", member_ref(seed, f"m{m}")) for i, m in enumerate(chosen))
    quantities = draw(st.lists(st.integers(1, 4), max_size=4))
    return seed, entries, expand_slots([(f"prize_{i}", q) for i, q in enumerate(quantities)])


@FAST
@given(case=draws(), beacon=st.none() | st.text(max_size=20))
def test_selection_picks_each_member_once_until_slots_or_members_run_out(
    case: tuple[bytes, tuple[PositionedEntry, ...], tuple[Slot, ...]], beacon: str | None
) -> None:
    """min(slots, distinct members) winners in slot order, no member twice, real entries; repeatable."""
    seed, entries, slots = case
    key = draw_key(seed, beacon)
    winners = select_winners(key=key, draw_id="d", entries=entries, slots=slots)
    assert len(winners) == min(len(slots), len({e.member_ref for e in entries}))
    assert len({w.member_ref for w in winners}) == len(winners)
    assert [(w.slot, w.prize_id) for w in winners] == [(s.slot, s.prize_id) for s in slots[: len(winners)]]
    by_id = {e.entry_id: e.member_ref for e in entries}
    assert all(by_id[w.entry_id] == w.member_ref for w in winners)
    assert select_winners(key=key, draw_id="d", entries=entries, slots=slots) == winners


@FAST
@given(seed=seeds, beacons=st.lists(st.none() | st.text(max_size=10), min_size=2, max_size=2, unique=True))
def test_the_beacon_changes_the_winners(seed: bytes, beacons: list[str | None]) -> None:
    """Different beacons give different draws (1,000 one-entry members, 3 slots: a tie is ~1e-9 likely)."""
    entries = order_entries(Entry(f"e{i:04d}", member_ref(seed, f"m{i}")) for i in range(1000))
    slots = expand_slots([("p", 3)])
    first, second = (
        select_winners(key=draw_key(seed, beacon), draw_id="d", entries=entries, slots=slots)
        for beacon in beacons
    )
    assert first != second


def test_selection_refuses_unnumbered_input() -> None:
    """Positions and slot numbers must run 0..; anything else is a caller bug."""
    entry = PositionedEntry(1, "e", "a" * 32)
    with pytest.raises(ValueError, match="position"):
        select_winners(key=b"k", draw_id="d", entries=[entry], slots=[])
    with pytest.raises(ValueError, match="slot"):
        select_winners(key=b"k", draw_id="d", entries=[], slots=[Slot(1, "p")])


def test_domain_is_pure() -> None:
    """domain.py imports only the standard library and awaits nothing (the service layer does the I/O)."""
    tree = ast.parse(Path(domain.__file__).read_text())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert all(name.split(".")[0] in sys.stdlib_module_names for name in imported), imported
    assert not any(isinstance(node, ast.Await | ast.AsyncFunctionDef) for node in ast.walk(tree))
