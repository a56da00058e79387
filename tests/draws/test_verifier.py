"""The stdlib-only verifier: accepts every honest export, names each kind of tampering, exits 0/1/2."""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loyalty_clients import verify_draw
from loyalty_clients.verify_draw import MalformedResult, member_report, verify

from loyalty_service.draws.domain import Entry, expand_slots, member_ref, order_entries, run_draw

FAST = settings(max_examples=60, deadline=None)


@st.composite
def honest_exports(draw: st.DrawFn) -> dict[str, Any]:
    """A draw run by the domain code: random seed, entries, members, prizes and beacon."""
    seed = draw(st.binary(min_size=32, max_size=32))
    members = draw(st.integers(1, 6))
    entry_ids = draw(st.lists(st.text("abcXYZ_09-é", min_size=1, max_size=6), max_size=20, unique=True))
    entries = order_entries(
        Entry(entry_id, member_ref(seed, f"m{draw(st.integers(0, members - 1))}")) for entry_id in entry_ids
    )
    quantities = draw(st.lists(st.integers(1, 3), max_size=4))
    result = run_draw(
        draw_id=draw(st.text(min_size=1, max_size=10)),
        seed=seed,
        beacon=draw(st.none() | st.text(max_size=12)),
        entries=entries,
        slots=expand_slots([(f"prize_{i}", q) for i, q in enumerate(quantities)]),
    )
    exported: dict[str, Any] = json.loads(json.dumps(result.to_json_dict()))
    return exported


def mentions(problems: list[str], *words: str) -> bool:
    return any(all(word in line for word in words) for line in problems)


@FAST
@given(export=honest_exports())
def test_every_honest_result_verifies(export: dict[str, Any]) -> None:
    """The independent re-implementation agrees with the domain code on every generated draw."""
    assert verify(export) == []


def swap(items: list[Any], i: int, j: int) -> None:
    items[i], items[j] = items[j], items[i]


@FAST
@given(export=honest_exports(), data=st.data())
def test_tampering_is_named(export: dict[str, Any], data: st.DataObject) -> None:
    """Each kind of change to an honest export gives a line naming what does not match."""
    entries, slots, winners = export["entries"], export["slots"], export["winners"]

    def tampered(change: Callable[[dict[str, Any]], object]) -> list[str]:
        changed = copy.deepcopy(export)
        change(changed)
        return verify(changed)

    seed = bytes.fromhex(export["seed"])
    flipped = (bytes([seed[0] ^ 1]) + seed[1:]).hex()
    assert mentions(tampered(lambda d: d.update(seed=flipped)), "commitment:")
    assert mentions(tampered(lambda d: d.update(commitment="f" * 64)), "commitment:", "SHA-256 of the seed")
    assert mentions(tampered(lambda d: d.update(entries_digest="0" * 64)), "entries_digest:", "entries give")
    added = {"position": len(entries), "entry_id": "~", "member_ref": "a" * 32}
    assert mentions(tampered(lambda d: d["entries"].append(added)), "entries_digest:")
    if len(slots) >= 2:
        assert mentions(tampered(lambda d: swap(d["slots"], 0, 1)), "slots[0]: slot is 1, expected 0")
    if entries:
        i = data.draw(st.integers(0, len(entries) - 1))
        assert mentions(tampered(lambda d: d["entries"][i].update(member_ref="e" * 32)), "entries_digest:")
        changed_id = entries[i]["entry_id"] + "~"
        assert mentions(tampered(lambda d: d["entries"][i].update(entry_id=changed_id)), "entries_digest:")
        assert mentions(tampered(lambda d: d["entries"].pop(i)), "entries_digest:")
    if len(entries) >= 2:
        reordered = tampered(lambda d: swap(d["entries"], 0, 1))
        assert mentions(reordered, "entries[0]: position is 1")
        assert mentions(reordered, "entries[1]", "does not come after")
        assert mentions(reordered, "entries_digest:")

        def renumbered(d: dict[str, Any]) -> None:
            swap(d["entries"], 0, 1)
            d["entries"][0]["position"], d["entries"][1]["position"] = 0, 1

        assert mentions(tampered(renumbered), "does not come after")
    if winners:
        assert mentions(tampered(lambda d: d["winners"].pop()), "is missing; the algorithm picks")
        assert mentions(tampered(lambda d: d["winners"].append(dict(winners[-1]))), "is extra")
        others = [e for e in entries if e["member_ref"] != winners[0]["member_ref"]]
        if others:
            other = data.draw(st.sampled_from(others))
            replaced = {"entry_id": other["entry_id"], "member_ref": other["member_ref"]}
            problems = tampered(lambda d: d["winners"][0].update(replaced))
            assert mentions(
                problems, "winners[0]: the result says slot 0 entry", "the algorithm picks slot 0"
            )
    if len(winners) >= 2:

        def swapped_slots(d: dict[str, Any]) -> None:
            first, second = d["winners"][0], d["winners"][1]
            first["slot"], second["slot"] = second["slot"], first["slot"]

        assert mentions(tampered(swapped_slots), "winners[0]: the result says slot 1")


