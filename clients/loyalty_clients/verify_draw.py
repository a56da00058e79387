"""Verify an exported prize draw with nothing but the Python standard library.

    python -m loyalty_clients.verify_draw result.json [--member-id ID]

Checks the commitment against the revealed seed, the entry list (order, positions) against its digest, and
recomputes every winner. Exit 0 when everything matches; 1 with one line per mismatch on stdout; 2 when the
file cannot be read or is not a draw export (reason on stderr). `--member-id` also reports that member's
pseudonym, entries and wins, so an entrant can check that they were in the draw.

This module deliberately re-implements the algorithm of docs/draws.md instead of importing
`loyalty_service.draws.domain`: it is the check that needs nothing of ours, so it imports only the standard
library (not even other loyalty_clients modules) and can be copied out and run on its own.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["EXPORT_KEYS", "MalformedResult", "load_result", "main", "member_report", "verify"]

EXPORT_KEYS = ("draw_id", "commitment", "seed", "beacon", "entries", "entries_digest", "slots", "winners")
_ENTRY_KEYS = {"position": int, "entry_id": str, "member_ref": str}
_SLOT_KEYS = {"slot": int, "prize_id": str}
_WINNER_KEYS = {"slot": int, "entry_id": str, "member_ref": str}
_SEED_BYTES = 32
_MEMBER_REF = re.compile(r"^[0-9a-f]{32}$")
_UNIFORM_ATTEMPTS_MAX = 1024  # each attempt fails with probability < 1/2; 1024 failures means a broken HMAC


class MalformedResult(ValueError):
    """The input is not a draw export (unreadable, not JSON, missing or extra keys, wrong types)."""


@dataclass(frozen=True)
class _Draw:
    draw_id: str
    commitment: str
    seed: bytes
    beacon: str | None
    entries: list[tuple[int, str, str]]  # (position, entry_id, member_ref) as listed
    entries_digest: str
    slots: list[tuple[int, str]]  # (slot, prize_id) as listed
    winners: list[tuple[int, str, str]]  # (slot, entry_id, member_ref) as listed


def load_result(path: str) -> object:
    """The parsed JSON of `path`; MalformedResult if it cannot be read or parsed (or repeats a key)."""

    def no_repeats(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [key for key, _ in pairs]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise MalformedResult(f"repeated key(s) {', '.join(repeated)}")
        return dict(pairs)

    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file, object_pairs_hook=no_repeats)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedResult(str(error)) from error


def _record(value: object, where: str, fields: dict[str, type]) -> tuple[object, ...]:
    if not isinstance(value, dict) or set(value) != set(fields):
        raise MalformedResult(f"{where} must be an object with exactly the keys {', '.join(fields)}")
    for name, kind in fields.items():
        # bool is an int in Python, but not in JSON.
        if not isinstance(value[name], kind) or isinstance(value[name], bool):
            raise MalformedResult(f"{where}.{name} must be {'a string' if kind is str else 'an integer'}")
    return tuple(value[name] for name in fields)


def _parse(data: object) -> _Draw:
    if not isinstance(data, dict):
        raise MalformedResult("the top level must be a JSON object")
    missing = [key for key in EXPORT_KEYS if key not in data]
    extra = sorted(set(data) - set(EXPORT_KEYS))
    if missing or extra:
        raise MalformedResult(f"missing keys {missing}, unexpected keys {extra}")
    for key in ("draw_id", "commitment", "seed", "entries_digest"):
        if not isinstance(data[key], str):
            raise MalformedResult(f"{key} must be a string")
    if data["beacon"] is not None and not isinstance(data["beacon"], str):
        raise MalformedResult("beacon must be a string or null")
    try:
        seed = bytes.fromhex(data["seed"])
    except ValueError as error:
        raise MalformedResult(f"seed is not hex: {error}") from error
    lists = {}
    for key, fields in (("entries", _ENTRY_KEYS), ("slots", _SLOT_KEYS), ("winners", _WINNER_KEYS)):
        if not isinstance(data[key], list):
            raise MalformedResult(f"{key} must be a list")
        lists[key] = [_record(item, f"{key}[{i}]", fields) for i, item in enumerate(data[key])]
    return _Draw(
        draw_id=data["draw_id"],
        commitment=data["commitment"],
        seed=seed,
        beacon=data["beacon"],
        entries=lists["entries"],  # type: ignore[arg-type]  # shapes checked by _record
        entries_digest=data["entries_digest"],
        slots=lists["slots"],  # type: ignore[arg-type]
        winners=lists["winners"],  # type: ignore[arg-type]
    )


def _uniform(key: bytes, draw_id: str, k: int, n: int) -> int:
    limit = 2**64 - (2**64 % n)
    for attempt in range(_UNIFORM_ATTEMPTS_MAX):
        h = hmac.new(key, f"{draw_id}:{k}:{attempt}".encode(), hashlib.sha256).digest()
        x = int.from_bytes(h[:8], "big")
        if x < limit:
            return x % n
    raise RuntimeError("uniform: too many rejections")


def _expected_winners(draw: _Draw) -> list[tuple[int, str, str]]:
    """The algorithm itself, written for clarity: rebuild the pool after every win."""
    key = draw.seed if draw.beacon is None else hashlib.sha256(draw.seed + draw.beacon.encode()).digest()
    pool = [(entry_id, ref) for _, entry_id, ref in draw.entries]
    winners = []
    for k in range(len(draw.slots)):
        if not pool:
            break
        entry_id, ref = pool[_uniform(key, draw.draw_id, k, len(pool))]
        winners.append((k, entry_id, ref))
        pool = [entry for entry in pool if entry[1] != ref]
    return winners


def _entry_problems(draw: _Draw) -> list[str]:
    problems = []
    previous: str | None = None
    for i, (position, entry_id, ref) in enumerate(draw.entries):
        if position != i:
            problems.append(f"entries[{i}]: position is {position}, expected {i}")
        if previous is not None and not previous < entry_id:
            problems.append(f"entries[{i}]: entry_id {entry_id!r} does not come after {previous!r}")
        if not entry_id or ":" in entry_id or "\n" in entry_id:
            problems.append(f"entries[{i}]: entry_id {entry_id!r} is empty or contains ':' or a newline")
        if not _MEMBER_REF.match(ref):
            problems.append(f"entries[{i}]: member_ref {ref!r} is not 32 lower-case hex digits")
        previous = entry_id
    digest = hashlib.sha256()
    for position, entry_id, ref in draw.entries:
        digest.update(f"{position}:{entry_id}:{ref}\n".encode())
    if digest.hexdigest() != draw.entries_digest:
        problems.append(
            f"entries_digest: the result says {draw.entries_digest}, "
            f"the {len(draw.entries)} listed entries give {digest.hexdigest()}"
        )
    return problems


def _slot_problems(draw: _Draw) -> list[str]:
    problems = []
    finished: set[str] = set()
    for i, (slot, prize_id) in enumerate(draw.slots):
        if slot != i:
            problems.append(f"slots[{i}]: slot is {slot}, expected {i}")
        if prize_id in finished:
            problems.append(f"slots[{i}]: prize {prize_id!r} comes back after another prize")
        if i > 0 and draw.slots[i - 1][1] != prize_id:
            finished.add(draw.slots[i - 1][1])
    return problems


def _winner_problems(draw: _Draw) -> list[str]:
    expected = _expected_winners(draw)
    problems = []
    for i in range(max(len(expected), len(draw.winners))):
        if i >= len(draw.winners):
            k, entry_id, ref = expected[i]
            problems.append(f"winners: slot {k} is missing; the algorithm picks entry {entry_id} ({ref})")
        elif i >= len(expected):
            k, entry_id, ref = draw.winners[i]
            problems.append(f"winners[{i}]: slot {k} entry {entry_id} ({ref}) is extra; the algorithm stops")
        elif draw.winners[i] != expected[i]:
            k, entry_id, ref = draw.winners[i]
            want_k, want_id, want_ref = expected[i]
            problems.append(
                f"winners[{i}]: the result says slot {k} entry {entry_id} ({ref}), "
                f"the algorithm picks slot {want_k} entry {want_id} ({want_ref})"
            )
    return problems


def verify(result: object) -> list[str]:
    """One line per mismatch in a parsed export (empty when it verifies); MalformedResult if not an export."""
    draw = _parse(result)
    problems = []
    if len(draw.seed) != _SEED_BYTES:
        problems.append(f"seed: {len(draw.seed)} bytes, the algorithm uses {_SEED_BYTES}")
    sha = hashlib.sha256(draw.seed).hexdigest()
    if sha != draw.commitment:
        problems.append(f"commitment: the result says {draw.commitment}, SHA-256 of the seed is {sha}")
    return problems + _entry_problems(draw) + _slot_problems(draw) + _winner_problems(draw)


def member_report(result: object, member_id: str) -> str:
    """What the draw holds for one member: their member_ref, entries and wins (for an entrant's own check)."""
    draw = _parse(result)
    ref = hmac.new(draw.seed, member_id.encode(), hashlib.sha256).hexdigest()[:32]
    positions = [position for position, _, entry_ref in draw.entries if entry_ref == ref]
    prizes = dict(draw.slots)
    wins = [f"slot {k} ({prizes.get(k, '?')})" for k, _, entry_ref in draw.winners if entry_ref == ref]
    return (
        f"member {member_id}: member_ref {ref}, {len(positions)} entries"
        + (f" at positions {', '.join(map(str, positions))}" if positions else "")
        + (f"; won {', '.join(wins)}" if wins else "; no prize")
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (0 verified, 1 mismatches, 2 unreadable input)."""
    parser = argparse.ArgumentParser(
        prog="python -m loyalty_clients.verify_draw", description=__doc__.split("\n")[0]
    )
    parser.add_argument("result", help="the JSON written by `loyalty-service draws export DRAW_ID`")
    parser.add_argument("--member-id", help="also show this member's pseudonym, entries and wins")
    args = parser.parse_args(argv)
    try:
        data = load_result(args.result)
        problems = verify(data)
        report = member_report(data, args.member_id) if args.member_id is not None else None
    except MalformedResult as error:
        print(f"verify_draw: {args.result} is not a readable draw export: {error}", file=sys.stderr)
        return 2
    for line in problems:
        print(line)
    if not problems:
        draw = _parse(data)
        print(
            f"OK draw {draw.draw_id}: commitment, entries digest ({len(draw.entries)} entries) "
            f"and {len(draw.winners)} winners for {len(draw.slots)} slots match"
        )
        if draw.beacon is not None:
            print(f"beacon {draw.beacon!r} was mixed in: compare it with its public source")
    if report is not None:
        print(report)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
