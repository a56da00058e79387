"""What other features call about status tiers (hooks in the ledger, members and rewards).

Every write runs in the caller's transaction while the member's ledger account row is locked (a purchase,
a refund, a merge, or the review, which locks it first), so a member's tier changes are serialised with
its points. Each write first runs the reviews that fell due (`domain.catch_up`), so the history stays in
time order even when the periodic review runs late. Each change is a `tier_changed` event.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from loyalty.v1 import events_pb2, tiers_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.errors import FailedPrecondition
from loyalty_service.events import outbox
from loyalty_service.kernel.clock import add_months
from loyalty_service.members import export_registry, merge_registry
from loyalty_service.proto_time import to_timestamp
from loyalty_service.tiers import domain, store
from loyalty_service.tiers.domain import Change, Ladder, LadderVersion, Status

__all__ = [
    "BASIS_TO_PROTO",
    "REASON_TO_PROTO",
    "PurchaseTier",
    "RewardRequirement",
    "before_purchase",
    "catch_up_member",
    "decimal_text",
    "member_status",
    "on_purchase",
    "on_refund",
    "require_reward_tier",
    "reward_requirements",
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
_LOOKBACK_MONTHS = 40
"""Contributions older than this before a review never count (windows are at most 36 months)."""
_JUST_BEFORE = timedelta(microseconds=1)


def decimal_text(number: Fraction) -> str:
    """ "1.5" for 3/2 (multipliers are stored as fractions, shown as decimals)."""
    return format((Decimal(number.numerator) / Decimal(number.denominator)).normalize(), "f")


async def _versions(conn: AsyncConnection) -> list[LadderVersion]:
    return [stored.version for stored in await store.load_ladders(conn)]


def _status_or_base(loaded: tuple[Status, int] | None, ladder: Ladder) -> tuple[Status, int]:
    return loaded if loaded is not None else (Status(ladder.tiers[0].tier_id, None), 0)


async def _contributions(
    conn: AsyncConnection, member_id: str, ladder: Ladder, at: datetime
) -> list[domain.Contribution]:
    return await store.contributions_since(conn, member_id, domain.window_start(ladder, at) - _JUST_BEFORE)


async def _value(conn: AsyncConnection, member_id: str, ladder: Ladder, at: datetime) -> int:
    """`domain.qualifying_value` at `at`, summed by the database."""
    return await store.qualifying_sum(conn, member_id, ladder, start=domain.window_start(ladder, at), at=at)


def _tier_name(versions: list[LadderVersion], tier_id: str, at: datetime) -> str:
    version = domain.ladder_as_of(versions, at) or versions[-1]
    return version.ladder.tiers[version.ladder.index_of(tier_id)].name


async def _record(
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
            to_tier_name=_tier_name(versions, change.to_tier_id, change.effective_at),
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


async def _caught_up(
    conn: AsyncConnection, member_id: str, versions: list[LadderVersion], now: datetime
) -> tuple[Status, int]:
    """The member's status with every review due by `now` run and stored."""
    loaded = await store.load_status(conn, member_id)
    status, seq = _status_or_base(loaded, versions[0].ladder)
    if status.held_until is None or status.held_until > now:
        return status, seq
    since = add_months(status.held_until, -_LOOKBACK_MONTHS)
    contributions = await store.contributions_since(conn, member_id, since)
    status, changes = domain.catch_up(versions, status, contributions, now=now)
    seq = await _record(
        conn, member_id=member_id, versions=versions, status=status, seq=seq, changes=changes, now=now
    )
    return status, seq


async def catch_up_member(conn: AsyncConnection, member_id: str, *, now: datetime) -> int:
    """Run the reviews due by `now` for one member (account locked by the caller); returns changes made."""
    versions = await _versions(conn)
    if not versions:
        return 0
    before = await store.load_status(conn, member_id)
    _status, seq = await _caught_up(conn, member_id, versions, now)
    return seq - (0 if before is None else before[1])


@dataclass(frozen=True, slots=True)
class PurchaseTier:
    """What `before_purchase` learnt, handed to `on_purchase` (one purchase, one transaction)."""

    multiplier: Fraction
    """Of the tier the member held at the purchase's occurred_at (1 without a ladder then)."""
    versions: tuple[LadderVersion, ...]
    status: Status | None
    seq: int


_NO_LADDER = PurchaseTier(Fraction(1), (), None, 0)