def test_other_conventions_are_checked() -> None:
    """A short seed, a prize split over non-contiguous slots and malformed entry fields are reported."""
    seed = bytes(16)
    export: dict[str, Any] = {
        "draw_id": "d",
        "commitment": hashlib.sha256(seed).hexdigest(),
        "seed": seed.hex(),
        "beacon": None,
        "entries": [{"position": 0, "entry_id": "a:b", "member_ref": "XYZ"}],
        "entries_digest": "",
        "slots": [{"slot": 0, "prize_id": "p"}, {"slot": 1, "prize_id": "q"}, {"slot": 2, "prize_id": "p"}],
        "winners": [],
    }
    problems = verify(export)
    assert mentions(problems, "seed: 16 bytes")
    assert mentions(problems, "entries[0]", "contains ':'")
    assert mentions(problems, "entries[0]", "not 32 lower-case hex")
    assert mentions(problems, "slots[2]", "comes back")
    assert mentions(problems, "winners: slot 0 is missing")


KAT = {
    "draw_id": "draw_2024_summer",
    "commitment": "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd",
    "seed": bytes(range(32)).hex(),
    "beacon": "drand-quicknet-round-12345678",
    "entries": [
        {"position": i, "entry_id": f"ent_0{i + 1}", "member_ref": ref}
        for i, ref in enumerate(
            [
                "182043b5f9cf51121514bb84d4826bbf",
                "8e67fdf2dab8c8f136b08a07dc74699d",
                "182043b5f9cf51121514bb84d4826bbf",
                "aa00663484057339efc09b4017fe0cb7",
                "63df83aee0b44de8f3407cdaac6330b0",
                "8e67fdf2dab8c8f136b08a07dc74699d",
                "732de2de6bee9d5a721af437cf2d3c9d",
                "182043b5f9cf51121514bb84d4826bbf",
            ]
        )
    ],
    "entries_digest": "9ee7461cc540523825efdc968d180e999ff6540b9b93266e69966116139de713",
    "slots": [
        {"slot": 0, "prize_id": "voucher-10-eur"},
        {"slot": 1, "prize_id": "voucher-10-eur"},
        {"slot": 2, "prize_id": "points-500"},
    ],
    "winners": [
        {"slot": 0, "entry_id": "ent_04", "member_ref": "aa00663484057339efc09b4017fe0cb7"},
        {"slot": 1, "entry_id": "ent_06", "member_ref": "8e67fdf2dab8c8f136b08a07dc74699d"},
        {"slot": 2, "entry_id": "ent_03", "member_ref": "182043b5f9cf51121514bb84d4826bbf"},
    ],
}


