"""Core statements for draws on a connection the caller owns (never commits).

Locks on a draw row (docs/draws.md, "Service"): entry paths take `FOR SHARE SKIP LOCKED`, so they never
wait on the row (a draw being frozen or run counts as closed) and can hold member locks safely; freezing,
running and updating take `FOR UPDATE`, which waits for entries in flight to commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db import fast
from loyalty_service.db.tables_draws import draw_entries, draw_members, draw_winners, draws
from loyalty_service.draws.rules import DrawSpec
from loyalty_service.kernel.ids import new_id
from loyalty_service.program import revisions

__all__ = [
    "DrawRow",
    "MemberRow",
    "WinnerRow",
    "add_entries",
    "entries_of_source",
    "freeze",
    "get_draw",
    "insert_draw",
    "insert_winner",
    "list_draws",
    "mark_drawn",
    "member_ids_of_entries",
    "member_row",
    "ordered_entries",
    "spend_draws_open_at",
    "update_spec",
    "winners",
]

Lock = Literal["update", "share"] | None


@dataclass(frozen=True, slots=True)
class DrawRow:
    draw_id: str
    spec: DrawSpec
    seed: bytes
    commitment: str
    entry_count: int | None
    entries_digest: str | None
    frozen_at: datetime | None
    beacon: str | None
    drawn_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MemberRow:
    member_ref: str
    entry_count: int
    direct_entries: int
    spend_minor: int
    spend_entries: int


@dataclass(frozen=True, slots=True)
class WinnerRow:
    slot: int
    prize_id: str
    entry_id: str
    member_ref: str
    member_id: str
    voucher_id: str | None
    ledger_entry_id: str | None
    points: int


def _draw(row: object) -> DrawRow:
    return _draw_of(row._mapping)  # type: ignore[attr-defined]


def _draw_of(m: Mapping[str, Any]) -> DrawRow:
    spec = DrawSpec.from_json(m["spec"], opens_at=m["opens_at"], closes_at=m["closes_at"])
    values = {name: m[name] for name in DrawRow.__slots__ if name not in ("spec", "seed")}
    return DrawRow(spec=spec, seed=bytes(m["seed"]), **values)


def _member(row: object) -> MemberRow:
    m = row._mapping  # type: ignore[attr-defined]
    return MemberRow(*(m[name] for name in MemberRow.__slots__))


async def insert_draw(
    conn: AsyncConnection, *, draw_id: str, spec: DrawSpec, seed: bytes, commitment: str, now: datetime
) -> DrawRow:
    row = (
        await conn.execute(
            insert(draws)
            .values(
                draw_id=draw_id,
                spec=spec.to_json(),
                opens_at=spec.opens_at,
                closes_at=spec.closes_at,
                seed=seed,
                commitment=commitment,
                created_at=now,
                updated_at=now,
            )
            .returning(draws)
        )
    ).one()
    await revisions.bump(conn, "draws_revision", now=now)
    return _draw(row)


async def update_spec(conn: AsyncConnection, *, draw_id: str, spec: DrawSpec, now: datetime) -> DrawRow:
    row = (
        await conn.execute(
            update(draws)
            .where(draws.c.draw_id == draw_id)
            .values(spec=spec.to_json(), opens_at=spec.opens_at, closes_at=spec.closes_at, updated_at=now)
            .returning(draws)
        )
    ).one()
    await revisions.bump(conn, "draws_revision", now=now)
    return _draw(row)


async def get_draw(conn: AsyncConnection, draw_id: str, *, lock: Lock = None) -> DrawRow | None:
    """The draw; with lock="share" None also when another transaction is freezing or running it."""
    query = select(draws).where(draws.c.draw_id == draw_id)
    if lock == "update":
        query = query.with_for_update()
    elif lock == "share":
        query = query.with_for_update(read=True, skip_locked=True)
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else _draw(row)


async def list_draws(
    conn: AsyncConnection, *, opened_by: datetime | None = None, open_at: datetime | None = None
) -> list[DrawRow]:
    """Draws newest window first; `opened_by`: opened at or before it; `open_at`: window holds it."""
    query = select(draws).order_by(draws.c.opens_at.desc(), draws.c.draw_id)
    if opened_by is not None:
        query = query.where(draws.c.opens_at <= opened_by)
    if open_at is not None:
        query = query.where(draws.c.opens_at <= open_at, draws.c.closes_at > open_at)
    return [_draw(row) for row in await conn.execute(query)]


# On every purchase (the spend source): the draws that may count purchases, cached per process by
# `program_settings.draws_revision`, which every insert and spec update below bumps. A draw frozen later
# stays in the cache; `draws.api.on_purchase` re-reads each candidate under its lock anyway.
_SPEND_CANDIDATES = (
    f"select {', '.join(c.name for c in draws.c)} from draws where frozen_at is null "
    "order by opens_at desc, draw_id"
)


async def _spend_candidates(conn: AsyncConnection) -> tuple[DrawRow, ...]:
    rows = [_draw_of(row) for row in await fast.fetch(conn, _SPEND_CANDIDATES)]
    return tuple(row for row in rows if row.spec.sources.spend is not None)


_spend_draws = revisions.RevisionCache("draws_revision", _spend_candidates)


async def spend_draws_open_at(conn: AsyncConnection, at: datetime) -> list[DrawRow]:
    """The unfrozen draws with a spend source whose window holds `at`, newest window first (the order of
    `list_draws`); no statement while no draw changed since this process last looked."""
    return [d for d in await _spend_draws.get(conn) if d.spec.opens_at <= at < d.spec.closes_at]


async def member_row(conn: AsyncConnection, draw_id: str, member_id: str) -> MemberRow | None:
    row = (
        await conn.execute(
            select(draw_members).where(
                draw_members.c.draw_id == draw_id, draw_members.c.member_id == member_id
            )
        )
    ).one_or_none()
    if row is None:
        return None
    return _member(row)


async def add_entries(
    conn: AsyncConnection,
    *,
    draw_id: str,
    member_id: str,
    member_ref: str,
    count: int,
    source_type: str,
    source_ref: str,
    now: datetime,
    direct: int = 0,
    spend_minor: int = 0,
) -> tuple[list[str], MemberRow]:
    """`count` new entries (may be 0) and the member's counters after them, in one upsert that locks the
    member's `draw_members` row (so per-member limits hold under concurrency)."""
    counters = (
        await conn.execute(
            pg_insert(draw_members)
            .values(
                draw_id=draw_id,
                member_id=member_id,
                member_ref=member_ref,
                entry_count=count,
                direct_entries=direct,
                spend_minor=spend_minor,
                spend_entries=count if spend_minor else 0,
            )
            .on_conflict_do_update(
                index_elements=[draw_members.c.draw_id, draw_members.c.member_id],
                set_={
                    "entry_count": draw_members.c.entry_count + count,
                    "direct_entries": draw_members.c.direct_entries + direct,
                    "spend_minor": draw_members.c.spend_minor + spend_minor,
                    "spend_entries": draw_members.c.spend_entries + (count if spend_minor else 0),
                },
            )
            .returning(draw_members)
        )
    ).one()
    ids = sorted(new_id("den") for _ in range(count))
    if ids:
        await conn.execute(
            insert(draw_entries),
            [
                {
                    "draw_id": draw_id,
                    "entry_id": entry_id,
                    "member_id": member_id,
                    "member_ref": member_ref,
                    "source_type": source_type,
                    "source_ref": source_ref,
                    "created_at": now,
                }
                for entry_id in ids
            ],
        )
    return ids, _member(counters)


