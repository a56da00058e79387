"""Members, identifiers and consents in PostgreSQL. Statements on a passed connection; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db import fast
from loyalty_service.db.tables import accounts, consent_changes, member_consents, member_identifiers, members
from loyalty_service.members.domain import ConsentPurpose, IdentifierKind, MemberStatus

__all__ = [
    "ConsentRow",
    "MemberRow",
    "claim_identifier",
    "consent_changes_of",
    "consent_history",
    "create_member",
    "delete_identifiers",
    "find_by_identifier",
    "get_member",
    "identifier_rows",
    "identifiers_of",
    "lock_member",
    "mark_erased",
    "member_by_identifier",
    "members_by_ids_and_identifiers",
    "record_consent",
    "set_pending_referral",
    "set_status",
]


@dataclass(frozen=True, slots=True)
class MemberRow:
    member_id: str
    status: MemberStatus
    display_name: str
    merged_into: str | None
    created_at: datetime
    pending_referral: bool = False
    """A referee whose referral is still pending (journeys keeps it through members.api)."""


@dataclass(frozen=True, slots=True)
class ConsentRow:
    purpose: ConsentPurpose
    granted: bool
    channel: str
    changed_at: datetime


def _member(row: object) -> MemberRow:
    m = row._mapping  # type: ignore[attr-defined]
    return MemberRow(
        m["member_id"],
        MemberStatus(m["status"]),
        m["display_name"],
        m["merged_into"],
        m["created_at"],
        m["pending_referral"],
    )


_MEMBER_COLUMNS = (
    members.c.member_id,
    members.c.status,
    members.c.display_name,
    members.c.merged_into,
    members.c.created_at,
    members.c.pending_referral,
)


async def create_member(
    conn: AsyncConnection, *, member_id: str, status: MemberStatus, display_name: str, now: datetime
) -> MemberRow:
    row = (
        await conn.execute(
            insert(members)
            .values(member_id=member_id, status=status.value, display_name=display_name, created_at=now)
            .returning(*_MEMBER_COLUMNS)
        )
    ).one()
    await conn.execute(insert(accounts).values(member_id=member_id, updated_at=now))
    return _member(row)


# The look-ups of every ledger call, as prepared text through `db.fast`.
_MEMBER_SQL = (
    "select m.member_id, m.status, m.display_name, m.merged_into, m.created_at, m.pending_referral"
    " from members m"
)
_GET_MEMBER = f"{_MEMBER_SQL} where m.member_id = $1"
_MEMBER_BY_IDENTIFIER = (
    f"{_MEMBER_SQL} join member_identifiers i on i.member_id = m.member_id where i.kind = $1 and i.value = $2"
)
_FIND_BY_IDENTIFIER = "select member_id from member_identifiers where kind = $1 and value = $2"


def _member_record(row: Any) -> MemberRow:
    member_id, status, display_name, merged_into, created_at, pending_referral = row
    return MemberRow(member_id, MemberStatus(status), display_name, merged_into, created_at, pending_referral)


async def get_member(conn: AsyncConnection, member_id: str) -> MemberRow | None:
    row = await fast.fetchrow(conn, _GET_MEMBER, member_id)
    return None if row is None else _member_record(row)


async def member_by_identifier(conn: AsyncConnection, kind: IdentifierKind, value: str) -> MemberRow | None:
    """The holder of an identifier with its row, in one statement."""
    row = await fast.fetchrow(conn, _MEMBER_BY_IDENTIFIER, kind.value, value)
    return None if row is None else _member_record(row)


# Each member looked up by primary key in a LATERAL subquery that cannot be flattened (`offset 0`): a
# generic plan cached on small, unanalyzed tables cannot become a scan of the whole table as they grow
# (see `ledger.store._LOCK_ACCOUNTS`).
_MEMBERS_BY_IDS_AND_IDENTIFIERS = (
    "select m.member_id, m.status, m.display_name, m.merged_into, m.created_at, m.pending_referral,"
    " null, null from unnest($1::text[]) as w(member_id)"
    " cross join lateral (select * from members m where m.member_id = w.member_id offset 0) as m"
    " union all"
    " select m.member_id, m.status, m.display_name, m.merged_into, m.created_at, m.pending_referral,"
    " k.kind, k.value"
    " from unnest($2::text[], $3::text[]) as k(kind, value)"
    " cross join lateral (select m.* from member_identifiers i join members m on m.member_id = i.member_id"
    " where i.kind = k.kind and i.value = k.value offset 0) as m"
)


async def members_by_ids_and_identifiers(
    conn: AsyncConnection, member_ids: Sequence[str], identifiers: Sequence[tuple[str, str]]
) -> tuple[dict[str, MemberRow], dict[tuple[str, str], MemberRow]]:
    """`get_member` and `member_by_identifier` for many at once, in one statement: the rows found by
    id, and by (kind, value)."""
    rows = await fast.fetch(
        conn,
        _MEMBERS_BY_IDS_AND_IDENTIFIERS,
        list(member_ids),
        [kind for kind, _ in identifiers],
        [value for _, value in identifiers],
    )
    by_id: dict[str, MemberRow] = {}
    by_identifier: dict[tuple[str, str], MemberRow] = {}
    for row in rows:
        member = _member_record(tuple(row)[:6])
        if row[6] is None:
            by_id[member.member_id] = member
        else:
            by_identifier[str(row[6]), str(row[7])] = member
    return by_id, by_identifier


async def set_pending_referral(conn: AsyncConnection, member_id: str, pending: bool) -> None:
    await fast.execute(conn, _SET_PENDING_REFERRAL, member_id, pending)


_SET_PENDING_REFERRAL = "update members set pending_referral = $2 where member_id = $1"


async def lock_member(conn: AsyncConnection, member_id: str) -> MemberRow | None:
    """Read the member and lock its account row: changes to one member are serialised there."""
    await conn.execute(
        select(accounts.c.member_id).where(accounts.c.member_id == member_id).with_for_update()
    )
    return await get_member(conn, member_id)


async def set_status(
    conn: AsyncConnection, member_id: str, *, status: MemberStatus, merged_into: str | None
) -> None:
    await conn.execute(
        update(members)
        .where(members.c.member_id == member_id)
        .values(status=status.value, merged_into=merged_into)
    )


async def find_by_identifier(conn: AsyncConnection, kind: IdentifierKind, value: str) -> str | None:
    found = await fast.fetchval(conn, _FIND_BY_IDENTIFIER, kind.value, value)
    return None if found is None else str(found)


async def claim_identifier(
    conn: AsyncConnection, *, member_id: str, kind: IdentifierKind, value: str, now: datetime
) -> str:
    """Link the identifier to `member_id` unless someone holds it; returns its holder either way."""
    inserted = (
        await conn.execute(
            pg_insert(member_identifiers)
            .values(kind=kind.value, value=value, member_id=member_id, linked_at=now)
            .on_conflict_do_nothing()
            .returning(member_identifiers.c.member_id)
        )
    ).scalar_one_or_none()
    if inserted is not None:
        return str(inserted)
    holder = await find_by_identifier(conn, kind, value)
    assert holder is not None
    return holder


async def move_identifiers(conn: AsyncConnection, *, from_member: str, to_member: str) -> None:
    await conn.execute(
        update(member_identifiers)
        .where(member_identifiers.c.member_id == from_member)
        .values(member_id=to_member)
    )


async def identifiers_of(conn: AsyncConnection, member_id: str) -> list[tuple[IdentifierKind, str]]:
    rows = await conn.execute(
        select(member_identifiers.c.kind, member_identifiers.c.value)
        .where(member_identifiers.c.member_id == member_id)
        .order_by(member_identifiers.c.kind, member_identifiers.c.value)
    )
    return [(IdentifierKind(kind), value) for kind, value in rows.all()]


async def current_consents(conn: AsyncConnection, member_id: str) -> list[ConsentRow]:
    rows = await conn.execute(
        select(
            member_consents.c.purpose,
            member_consents.c.granted,
            member_consents.c.channel,
            member_consents.c.changed_at,
        )
        .where(member_consents.c.member_id == member_id)
        .order_by(member_consents.c.purpose)
    )
    return [ConsentRow(ConsentPurpose(p), g, c, t) for p, g, c, t in rows.all()]


async def consent_history(conn: AsyncConnection, member_id: str) -> list[ConsentRow]:
    rows = await conn.execute(
        select(
            consent_changes.c.purpose,
            consent_changes.c.granted,
            consent_changes.c.channel,
            consent_changes.c.changed_at,
        )
        .where(consent_changes.c.member_id == member_id)
        .order_by(consent_changes.c.change_seq)
    )
    return [ConsentRow(ConsentPurpose(p), g, c, t) for p, g, c, t in rows.all()]


async def record_consent(
    conn: AsyncConnection,
    *,
    member_id: str,
    purpose: ConsentPurpose,
    granted: bool,
    channel: str,
    credential_id: str,
    now: datetime,
) -> None:
    """Keep the change in the history and make it the current state of its purpose."""
    seq = (
        await conn.execute(
            update(accounts)
            .where(accounts.c.member_id == member_id)
            .values(consent_seq=accounts.c.consent_seq + 1)
            .returning(accounts.c.consent_seq)
        )
    ).scalar_one()
    await conn.execute(
        insert(consent_changes).values(
            member_id=member_id,
            change_seq=seq,
            purpose=purpose.value,
            granted=granted,
            channel=channel,
            credential_id=credential_id,
            changed_at=now,
        )
    )
    upsert = pg_insert(member_consents).values(
        member_id=member_id, purpose=purpose.value, granted=granted, channel=channel, changed_at=now
    )
    await conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[member_consents.c.member_id, member_consents.c.purpose],
            set_={"granted": granted, "channel": channel, "changed_at": now},
        )
    )


# --- GDPR erasure ---------------------------------------------------------------------------------


async def delete_identifiers(conn: AsyncConnection, member_id: str) -> int:
    """Remove every identifier of the member (they are personal data); returns how many."""
    result = await conn.execute(delete(member_identifiers).where(member_identifiers.c.member_id == member_id))
    return int(result.rowcount)


async def mark_erased(conn: AsyncConnection, member_id: str) -> None:
    """Status erased and no display name: the id stays, as the pseudonym of the member's ledger."""
    await conn.execute(
        update(members)
        .where(members.c.member_id == member_id)
        .values(status=MemberStatus.ERASED.value, display_name="")
    )


async def consent_changes_of(conn: AsyncConnection, member_id: str) -> list[dict[str, object]]:
    """The consent history with who recorded each change, for the export."""
    rows = await conn.execute(
        select(consent_changes)
        .where(consent_changes.c.member_id == member_id)
        .order_by(consent_changes.c.change_seq)
    )
    return [dict(row._mapping) for row in rows.all()]


async def identifier_rows(conn: AsyncConnection, member_id: str) -> list[dict[str, object]]:
    rows = await conn.execute(
        select(member_identifiers.c.kind, member_identifiers.c.value, member_identifiers.c.linked_at)
        .where(member_identifiers.c.member_id == member_id)
        .order_by(member_identifiers.c.kind, member_identifiers.c.value)
    )
    return [dict(row._mapping) for row in rows.all()]
