"""What other features call about status tiers (hooks in the ledger, members and rewards).

Every write runs in the caller's transaction while the member's ledger account row is locked (a purchase,
a refund, a merge, or the review, which locks it first), so a member's tier changes are serialised with
its points. Each write first runs the reviews that fell due (`domain.catch_up`), so the history stays in
time order even when the periodic review runs late. Each change is a `tier_changed` event.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from fractions import Fraction

from loyalty.v1 import tiers_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.errors import FailedPrecondition
from loyalty_service.kernel.clock import add_months
from loyalty_service.ledger import api as ledger_api
from loyalty_service.members import export_registry, merge_registry
from loyalty_service.program import settings as program_settings
from loyalty_service.proto_time import to_timestamp
from loyalty_service.tiers import changes as tier_changes
from loyalty_service.tiers import domain, store
from loyalty_service.tiers.changes import BASIS_TO_PROTO, REASON_TO_PROTO, decimal_text
from loyalty_service.tiers.domain import LadderVersion, Status

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


async def catch_up_member(conn: AsyncConnection, member_id: str, *, now: datetime) -> int:
    """Run the reviews due by `now` for one member (account locked by the caller); returns changes made."""
    versions = await tier_changes.load_versions(conn)
    if not versions:
        return 0
    before = await store.load_status(conn, member_id)
    _status, seq = await tier_changes.caught_up(conn, member_id, versions, now)
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


_cache = tier_changes.LadderCache()


async def before_purchase(
    conn: AsyncConnection, *, member_id: str, occurred_at: datetime, now: datetime
) -> PurchaseTier:
    """Run the reviews due, then the multiplier of the tier held at `occurred_at` (one statement usually,
    none while the programme never had a ladder)."""
    if (await program_settings.read(conn)).ladders_revision == 0:
        return _NO_LADDER
    head = await store.head(conn, member_id, at=occurred_at)
    if head.ladder_key is None:
        return _NO_LADDER
    versions = await _cache.versions_for(conn, head.ladder_key)
    status, seq = tier_changes.status_or_base(head.status, versions[0].ladder)
    held_tier_id = head.held_tier_id
    if status.held_until is not None and status.held_until <= now:
        status, seq = await tier_changes.caught_up(conn, member_id, list(versions), now)
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
    versions = await tier_changes.load_versions(conn)
    if not versions:
        return
    status, seq = await tier_changes.caught_up(conn, member_id, versions, now)
    version = domain.ladder_as_of(versions, at)
    if version is None:
        return
    ladder = version.ladder
    value = await tier_changes.window_value(conn, member_id, ladder, at)
    new_status, change = domain.after_purchase(ladder, status, value=value, now=at)
    if new_status == status:
        return
    changes = [] if change is None else [replace(change, purchase_id=purchase_id)]
    await tier_changes.record_changes(
        conn, member_id=member_id, versions=versions, status=new_status, seq=seq, changes=changes, now=now
    )


async def on_purchase(
    conn: AsyncConnection,
    *,
    book: ledger_api.Book,
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
    write = store.contribution_insert(member_id=member_id, contribution=contribution)
    at = max(now, occurred_at)
    version = domain.ladder_as_of(tier.versions, at)
    if version is None or tier.status is None:
        book.write_with_head(write)  # not read back in this transaction: one round trip fewer
        return
    await store.add_contribution(conn, write, member_id=member_id)  # the window's value below counts it
    ladder = version.ladder
    value = await tier_changes.window_value(conn, member_id, ladder, at)
    new_status, change = domain.after_purchase(ladder, tier.status, value=value, now=at)
    if new_status == tier.status:
        return
    changes = [] if change is None else [replace(change, purchase_id=purchase_id)]
    await tier_changes.record_changes(
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
    versions = await tier_changes.load_versions(conn)
    if not versions:
        return
    status, seq = await tier_changes.caught_up(conn, member_id, versions, now)
    latest = await store.latest_change(conn, member_id)
    if latest is None or latest.purchase_id != purchase_id:
        return
    version = domain.ladder_as_of(versions, latest.effective_at)
    if version is None:
        return
    contributions = await tier_changes.window_contributions(
        conn, member_id, version.ladder, latest.effective_at
    )
    new_status, change = domain.after_refund(
        version.ladder, status, latest=latest, purchase_id=purchase_id, contributions=contributions, now=now
    )
    if change is not None:
        await tier_changes.record_changes(
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
    versions = await tier_changes.load_versions(conn)
    version = domain.ladder_as_of(versions, now)
    if version is None:
        return None
    ladder = version.ladder
    status, _seq = tier_changes.status_or_base(await store.load_status(conn, member_id), versions[0].ladder)
    if status.held_until is not None and status.held_until <= now:
        since = add_months(status.held_until, -tier_changes.LOOKBACK_MONTHS)
        status, _changes = domain.catch_up(
            versions, status, await store.contributions_since(conn, member_id, since), now=now
        )
    value = await tier_changes.window_value(conn, member_id, ladder, now)
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
    version = domain.ladder_as_of(await tier_changes.load_versions(conn), now)
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
