"""Linking an identifier, and the merge it may cause.

A card first seen at a till belongs to a provisional member that has collected points. When the real
member links that card, the provisional member's ledger moves to them atomically (a pair of merge
entries), then the rows of every feature registered in `merge_registry` (vouchers, play tokens), and the
provisional member is closed.
"""

from __future__ import annotations

from datetime import datetime

from loyalty.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.common_messages import IDENTIFIER_KIND_TO_PROTO
from loyalty_service.errors import AlreadyExists, FailedPrecondition, NotFound
from loyalty_service.events import outbox
from loyalty_service.ledger import api as ledger_api
from loyalty_service.members import merge_registry, store
from loyalty_service.members.domain import IdentifierKind, MemberStatus

__all__ = ["link_identifier"]


async def link_identifier(
    conn: AsyncConnection,
    *,
    member_id: str,
    kind: IdentifierKind,
    value: str,
    now: datetime,
    credential_id: str,
) -> tuple[str | None, int]:
    """Link (kind, value) to the member; returns (merged provisional member id or None, points moved)."""
    member = await store.get_member(conn, member_id)
    if member is None:
        raise NotFound("member", member_id)
    if member.status is not MemberStatus.ACTIVE:
        raise FailedPrecondition(f"member {member_id} is {member.status.value}", reason="MEMBER_NOT_ACTIVE")
    holder = await store.claim_identifier(conn, member_id=member_id, kind=kind, value=value, now=now)
    merged: str | None = None
    points = 0
    if holder != member_id:
        provisional = await store.get_member(conn, holder)
        assert provisional is not None
        if kind is not IdentifierKind.CARD or provisional.status is not MemberStatus.PROVISIONAL:
            raise AlreadyExists(
                f"{kind.value} identifier is linked to another member", reason="IDENTIFIER_TAKEN"
            )
        # Lock both accounts in id order, the one order every multi-member change uses.
        for locked in sorted((member_id, holder)):
            await store.lock_member(conn, locked)
        points = await ledger_api.merge_member(
            conn, source=holder, target=member_id, now=now, credential_id=credential_id
        )
        # Then every feature's member rows (vouchers, play tokens, ...), in registration order.
        await merge_registry.move_features(conn, source=holder, target=member_id, now=now)
        await store.move_identifiers(conn, from_member=holder, to_member=member_id)
        await store.set_status(conn, holder, status=MemberStatus.CLOSED, merged_into=member_id)
        merged = holder
        merge_event = events_pb2.MembersMerged(
            provisional_member_id=holder, member_id=member_id, points=points
        )
        for target in (holder, member_id):
            await outbox.append(
                conn,
                member_id=target,
                payload=events_pb2.EventPayload(members_merged=merge_event),
                occurred_at=now,
            )
    linked = events_pb2.IdentifierLinked(member_id=member_id, kind=IDENTIFIER_KIND_TO_PROTO[kind])
    await outbox.append(
        conn, member_id=member_id, payload=events_pb2.EventPayload(identifier_linked=linked), occurred_at=now
    )
    return merged, points