def test_known_answer_vector_verifies_and_reports_a_member() -> None:
    """The docs/draws.md example verifies; alice sees her three entries and her prize."""
    assert verify(KAT) == []
    assert member_report(KAT, "member-alice") == (
        "member member-alice: member_ref 182043b5f9cf51121514bb84d4826bbf, 3 entries at positions 0, 2, 7;"
        " won slot 2 (points-500)"
    )
    assert member_report(KAT, "someone-else").endswith("0 entries; no prize")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("seed"), "missing keys"),
        (lambda d: d.update(extra=1), "unexpected keys"),
        (lambda d: d.update(seed="zz"), "seed is not hex"),
        (lambda d: d.update(beacon=5), "beacon must be"),
        (lambda d: d.update(entries={}), "entries must be a list"),
        (lambda d: d["entries"][0].update(position=True), r"entries\[0\].position must be an integer"),
        (lambda d: d["winners"][0].pop("slot"), r"winners\[0\] must be an object"),
        (lambda d: d.update(draw_id=None), "draw_id must be a string"),
    ],
)
def test_malformed_exports_are_refused(change: Any, message: str) -> None:
    """Not an export at all is MalformedResult (exit 2), not a list of mismatches."""
    data = copy.deepcopy(KAT)
    change(data)
    with pytest.raises(MalformedResult, match=message):
        verify(data)
    with pytest.raises(MalformedResult, match="top level"):
        verify([KAT])


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loyalty_clients.verify_draw", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def test_command_line_exit_codes(tmp_path: Path) -> None:
    """0 and an OK line when it verifies; 1 with one line per mismatch; 2 on unreadable input."""
    good = tmp_path / "good.json"
    good.write_text(json.dumps(KAT, indent=2))
    ok = run_cli(str(good), "--member-id", "member-carol")
    assert ok.returncode == 0, ok
    assert "OK draw draw_2024_summer" in ok.stdout
    assert "member-carol: member_ref aa00663484057339efc09b4017fe0cb7, 1 entries" in ok.stdout
    assert "beacon 'drand-quicknet-round-12345678' was mixed in" in ok.stdout

    bad = copy.deepcopy(KAT)
    bad["commitment"] = "0" * 64
    bad["winners"][0]["entry_id"] = "ent_05"  # type: ignore[index]
    tampered = tmp_path / "bad.json"
    tampered.write_text(json.dumps(bad))
    mismatch = run_cli(str(tampered))
    assert mismatch.returncode == 1, mismatch
    assert mismatch.stdout.splitlines() == [
        f"commitment: the result says {'0' * 64}, SHA-256 of the seed is {KAT['commitment']}",
        "winners[0]: the result says slot 0 entry ent_05 (aa00663484057339efc09b4017fe0cb7), "
        "the algorithm picks slot 0 entry ent_04 (aa00663484057339efc09b4017fe0cb7)",
    ]

    (tmp_path / "notjson.json").write_text("{")
    (tmp_path / "repeated.json").write_text('{"seed": "00", "seed": "01"}')
    (tmp_path / "nokeys.json").write_text("{}")
    for name, reason in [
        ("missing.json", "No such file"),
        ("notjson.json", "Expecting"),
        ("repeated.json", "repeated key(s) seed"),
        ("nokeys.json", "missing keys"),
    ]:
        unreadable = run_cli(str(tmp_path / name))
        assert unreadable.returncode == 2, unreadable
        assert reason in unreadable.stderr
        assert unreadable.stdout == ""


def test_verifier_imports_only_the_standard_library(tmp_path: Path) -> None:
    """It must run with nothing of ours installed: no site-packages at all, copied to a bare folder."""
    source = Path(verify_draw.__file__)
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            names = [node.module or ""]
        else:
            continue
        assert all(name.split(".")[0] in sys.stdlib_module_names for name in names), names
    shutil.copy(source, tmp_path / "verify_draw.py")
    (tmp_path / "result.json").write_text(json.dumps(KAT))
    bare = subprocess.run(
        [sys.executable, "-I", "-S", "verify_draw.py", "result.json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert bare.returncode == 0, bare
    assert bare.stdout.startswith("OK draw draw_2024_summer")