class _LadderCache:
    """The ladder versions of one database, kept by the process while their key does not move."""

    def __init__(self) -> None:
        self.key: tuple[str, int, datetime] | None = None
        self.versions: tuple[LadderVersion, ...] = ()

    async def versions_for(
        self, conn: AsyncConnection, key: tuple[str, int, datetime]
    ) -> tuple[LadderVersion, ...]:
        if key == self.key:
            return self.versions
        versions = tuple(await _versions(conn))
        if versions and versions[-1].version == key[1]:  # loaded what the key names: cache it
            self.key, self.versions = key, versions
        return versions


_cache = _LadderCache()


async def before_purchase(
    conn: AsyncConnection, *, member_id: str, occurred_at: datetime, now: datetime
) -> PurchaseTier:
    """Run the reviews due, then the multiplier of the tier held at `occurred_at` (one statement usually)."""
    head = await store.head(conn, member_id, at=occurred_at)
    if head.ladder_key is None:
        return _NO_LADDER
    versions = await _cache.versions_for(conn, head.ladder_key)
    status, seq = _status_or_base(head.status, versions[0].ladder)
    held_tier_id = head.held_tier_id
    if status.held_until is not None and status.held_until <= now:
        status, seq = await _caught_up(conn, member_id, list(versions), now)
        held_tier_id = await store.tier_held_at(conn, member_id, occurred_at)
    version = domain.ladder_as_of(versions, occurred_at)
    multiplier = Fraction(1)
    if version is not None:
        ladder = version.ladder
        multiplier = ladder.tiers[ladder.index_of(held_tier_id or ladder.tiers[0].tier_id)].multiplier
    return PurchaseTier(multiplier, versions, status, seq)


async def _upgrade_if_reached(
    conn: AsyncConnection, member_id: str, *, purchase_id: str | None, at: datetime, now: datetime
) -> None:
    versions = await _versions(conn)
    if not versions:
        return
    status, seq = await _caught_up(conn, member_id, versions, now)
    version = domain.ladder_as_of(versions, at)
    if version is None:
        return
    ladder = version.ladder
    value = await _value(conn, member_id, ladder, at)
    new_status, change = domain.after_purchase(ladder, status, value=value, now=at)
    if new_status == status:
        return
    changes = [] if change is None else [replace(change, purchase_id=purchase_id)]
    await _record(
        conn, member_id=member_id, versions=versions, status=new_status, seq=seq, changes=changes, now=now
    )


async def on_purchase(
    conn: AsyncConnection,
    *,
    tier: PurchaseTier,
    member_id: str,
    purchase_id: str,
    occurred_at: datetime,
    amount_minor: int,
    currency: str,
    qualifying_points: int,
    now: datetime,
) -> None:
    """Count the purchase towards tiers and upgrade at once if it makes the value reach a higher tier."""
    contribution = domain.Contribution(
        purchase_id, occurred_at, max(0, qualifying_points), amount_minor, currency
    )
    await store.add_contribution(conn, member_id=member_id, contribution=contribution)
    at = max(now, occurred_at)
    version = domain.ladder_as_of(tier.versions, at)
    if version is None or tier.status is None:
        return
    ladder = version.ladder
    value = await _value(conn, member_id, ladder, at)
    new_status, change = domain.after_purchase(ladder, tier.status, value=value, now=at)
    if new_status == tier.status:
        return
    changes = [] if change is None else [replace(change, purchase_id=purchase_id)]
    await _record(
        conn,
        member_id=member_id,
        versions=list(tier.versions),
        status=new_status,
        seq=tier.seq,
        changes=changes,
        now=now,
    )


async def on_refund(
    conn: AsyncConnection, *, member_id: str, purchase_id: str, refunded_total_minor: int, now: datetime
) -> None:
    """Take the refunds off the purchase's contribution; undo the upgrade it caused if it no longer holds."""
    if not await store.reduce_contribution(
        conn, member_id=member_id, purchase_id=purchase_id, refunded_minor=refunded_total_minor
    ):
        return
    versions = await _versions(conn)
    if not versions:
        return
    status, seq = await _caught_up(conn, member_id, versions, now)
    latest = await store.latest_change(conn, member_id)
    if latest is None or latest.purchase_id != purchase_id:
        return
    version = domain.ladder_as_of(versions, latest.effective_at)
    if version is None:
        return
    contributions = await _contributions(conn, member_id, version.ladder, latest.effective_at)
    new_status, change = domain.after_refund(
        version.ladder, status, latest=latest, purchase_id=purchase_id, contributions=contributions, now=now
    )
    if change is not None:
        await _record(
            conn,
            member_id=member_id,
            versions=versions,
            status=new_status,
            seq=seq,
            changes=[change],
            now=now,
        )


