"""Verifiable prize draws: the pure algorithm of docs/draws.md (commit, pseudonyms, digest, selection).

Flow, as the service layer uses it:

- creation: `seed = new_seed()`, publish `commitment(seed)`; keep the seed secret until the run;
- each entry: store `Entry(entry_id, member_ref(seed, member_id))` (the member id stays private);
- close: `positioned = order_entries(entries)`, publish `entries_digest(positioned)`;
- run: `run_draw(draw_id=..., seed=..., beacon=..., entries=positioned, slots=expand_slots(prizes))`, compare
  its `entries_digest` with the published one, grant `result.winners`, export `result.to_json_dict()`.

`clients/loyalty_clients/verify_draw.py` re-implements the same algorithm with the standard library alone, on
purpose: it is the check that needs nothing of ours, so it must not share code with this module.
Selection here walks the pool with a Fenwick tree (fast for large draws); the verifier rebuilds a list
(obviously correct); the tests hold the two to the same answers."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "MEMBER_REF_HEX_CHARS",
    "SEED_BYTES",
    "UNIFORM_ATTEMPTS_MAX",
    "DrawResult",
    "Entry",
    "PositionedEntry",
    "Slot",
    "Winner",
    "commitment",
    "draw_key",
    "entries_digest",
    "expand_slots",
    "member_ref",
    "new_seed",
    "order_entries",
    "run_draw",
    "select_winners",
    "uniform",
]

SEED_BYTES = 32
"""Length of the secret seed drawn at creation."""
MEMBER_REF_HEX_CHARS = 32
"""A member_ref is the first 32 hex characters (128 bits) of HMAC-SHA256(seed, member_id)."""
UNIFORM_ATTEMPTS_MAX = 1024
"""Bound on rejection attempts (each fails with chance < 1/2): reaching it means a broken HMAC, so raise."""

_MEMBER_REF = re.compile(r"^[0-9a-f]{32}$")
_TWO_64 = 2**64


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry as recorded while the window is open."""

    entry_id: str
    """Unique within the draw; no ':' or newline (they would make the digest lines ambiguous)."""
    member_ref: str
    """The entrant's pseudonym, `member_ref(seed, member_id)`."""


@dataclass(frozen=True, slots=True)
class PositionedEntry:
    """An entry of the frozen list: `position` is its index in entry_id order, 0..N-1."""

    position: int
    entry_id: str
    member_ref: str


@dataclass(frozen=True, slots=True)
class Slot:
    """Prize slot `slot` (k = 0..) awards one unit of `prize_id`."""

    slot: int
    prize_id: str


@dataclass(frozen=True, slots=True)
class Winner:
    """The entry that won slot `slot`; `prize_id` is the slot's prize (not part of the export)."""

    slot: int
    prize_id: str
    entry_id: str
    member_ref: str


@dataclass(frozen=True, slots=True)
class DrawResult:
    """Everything needed to verify a run; `to_json_dict()` is the export format of docs/draws.md."""

    draw_id: str
    commitment: str
    seed: bytes
    beacon: str | None
    entries: tuple[PositionedEntry, ...]
    entries_digest: str
    slots: tuple[Slot, ...]
    winners: tuple[Winner, ...]

    def to_json_dict(self) -> dict[str, object]:
        """The export of docs/draws.md: exactly its eight keys, seed as hex."""
        return {
            "draw_id": self.draw_id,
            "commitment": self.commitment,
            "seed": self.seed.hex(),
            "beacon": self.beacon,
            "entries": [
                {"position": e.position, "entry_id": e.entry_id, "member_ref": e.member_ref}
                for e in self.entries
            ],
            "entries_digest": self.entries_digest,
            "slots": [{"slot": s.slot, "prize_id": s.prize_id} for s in self.slots],
            "winners": [
                {"slot": w.slot, "entry_id": w.entry_id, "member_ref": w.member_ref} for w in self.winners
            ],
        }


def new_seed() -> bytes:
    """A fresh secret seed: 32 bytes from `secrets`."""
    return secrets.token_bytes(SEED_BYTES)


def _check_seed(seed: bytes) -> None:
    if len(seed) != SEED_BYTES:
        raise ValueError(f"a seed is {SEED_BYTES} bytes, got {len(seed)}")


def commitment(seed: bytes) -> str:
    """hex(SHA-256(seed)), lower case: published at creation, checked against the seed revealed at the run."""
    _check_seed(seed)
    return hashlib.sha256(seed).hexdigest()


def member_ref(seed: bytes, member_id: str) -> str:
    """hex(HMAC-SHA256(key=seed, msg=member_id as UTF-8))[:32]: the entrant's pseudonym in this draw."""
    _check_seed(seed)
    return hmac.new(seed, member_id.encode(), hashlib.sha256).hexdigest()[:MEMBER_REF_HEX_CHARS]


def order_entries(entries: Iterable[Entry]) -> tuple[PositionedEntry, ...]:
    """The frozen list: entries sorted by entry_id (code point order), positions 0..N-1.

    Raises ValueError on a duplicate or unusable entry_id or a malformed member_ref.
    """
    ordered = sorted(entries, key=lambda entry: entry.entry_id)
    for entry in ordered:
        if not entry.entry_id or ":" in entry.entry_id or "\n" in entry.entry_id:
            raise ValueError(f"entry_id {entry.entry_id!r} must be non-empty, without ':' or newline")
        if not _MEMBER_REF.match(entry.member_ref):
            raise ValueError(f"member_ref {entry.member_ref!r} of {entry.entry_id} is not 32 lower-case hex")
    for before, after in itertools.pairwise(ordered):
        if before.entry_id == after.entry_id:
            raise ValueError(f"duplicate entry_id {before.entry_id!r}")
    return tuple(PositionedEntry(i, e.entry_id, e.member_ref) for i, e in enumerate(ordered))


