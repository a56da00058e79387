"""What other features may use of members: resolve a MemberRef, create a provisional member."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.read_ahead import ReadAhead
from loyalty_service.errors import FailedPrecondition, NotFound
from loyalty_service.kernel.ids import new_id
from loyalty_service.members import store
from loyalty_service.members.domain import ConsentPurpose, IdentifierKind, MemberStatus

__all__ = [
    "ConsentPurpose",
    "IdentifierKind",
    "MemberKey",
    "create_provisional",
    "has_consent",
    "read_ahead",
    "referral_may_be_pending",
    "require_member",
    "resolve",
    "set_pending_referral",
    "usable_member",
]


@dataclass(frozen=True, slots=True)
class MemberKey:
    """A validated reference: a member id, or a normalised identifier."""

    member_id: str | None = None
    kind: IdentifierKind | None = None
    value: str | None = None


_resolved = ReadAhead[str, store.MemberRow]("resolved_members")
"""The member rows `resolve` read in this transaction: a purchase resolves a reference and then
requires the member by id, and the second look-up can use the first's row."""


_members_read = ReadAhead[MemberKey, store.MemberRow]("members_read_ahead")
"""Member rows `read_ahead` read for a batch's transaction."""
_referral_flags = ReadAhead[str, bool]("pending_referral_flags")
"""`pending_referral` of the members this transaction read, for `referral_may_be_pending`."""


async def read_ahead(conn: AsyncConnection, keys: Iterable[MemberKey]) -> dict[MemberKey, str]:
    """Read the members of many references in one statement, for the `resolve` calls of this
    transaction that follow (a batch of purchases); references to nobody are left to `resolve`.
    Returns the member id of each reference found."""
    by_key = {key: _lookup(key) for key in keys}
    ids = sorted({value for kind, value in by_key.values() if kind is None})
    identifiers = sorted({(kind, value) for kind, value in by_key.values() if kind is not None})
    by_id, by_identifier = await store.members_by_ids_and_identifiers(conn, ids, identifiers)
    found: dict[MemberKey, store.MemberRow] = {}
    for key, (kind, value) in by_key.items():
        row = by_id.get(value) if kind is None else by_identifier.get((kind, value))
        if row is not None:
            found[key] = row
    await _members_read.keep(conn, found)
    await _referral_flags.keep(conn, {row.member_id: row.pending_referral for row in found.values()})
    return {key: row.member_id for key, row in found.items()}


def _lookup(key: MemberKey) -> tuple[str | None, str]:
    """(None, member id) or (identifier kind, value)."""
    if key.member_id is not None:
        return None, key.member_id
    assert key.kind is not None
    assert key.value is not None
    return key.kind.value, key.value


async def resolve(conn: AsyncConnection, key: MemberKey) -> str | None:
    row = await _members_read.take(conn, key) or await _read_member(conn, key)
    if row is None:
        return None
    await _resolved.add(conn, row.member_id, row)
    await _referral_flags.add(conn, row.member_id, row.pending_referral)
    return row.member_id


async def referral_may_be_pending(conn: AsyncConnection, member_id: str) -> bool:
    """Whether the member may be a referee with a pending referral, from the member row this
    transaction read (`resolve`, `read_ahead`); True when it read none. Once False it stays False: a
    referral is made pending only with its new member, and a pending one only ever stops being so."""
    flag = await _referral_flags.take(conn, member_id)
    return flag is None or flag


async def set_pending_referral(conn: AsyncConnection, member_id: str, pending: bool) -> None:
    """Journeys marks a referee's referral pending at enrolment and clears it when it is settled."""
    await store.set_pending_referral(conn, member_id, pending)


async def _read_member(conn: AsyncConnection, key: MemberKey) -> store.MemberRow | None:
    if key.member_id is not None:
        return await store.get_member(conn, key.member_id)
    assert key.kind is not None
    assert key.value is not None
    return await store.member_by_identifier(conn, key.kind, key.value)


async def require_member(conn: AsyncConnection, key: MemberKey, *, allow_closed: bool = False) -> str:
    """The member's id, or NOT_FOUND; a member merged into another is FAILED_PRECONDITION."""
    # One statement: the member row answers both "who" and "may it be used".
    just = None if key.member_id is None else await _resolved.take(conn, key.member_id)
    row = just or await _read_member(conn, key)
    found = None if row is None else (row.member_id, row.status.value, row.merged_into)
    return usable_member(key, found, allow_closed=allow_closed)


def usable_member(
    key: MemberKey, found: tuple[str, str, str | None] | None, *, allow_closed: bool = False
) -> str:
    """What `require_member` decides from the member read for `key`, as (member_id, status,
    merged_into) or None for no such member: the member's id, NOT_FOUND, or FAILED_PRECONDITION for a
    merged or erased member. For callers that read the member row in a statement of their own."""
    if found is None:
        raise NotFound("member", key.member_id or f"{key.kind}:{'*' * 4}")
    member_id, status, merged_into = found
    if not allow_closed:
        if MemberStatus(status) is MemberStatus.CLOSED:
            raise FailedPrecondition(
                f"member {member_id} was merged into {merged_into}",
                reason="MEMBER_CLOSED",
                metadata={"member_id": member_id, "merged_into": merged_into or ""},
            )
        if MemberStatus(status) is MemberStatus.ERASED:
            raise FailedPrecondition(
                f"member {member_id} was erased", reason="MEMBER_ERASED", metadata={"member_id": member_id}
            )
    return member_id


async def create_provisional(conn: AsyncConnection, *, card: str, now: datetime) -> tuple[str, bool]:
    """The holder of `card`, creating a provisional member for it if nobody holds it yet.

    Returns (member_id, created). Two tills racing on one new card end with one provisional member:
    the identifier's primary key decides, and the loser's row is rolled back with its transaction.
    """
    existing = await store.find_by_identifier(conn, IdentifierKind.CARD, card)
    if existing is not None:
        return existing, False
    member_id = new_id("mem")
    await store.create_member(
        conn, member_id=member_id, status=MemberStatus.PROVISIONAL, display_name="", now=now
    )
    holder = await store.claim_identifier(
        conn, member_id=member_id, kind=IdentifierKind.CARD, value=card, now=now
    )
    if holder != member_id:
        raise FailedPrecondition("the card was claimed concurrently; retry", reason="CONCURRENT_CARD_CLAIM")
    return member_id, True


async def has_consent(conn: AsyncConnection, member_id: str, purpose: ConsentPurpose) -> bool:
    """Whether the member's current consent for `purpose` is granted (never given counts as refused)."""
    return any(
        row.purpose is purpose and row.granted for row in await store.current_consents(conn, member_id)
    )
