"""Recording a member's tier changes: the status head, the history rows and their `tier_changed` events,
the reviews that fell due, and the per-process cache of ladder versions (internal to `tiers`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from loyalty.v1 import events_pb2, tiers_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.events import outbox
from loyalty_service.kernel.clock import add_months
from loyalty_service.proto_time import to_timestamp
from loyalty_service.tiers import domain, store
from loyalty_service.tiers.domain import Change, Ladder, LadderVersion, Status

__all__ = [
    "BASIS_TO_PROTO",
    "LOOKBACK_MONTHS",
    "REASON_TO_PROTO",
    "LadderCache",
    "caught_up",
    "decimal_text",
    "load_versions",
    "record_changes",
    "status_or_base",
    "window_contributions",
    "window_value",
]

BASIS_TO_PROTO = {
    domain.Basis.POINTS: tiers_pb2.TIER_BASIS_QUALIFYING_POINTS,
    domain.Basis.SPEND: tiers_pb2.TIER_BASIS_QUALIFYING_SPEND,
}
REASON_TO_PROTO = {
    domain.Reason.UPGRADE: tiers_pb2.TIER_CHANGE_REASON_UPGRADE,
    domain.Reason.REVIEW_DOWNGRADE: tiers_pb2.TIER_CHANGE_REASON_REVIEW_DOWNGRADE,
    domain.Reason.REFUND: tiers_pb2.TIER_CHANGE_REASON_REFUND,
}
LOOKBACK_MONTHS = 40
"""Contributions older than this before a review never count (windows are at most 36 months)."""
_JUST_BEFORE = timedelta(microseconds=1)


def decimal_text(number: Fraction) -> str:
    """ "1.5" for 3/2 (multipliers are stored as fractions, shown as decimals)."""
    return format((Decimal(number.numerator) / Decimal(number.denominator)).normalize(), "f")


async def load_versions(conn: AsyncConnection) -> list[LadderVersion]:
    return [stored.version for stored in await store.load_ladders(conn)]


def status_or_base(loaded: tuple[Status, int] | None, ladder: Ladder) -> tuple[Status, int]:
    return loaded if loaded is not None else (Status(ladder.tiers[0].tier_id, None), 0)


async def window_contributions(
    conn: AsyncConnection, member_id: str, ladder: Ladder, at: datetime
) -> list[domain.Contribution]:
    return await store.contributions_since(conn, member_id, domain.window_start(ladder, at) - _JUST_BEFORE)


async def window_value(conn: AsyncConnection, member_id: str, ladder: Ladder, at: datetime) -> int:
    """`domain.qualifying_value` at `at`, summed by the database."""
    return await store.qualifying_sum(conn, member_id, ladder, start=domain.window_start(ladder, at), at=at)


def tier_name(versions: list[LadderVersion], tier_id: str, at: datetime) -> str:
    version = domain.ladder_as_of(versions, at) or versions[-1]
    return version.ladder.tiers[version.ladder.index_of(tier_id)].name


async def record_changes(
    conn: AsyncConnection,
    *,
    member_id: str,
    versions: list[LadderVersion],
    status: Status,
    seq: int,
    changes: list[Change],
    now: datetime,
) -> int:
    """Store the status and each change with its event; returns the latest change number."""
    for change in changes:
        seq += 1
        await store.insert_change(conn, member_id=member_id, seq=seq, change=change, now=now)
        event = tiers_pb2.TierChanged(
            member_id=member_id,
            from_tier_id=change.from_tier_id,
            to_tier_id=change.to_tier_id,
            to_tier_name=tier_name(versions, change.to_tier_id, change.effective_at),
            reason=REASON_TO_PROTO[change.reason],
            purchase_id=change.purchase_id or "",
            qualifying_value=change.qualifying_value,
            effective_at=to_timestamp(change.effective_at),
        )
        if change.held_until is not None:
            event.held_until.CopyFrom(to_timestamp(change.held_until))
        await outbox.append(
            conn, member_id=member_id, occurred_at=now, payload=events_pb2.EventPayload(tier_changed=event)
        )
    await store.save_status(conn, member_id=member_id, status=status, change_seq=seq, now=now)
    return seq


async def caught_up(
    conn: AsyncConnection, member_id: str, versions: list[LadderVersion], now: datetime
) -> tuple[Status, int]:
    """The member's status with every review due by `now` run and stored."""
    loaded = await store.load_status(conn, member_id)
    status, seq = status_or_base(loaded, versions[0].ladder)
    if status.held_until is None or status.held_until > now:
        return status, seq
    since = add_months(status.held_until, -LOOKBACK_MONTHS)
    contributions = await store.contributions_since(conn, member_id, since)
    status, changes = domain.catch_up(versions, status, contributions, now=now)
    seq = await record_changes(
        conn, member_id=member_id, versions=versions, status=status, seq=seq, changes=changes, now=now
    )
    return status, seq


class LadderCache:
    """The ladder versions of one database, kept by the process while their key does not move."""

    def __init__(self) -> None:
        self.key: tuple[str, int, datetime] | None = None
        self.versions: tuple[LadderVersion, ...] = ()

    async def versions_for(
        self, conn: AsyncConnection, key: tuple[str, int, datetime]
    ) -> tuple[LadderVersion, ...]:
        if key == self.key:
            return self.versions
        versions = tuple(await load_versions(conn))
        if versions and versions[-1].version == key[1]:  # loaded what the key names: cache it
            self.key, self.versions = key, versions
        return versions