def entries_digest(entries: Iterable[PositionedEntry]) -> str:
    """hex(SHA-256(concatenation of f"{position}:{entry_id}:{member_ref}\\n" as UTF-8)); N = 0 hashes b""."""
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(f"{entry.position}:{entry.entry_id}:{entry.member_ref}\n".encode())
    return digest.hexdigest()


def draw_key(seed: bytes, beacon: str | None) -> bytes:
    """The selection key: the seed itself without a beacon, SHA-256(seed + beacon as UTF-8) with one.

    An empty string is a beacon (it gives SHA-256(seed)); only None means "no beacon".
    """
    _check_seed(seed)
    if beacon is None:
        return seed
    return hashlib.sha256(seed + beacon.encode()).digest()


def expand_slots(prizes: Sequence[tuple[str, int]]) -> tuple[Slot, ...]:
    """Prizes `(prize_id, quantity)` expanded by quantity, in prize order, numbered 0..

    Each prize_id appears once with a quantity >= 1 (so a prize's slots are contiguous); ValueError otherwise.
    """
    seen: set[str] = set()
    slots: list[Slot] = []
    for prize_id, quantity in prizes:
        if prize_id in seen:
            raise ValueError(f"prize {prize_id!r} is listed twice; give it one quantity")
        if quantity < 1:
            raise ValueError(f"prize {prize_id!r} has quantity {quantity}; at least 1")
        seen.add(prize_id)
        first = len(slots)
        slots.extend(Slot(first + i, prize_id) for i in range(quantity))
    return tuple(slots)


def uniform(key: bytes, draw_id: str, slot: int, pool_size: int) -> int:
    """An unbiased index in [0, pool_size) for slot k, by rejection sampling on HMAC-SHA256 output.

    Attempt a = 0, 1, ...: x = first 8 bytes (big-endian) of HMAC-SHA256(key, f"{draw_id}:{k}:{a}");
    accept when x < 2**64 - (2**64 % n) and return x % n.
    """
    if not 1 <= pool_size <= _TWO_64:
        raise ValueError(f"pool size {pool_size} is outside 1..2**64")
    limit = _TWO_64 - (_TWO_64 % pool_size)
    for attempt in range(UNIFORM_ATTEMPTS_MAX):
        mac = hmac.new(key, f"{draw_id}:{slot}:{attempt}".encode(), hashlib.sha256).digest()
        x = int.from_bytes(mac[:8], "big")
        if x < limit:
            return x % pool_size
    raise RuntimeError(f"uniform: {UNIFORM_ATTEMPTS_MAX} rejections in a row; the HMAC is broken")


class _Pool:
    """The entries still in play, in position order: i-th lookup and removal in O(log N) (a Fenwick tree)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.tree = [0] * (size + 1)
        for i in range(1, size + 1):  # linear build: every position starts in play
            self.tree[i] += 1
            parent = i + (i & -i)
            if parent <= size:
                self.tree[parent] += self.tree[i]
        self.remaining = size
        self.top_bit = 1 << (size.bit_length() - 1) if size else 0

    def remove(self, position: int) -> None:
        i = position + 1
        while i <= self.size:
            self.tree[i] -= 1
            i += i & -i
        self.remaining -= 1

    def position_of(self, index: int) -> int:
        """The position of the index-th (0-based) entry still in play."""
        node, rest, step = 0, index + 1, self.top_bit
        while step:
            ahead = node + step
            if ahead <= self.size and self.tree[ahead] < rest:
                node, rest = ahead, rest - self.tree[ahead]
            step >>= 1
        return node  # 1-based node + 1, minus 1 for the 0-based position


def select_winners(
    *, key: bytes, draw_id: str, entries: Sequence[PositionedEntry], slots: Sequence[Slot]
) -> tuple[Winner, ...]:
    """One winner per slot, in slot order: pool[uniform(key, draw_id, k, len(pool))], then every entry of
    the winner's member_ref leaves the pool; stops early when the pool is empty."""
    for expected, entry in enumerate(entries):
        if entry.position != expected:
            raise ValueError(f"entry {entry.entry_id!r} has position {entry.position}, expected {expected}")
    for expected, slot in enumerate(slots):
        if slot.slot != expected:
            raise ValueError(f"slot {slot.slot} is at index {expected}")
    positions_by_ref: dict[str, list[int]] = {}
    for entry in entries:
        positions_by_ref.setdefault(entry.member_ref, []).append(entry.position)
    pool = _Pool(len(entries))
    winners: list[Winner] = []
    for slot in slots:
        if pool.remaining == 0:
            break
        index = uniform(key, draw_id, slot.slot, pool.remaining)
        chosen = entries[pool.position_of(index)]
        winners.append(Winner(slot.slot, slot.prize_id, chosen.entry_id, chosen.member_ref))
        for position in positions_by_ref.pop(chosen.member_ref):
            pool.remove(position)
    return tuple(winners)


def run_draw(
    *,
    draw_id: str,
    seed: bytes,
    beacon: str | None,
    entries: Sequence[PositionedEntry],
    slots: Sequence[Slot],
) -> DrawResult:
    """The whole run from the frozen entries: recomputes commitment and digest (the caller compares them
    with what it published) and selects the winners with `draw_key(seed, beacon)`."""
    winners = select_winners(key=draw_key(seed, beacon), draw_id=draw_id, entries=entries, slots=slots)
    return DrawResult(
        draw_id=draw_id,
        commitment=commitment(seed),
        seed=seed,
        beacon=beacon,
        entries=tuple(entries),
        entries_digest=entries_digest(entries),
        slots=tuple(slots),
        winners=winners,
    )