async def entries_of_source(
    conn: AsyncConnection, *, draw_id: str, member_id: str, source_type: str, source_ref: str
) -> list[str]:
    rows = await conn.execute(
        select(draw_entries.c.entry_id)
        .where(
            draw_entries.c.draw_id == draw_id,
            draw_entries.c.source_type == source_type,
            draw_entries.c.source_ref == source_ref,
            draw_entries.c.member_id == member_id,
        )
        .order_by(draw_entries.c.entry_id)
    )
    return [r.entry_id for r in rows]


async def ordered_entries(conn: AsyncConnection, draw_id: str) -> list[tuple[str, str]]:
    """(entry_id, member_ref) of every entry, in entry_id order (byte order: `collate "C"`)."""
    rows = await conn.execute(
        select(draw_entries.c.entry_id, draw_entries.c.member_ref)
        .where(draw_entries.c.draw_id == draw_id)
        .order_by(draw_entries.c.entry_id.collate("C"))
    )
    return [(r.entry_id, r.member_ref) for r in rows]


async def freeze(
    conn: AsyncConnection, *, draw_id: str, entry_count: int, entries_digest: str, now: datetime
) -> None:
    await conn.execute(
        update(draws)
        .where(draws.c.draw_id == draw_id, draws.c.frozen_at.is_(None))
        .values(entry_count=entry_count, entries_digest=entries_digest, frozen_at=now, updated_at=now)
    )


async def mark_drawn(conn: AsyncConnection, *, draw_id: str, beacon: str | None, now: datetime) -> None:
    await conn.execute(
        update(draws)
        .where(draws.c.draw_id == draw_id, draws.c.drawn_at.is_(None))
        .values(beacon=beacon, drawn_at=now, updated_at=now)
    )


async def member_ids_of_entries(
    conn: AsyncConnection, draw_id: str, entry_ids: Sequence[str]
) -> dict[str, str]:
    rows = await conn.execute(
        select(draw_entries.c.entry_id, draw_entries.c.member_id).where(
            draw_entries.c.draw_id == draw_id, draw_entries.c.entry_id.in_(list(entry_ids))
        )
    )
    return {r.entry_id: r.member_id for r in rows}


async def insert_winner(conn: AsyncConnection, *, draw_id: str, winner: WinnerRow) -> None:
    await conn.execute(
        insert(draw_winners).values(
            draw_id=draw_id,
            slot=winner.slot,
            prize_id=winner.prize_id,
            entry_id=winner.entry_id,
            member_ref=winner.member_ref,
            member_id=winner.member_id,
            voucher_id=winner.voucher_id,
            ledger_entry_id=winner.ledger_entry_id,
            points=winner.points,
        )
    )


async def winners(conn: AsyncConnection, draw_id: str) -> list[WinnerRow]:
    rows = await conn.execute(
        select(draw_winners).where(draw_winners.c.draw_id == draw_id).order_by(draw_winners.c.slot)
    )
    return [WinnerRow(*(r._mapping[name] for name in WinnerRow.__slots__)) for r in rows]
