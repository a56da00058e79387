"""The tamper-evident ledger: each member's entries form a SHA-256 hash chain. Pure: no I/O.

    entry_hash = SHA-256(previous entry_hash || canonical(entry)),  the first entry's previous hash = GENESIS

`canonical` is a fixed-order, length-prefixed encoding of everything an entry says (member, sequence, id,
type, points, balance after, channel, store, source, reason, occurred_at and recorded_at in integer
microseconds since the epoch, credential), so no two different entries encode alike and the encoding
does not depend on Python, the driver or the database's text formats. Editing, inserting or removing an
entry changes every hash after it; the member's newest hash is kept on its `accounts` row, and
`programme_head` folds all of those into one hash that can be anchored outside the database (printed
by `loyalty-service ledger-head`): whoever holds an anchored head can tell whether the history it covers
was rewritten later, even by someone with write access to the database.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "GENESIS",
    "HASH_VERSION",
    "BrokenLink",
    "ChainedEntry",
    "canonical",
    "entry_hash",
    "first_broken_link",
    "micros",
    "programme_head",
]

GENESIS = bytes(32)
"""The previous hash of a member's first entry."""
HASH_VERSION = b"loyalty.ledger.chain.v1\x00"
"""Domain separation: a future encoding changes this, never silently the bytes of v1."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainedEntry:
    """What the hash of one entry covers (the stored row's fields, nothing derived)."""

    member_id: str
    entry_seq: int
    entry_id: str
    entry_type: str
    points: int
    balance_after: int
    channel: str
    store_id: str
    source_type: str
    source_ref: str
    reason: str
    occurred_at: datetime
    recorded_at: datetime
    credential_id: str


def micros(moment: datetime) -> int:
    """Integer microseconds since the Unix epoch (exact: no float on the way)."""
    assert moment.tzinfo is not None, "ledger times are timezone-aware"
    return (moment - _EPOCH) // _MICRO


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    return struct.pack(">I", len(data)) + data


def _int(value: int) -> bytes:
    return struct.pack(">q", value)


def canonical(entry: ChainedEntry) -> bytes:
    """The entry's bytes as hashed: fixed field order, strings length-prefixed, integers 8-byte signed."""
    return b"".join(
        (
            HASH_VERSION,
            _text(entry.member_id),
            _int(entry.entry_seq),
            _text(entry.entry_id),
            _text(entry.entry_type),
            _int(entry.points),
            _int(entry.balance_after),
            _text(entry.channel),
            _text(entry.store_id),
            _text(entry.source_type),
            _text(entry.source_ref),
            _text(entry.reason),
            _int(micros(entry.occurred_at)),
            _int(micros(entry.recorded_at)),
            _text(entry.credential_id),
        )
    )


def entry_hash(previous: bytes, entry: ChainedEntry) -> bytes:
    assert len(previous) == 32, "a previous hash is a SHA-256 digest"
    return hashlib.sha256(previous + canonical(entry)).digest()


@dataclass(frozen=True, slots=True)
class BrokenLink:
    """The first place a member's chain does not hold, and why."""

    member_id: str
    entry_seq: int
    """The first entry whose stored hash is wrong (or the missing sequence number); for a head that
    does not match its last entry, the last sequence number the account names."""
    problem: str


def first_broken_link(
    member_id: str,
    entries: Iterable[tuple[ChainedEntry, bytes]],
    *,
    head_hash: bytes,
    head_seq: int,
) -> BrokenLink | None:
    """Walk one member's (entry, stored hash) pairs in sequence order; None when the chain holds.

    Checks that sequence numbers run 1, 2, ... without gaps, that each stored hash is the hash of its
    entry over the previous stored hash, and that the account's head (last hash and sequence) names
    the last entry. Stops at the first problem: everything after it is suspect anyway.
    """
    previous, expected_seq = GENESIS, 1
    for entry, stored in entries:
        if entry.entry_seq != expected_seq:
            return BrokenLink(member_id, expected_seq, f"entry {expected_seq} is missing")
        if entry_hash(previous, entry) != stored:
            return BrokenLink(
                member_id,
                entry.entry_seq,
                f"entry {entry.entry_seq} ({entry.entry_id}) does not match its hash",
            )
        previous, expected_seq = stored, expected_seq + 1
    last_seq = expected_seq - 1
    if last_seq != head_seq:
        return BrokenLink(
            member_id, last_seq + 1, f"account names {head_seq} entries, the chain has {last_seq}"
        )
    if previous != head_hash:
        return BrokenLink(member_id, head_seq, "account head hash does not match the last entry")
    return None


def programme_head(heads: Iterable[tuple[str, bytes]]) -> bytes:
    """SHA-256 over every (member_id, last entry hash), sorted by member id: the whole ledger in 32 bytes."""
    digest = hashlib.sha256(b"loyalty.ledger.head.v1\x00")
    for member_id, head in sorted(heads):
        assert len(head) == 32
        digest.update(_text(member_id) + head)
    return digest.digest()
