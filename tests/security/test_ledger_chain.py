"""The tamper-evident ledger: each member's entries form a SHA-256 chain that `check` verifies.

The pure part (encoding, hashing, the walk that names the first broken link) is tested on its own; the
end-to-end tests write entries through the real RPCs, edit an old entry by SQL, and see `check` (the
function and the CLI) name the member and the entry_seq of the first broken link.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from loyalty.v1 import ledger_pb2
from sqlalchemy import select, text

from loyalty_service.db.tables import accounts, ledger_entries
from loyalty_service.ledger.chain import (
    GENESIS,
    ChainedEntry,
    canonical,
    entry_hash,
    first_broken_link,
    micros,
    programme_head,
)
from loyalty_service.ledger.check import broken_chains, check_ledger, ledger_head
from tests.foundation.helpers import cli, service_env
from tests.ledger.conftest import make_programme
from tests.support.api import Running, new_key

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _entry(seq: int, **fields: object) -> ChainedEntry:
    values: dict[str, object] = {
        "member_id": "mem_1",
        "entry_seq": seq,
        "entry_id": f"ent_{seq}",
        "entry_type": "earn",
        "points": 10 * seq,
        "balance_after": 10 * seq,
        "channel": "pos",
        "store_id": "s1",
        "source_type": "purchase",
        "source_ref": f"pur_{seq}",
        "reason": "",
        "occurred_at": T0 + timedelta(minutes=seq),
        "recorded_at": T0 + timedelta(minutes=seq, microseconds=7),
        "credential_id": "cred_1",
    }
    values.update(fields)
    return ChainedEntry(**values)  # type: ignore[arg-type]


def _chain(entries: list[ChainedEntry]) -> list[tuple[ChainedEntry, bytes]]:
    previous, chained = GENESIS, []
    for entry in entries:
        previous = entry_hash(previous, entry)
        chained.append((entry, previous))
    return chained


def test_micros_are_exact_integers() -> None:
    """Goal: times enter the hash as integer microseconds, exactly, on both sides of the epoch."""
    assert micros(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert micros(T0 + timedelta(microseconds=1)) - micros(T0) == 1
    assert micros(datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)) == -1


def test_every_field_is_covered_by_the_hash() -> None:
    """Goal: changing any one field of an entry changes its hash (nothing it says is left out)."""
    base = _entry(1)
    changed = {
        "member_id": "mem_2",
        "entry_seq": 2,
        "entry_id": "ent_x",
        "entry_type": "adjust",
        "points": 11,
        "balance_after": 11,
        "channel": "webshop",
        "store_id": "s2",
        "source_type": "refund",
        "source_ref": "pur_x",
        "reason": "typo",
        "occurred_at": base.occurred_at + timedelta(microseconds=1),
        "recorded_at": base.recorded_at + timedelta(microseconds=1),
        "credential_id": "cred_2",
    }
    assert set(changed) == set(ChainedEntry.__dataclass_fields__)
    reference = entry_hash(GENESIS, base)
    for name, value in changed.items():
        assert entry_hash(GENESIS, replace(base, **{name: value})) != reference, name  # type: ignore[arg-type]
    assert entry_hash(b"\x01" * 32, base) != reference, "the previous hash is covered"


@given(st.text(max_size=8), st.text(max_size=8))
def test_length_prefixes_keep_neighbouring_fields_apart(left: str, right: str) -> None:
    """Goal: moving characters from one text field to the next always changes the encoding."""
    a = _entry(1, source_type=left, source_ref=right)
    b = _entry(1, source_type=left + "x", source_ref=right)
    c = _entry(1, source_type=left, source_ref="x" + right)
    assert len({canonical(a), canonical(b), canonical(c)}) == 3


def test_first_broken_link_names_the_edited_entry() -> None:
    """Goal: an edit, a removed entry and a stale head are each reported at the first bad entry_seq."""
    entries = [_entry(seq) for seq in range(1, 6)]
    chained = _chain(entries)
    head = chained[-1][1]
    assert first_broken_link("mem_1", chained, head_hash=head, head_seq=5) is None

    edited = list(chained)
    edited[1] = (replace(entries[1], points=999), chained[1][1])
    link = first_broken_link("mem_1", edited, head_hash=head, head_seq=5)
    assert link is not None
    assert link.entry_seq == 2

    missing = [pair for pair in chained if pair[0].entry_seq != 3]
    link = first_broken_link("mem_1", missing, head_hash=head, head_seq=5)
    assert link is not None
    assert (link.entry_seq, link.problem) == (3, "entry 3 is missing")

    link = first_broken_link("mem_1", chained[:4], head_hash=head, head_seq=5)
    assert link is not None
    assert link.entry_seq == 5, "a removed newest entry: the account still names 5"
    link = first_broken_link("mem_1", chained, head_hash=GENESIS, head_seq=5)
    assert link is not None
    assert "head hash" in link.problem


def test_programme_head_is_order_free_and_covers_every_member() -> None:
    """Goal: the head depends on the set of (member, hash), not on the order it is read in."""
    heads = [("mem_a", b"\x01" * 32), ("mem_b", b"\x02" * 32)]
    assert programme_head(heads) == programme_head(list(reversed(heads)))
    assert programme_head(heads) != programme_head(heads[:1])
    assert programme_head(heads) != programme_head([("mem_a", b"\x01" * 32), ("mem_b", b"\x03" * 32)])


async def _member_with_history(running: Running) -> str:
    programme = await make_programme(running)
    member_id = await programme.member()
    for amount in (1000, 2500, 400):
        await programme.buy(member_id, amount)
    await programme.back.ledger.AdjustPoints(
        ledger_pb2.AdjustPointsRequest(
            idempotency_key=new_key(), member_id=member_id, points=-5, reason="goodwill correction"
        )
    )
    return member_id


async def test_check_finds_an_old_entry_edited_by_sql(isolated_service: Running) -> None:
    """Goal: the chain holds after real writes; editing entry 1 by SQL is found, at entry 1, by check."""
    member_id = await _member_with_history(isolated_service)
    other_id = await _member_with_history(isolated_service)
    async with isolated_service.engine.begin() as conn:
        assert await check_ledger(conn) == []
        rows = (
            await conn.execute(
                select(ledger_entries.c.entry_seq, ledger_entries.c.entry_hash)
                .where(ledger_entries.c.member_id == member_id)
                .order_by(ledger_entries.c.entry_seq)
            )
        ).all()
        assert [seq for seq, _ in rows] == [1, 2, 3, 4]
        head = (
            await conn.execute(select(accounts.c.last_entry_hash).where(accounts.c.member_id == member_id))
        ).scalar_one()
        assert head == rows[-1][1], "the account keeps the newest entry's hash"

    # A points edit that keeps every balance invariant true (entry 1 and the account move together
    # would need more edits): only the chain can see a changed reason or channel.
    async with isolated_service.engine.begin() as conn:
        await conn.execute(
            text("update ledger_entries set reason = 'edited' where member_id = :m and entry_seq = 1"),
            {"m": member_id},
        )
    async with isolated_service.engine.connect() as conn:
        links = await broken_chains(conn, limit=10)
        assert [(link.member_id, link.entry_seq) for link in links] == [(member_id, 1)]
        problems = await check_ledger(conn)
    assert problems == [f"member {member_id}: hash chain broken at entry_seq 1: {links[0].problem}"]
    assert links[0].problem.endswith("does not match its hash")
    assert other_id not in " ".join(problems)

    done = cli("check", env=service_env(isolated_service.url))
    assert done.returncode == 1
    assert f"member {member_id}: hash chain broken at entry_seq 1" in done.stdout


async def test_recomputing_one_entry_hash_still_breaks_the_next_link(isolated_service: Running) -> None:
    """Goal: a forger who edits entry 2 and rewrites its hash is caught at entry 3 (the next link)."""
    member_id = await _member_with_history(isolated_service)
    async with isolated_service.engine.begin() as conn:
        row = (
            await conn.execute(
                select(ledger_entries)
                .where(ledger_entries.c.member_id == member_id, ledger_entries.c.entry_seq.in_([1, 2]))
                .order_by(ledger_entries.c.entry_seq)
            )
        ).all()
        first, second = (r._mapping for r in row)
        fields = {name: second[name] for name in ChainedEntry.__dataclass_fields__}
        forged = entry_hash(first["entry_hash"], ChainedEntry(**{**fields, "source_ref": "forged"}))
        await conn.execute(
            text(
                "update ledger_entries set source_ref = 'forged', entry_hash = :h"
                " where member_id = :m and entry_seq = 2"
            ),
            {"h": forged, "m": member_id},
        )
        links = await broken_chains(conn, limit=10)
    assert [(link.member_id, link.entry_seq) for link in links] == [(member_id, 3)]


async def test_ledger_head_is_exported_and_moves_with_every_entry(isolated_service: Running) -> None:
    """Goal: `ledger-head` prints the programme head; it equals the function's and changes on a write."""
    programme = await make_programme(isolated_service)
    member_id = await programme.member()
    await programme.buy(member_id, 1000)
    env = service_env(isolated_service.url)
    done = cli("ledger-head", env=env)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    async with isolated_service.engine.connect() as conn:
        assert printed == await ledger_head(conn)
    assert printed["entries"] == 1
    assert len(bytes.fromhex(printed["head_sha256"])) == 32

    await programme.buy(member_id, 1000)
    again = json.loads(cli("ledger-head", env=env).stdout)
    assert again["entries"] == 2
    assert again["head_sha256"] != printed["head_sha256"]
    balance = await programme.balance(member_id)
    assert balance.available + balance.pending > 0