async def member_status(
    conn: AsyncConnection, member_id: str, *, now: datetime
) -> tiers_pb2.TierStatus | None:
    """The status GetMember shows (due reviews applied in the answer, not stored); None without a ladder."""
    versions = await _versions(conn)
    version = domain.ladder_as_of(versions, now)
    if version is None:
        return None
    ladder = version.ladder
    status, _seq = _status_or_base(await store.load_status(conn, member_id), versions[0].ladder)
    if status.held_until is not None and status.held_until <= now:
        since = add_months(status.held_until, -_LOOKBACK_MONTHS)
        status, _changes = domain.catch_up(
            versions, status, await store.contributions_since(conn, member_id, since), now=now
        )
    value = await _value(conn, member_id, ladder, now)
    progress = domain.progress(ladder, status, value=value, now=now)
    message = tiers_pb2.TierStatus(
        tier_id=progress.tier.tier_id,
        tier_name=progress.tier.name,
        basis=BASIS_TO_PROTO[ladder.basis],
        currency=ladder.currency or "",
        qualifying_value=value,
        window_start=to_timestamp(progress.window_start),
        multiplier=decimal_text(progress.tier.multiplier),
        remaining=progress.remaining,
    )
    if status.held_until is not None and ladder.index_of(status.tier_id) > 0:
        message.held_until.CopyFrom(to_timestamp(status.held_until))
    if progress.next_tier is not None:
        message.next_tier_id = progress.next_tier.tier_id
        message.next_tier_name = progress.next_tier.name
        message.next_threshold = progress.next_tier.threshold
    return message


class RewardRequirement:
    """The tier a reserved reward needs, and whether the member asked about holds it."""

    __slots__ = ("allowed", "tier_id", "tier_name")

    def __init__(self, tier_id: str, tier_name: str, allowed: bool) -> None:
        self.tier_id, self.tier_name, self.allowed = tier_id, tier_name, allowed


async def reward_requirements(
    conn: AsyncConnection, *, member_id: str | None, reward_ids: list[str], now: datetime
) -> dict[str, RewardRequirement]:
    """For each reserved reward among `reward_ids`: the lowest tier reserving it and whether the member holds
    it or a higher one (False without a member)."""
    version = domain.ladder_as_of(await _versions(conn), now)
    if version is None:
        return {}
    ladder = version.ladder
    wanted = set(reward_ids)
    needed: dict[str, int] = {}
    for index, tier in enumerate(ladder.tiers):
        for reward_id in tier.reserved_reward_ids & wanted:
            needed.setdefault(reward_id, index)
    if not needed:
        return {}
    held = 0
    if member_id is not None:
        status = await member_status(conn, member_id, now=now)
        held = 0 if status is None else ladder.index_of(status.tier_id)
    return {
        reward_id: RewardRequirement(
            ladder.tiers[index].tier_id, ladder.tiers[index].name, member_id is not None and held >= index
        )
        for reward_id, index in needed.items()
    }


async def require_reward_tier(
    conn: AsyncConnection, *, member_id: str, reward_id: str, now: datetime
) -> None:
    """FAILED_PRECONDITION TIER_REQUIRED when the reward is reserved for a tier the member does not hold."""
    requirement = (await reward_requirements(conn, member_id=member_id, reward_ids=[reward_id], now=now)).get(
        reward_id
    )
    if requirement is not None and not requirement.allowed:
        raise FailedPrecondition(
            f"reward {reward_id} is reserved for members of tier {requirement.tier_name} and above",
            reason="TIER_REQUIRED",
            metadata={"reward_id": reward_id, "required_tier_id": requirement.tier_id},
        )


async def _export(conn: AsyncConnection, member_id: str) -> object:
    return await store.export_member(conn, member_id)


async def _move(conn: AsyncConnection, *, source: str, target: str, now: datetime) -> None:
    """A merged card's purchases count for the member that linked it (upgrade at once if reached)."""
    if await store.move_member(conn, source=source, target=target):
        await _upgrade_if_reached(conn, target, purchase_id=None, at=now, now=now)


export_registry.register("tiers", export=_export, erase=store.erase_member)
merge_registry.register("tiers", _move)
