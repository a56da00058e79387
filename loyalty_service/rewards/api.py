"""What other features may use of rewards: the one path that issues a voucher.

Redemption (RedeemReward) charges the reward's points; games, challenges and draws grant a reward free
(`charge_points=False`). Either way `issue_voucher` runs in the caller's transaction: it locks the
member's ledger, checks the per-member limit, takes one unit of stock (never oversold, whatever runs at
once on any replica), charges the points through the ledger (a REDEEM entry, or INSUFFICIENT_POINTS),
creates the voucher and its code and writes the `voucher_changed` event. A failure raises and the
caller's transaction rolls everything back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from loyalty.v1 import events_pb2, rewards_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.errors import InsufficientPoints, NotFound
from loyalty_service.events import outbox
from loyalty_service.kernel.ids import new_id
from loyalty_service.ledger import api as ledger_api
from loyalty_service.members import merge_registry
from loyalty_service.rewards import codes, store
from loyalty_service.rewards.failures import (
    OutOfStock,
    RewardLimitReached,
    RewardNotAvailable,
    VoucherAlreadyUsed,
    VoucherCancelled,
    VoucherExpired,
    VoucherNotValidHere,
)
from loyalty_service.rewards.messages import voucher_message
from loyalty_service.rewards.store import RewardRow, VoucherRow

__all__ = [
    "InsufficientPoints",
    "IssuedVoucher",
    "OutOfStock",
    "RewardLimitReached",
    "RewardNotAvailable",
    "VoucherAlreadyUsed",
    "VoucherCancelled",
    "VoucherExpired",
    "VoucherNotValidHere",
    "issue_voucher",
    "unknown_reward_ids",
    "voucher_event",
]

_CODE_ATTEMPTS = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedVoucher:
    """A voucher just issued, in the caller's (still open) transaction."""

    voucher_id: str
    code: str
    """As shown to people: `7KQ4-M9XD-2RWH-TB5P`."""
    member_id: str
    reward_id: str
    points_charged: int
    valid_until: datetime
    redeem_entry_id: str
    """The REDEEM ledger entry; empty when nothing was charged."""
    available_points: int | None
    """The member's spendable points after the charge; None when nothing was charged."""
    message: rewards_pb2.Voucher


async def unknown_reward_ids(conn: AsyncConnection, reward_ids: Iterable[str]) -> list[str]:
    """The ids among `reward_ids` that name no reward, sorted (for features that refer to rewards)."""
    return [r for r in sorted(set(reward_ids)) if await store.get_reward(conn, r) is None]


def available_problem(reward: RewardRow, now: datetime) -> str | None:
    """Why a member cannot redeem the reward now (catalogue rules only), or None."""
    if reward.archived_at is not None:
        return "archived"
    if reward.visible_from is not None and now < reward.visible_from:
        return "not yet visible"
    if reward.visible_until is not None and now >= reward.visible_until:
        return "no longer visible"
    return None


async def voucher_event(
    conn: AsyncConnection, voucher: VoucherRow, reward: RewardRow, *, now: datetime
) -> rewards_pb2.Voucher:
    """Write the `voucher_changed` event of the voucher as it is now; returns its message."""
    message = voucher_message(voucher, reward)
    await outbox.append(
        conn,
        member_id=voucher.member_id,
        occurred_at=now,
        payload=events_pb2.EventPayload(voucher_changed=rewards_pb2.VoucherChanged(voucher=message)),
    )
    return message


async def issue_voucher(
    conn: AsyncConnection,
    *,
    member_id: str,
    reward_id: str,
    source_type: str,
    source_ref: str,
    now: datetime,
    credential_id: str,
    charge_points: bool,
    channel: str = "",
    store_id: str = "",
) -> IssuedVoucher:
    """Issue one voucher of `reward_id` to `member_id`, in the caller's transaction.

    source_type/source_ref: what granted it ("redemption"/request, "game"/play id, "draw"/draw id, ...).
    charge_points: take the reward's points_cost (REDEEM entry); False for prizes. Redemptions also
    require the reward to be visible now; prizes only require it not to be archived.
    channel/store_id: where it happened, recorded on the ledger entry.
    Raises NotFound (reward or member), RewardNotAvailable, RewardLimitReached, OutOfStock,
    InsufficientPoints.
    """
    reward = await store.get_reward(conn, reward_id)
    if reward is None:
        raise NotFound("reward", reward_id)
    problem = available_problem(reward, now)
    if problem is not None and (charge_points or reward.archived_at is not None):
        raise RewardNotAvailable(reward_id=reward_id, why=problem)
    await ledger_api.lock_ledger(conn, member_id)  # serialises this member's limit check
    if reward.per_member_limit:
        held = await store.count_held(conn, member_id=member_id, reward_ids=[reward_id])
        if held.get(reward_id, 0) >= reward.per_member_limit:
            raise RewardLimitReached(member_id=member_id, reward_id=reward_id, limit=reward.per_member_limit)
    voucher_id = new_id("vch")
    points = reward.points_cost if charge_points else 0
    entry_id, available = "", None
    if points:
        cause = ledger_api.Cause(
            channel=channel,
            store_id=store_id,
            source_type="voucher",
            source_ref=voucher_id,
            reason=f"reward {reward.name}"[:256],
            occurred_at=now,
        )
        moved = await ledger_api.debit_points(
            conn,
            member_id=member_id,
            points=points,
            entry_type=ledger_api.EntryType.REDEEM,
            cause=cause,
            now=now,
            credential_id=credential_id,
        )
        entry_id, available = moved.entry_id, moved.balance.available
    # Stock last: the reward row stays locked only from here to commit.
    if not await store.take_stock(conn, reward_id):
        raise OutOfStock(reward_id=reward_id)
    code = await _claim_new_code(conn, member_id=member_id, voucher_id=voucher_id)
    voucher = VoucherRow(
        member_id=member_id,
        voucher_id=voucher_id,
        code=code,
        reward_id=reward_id,
        state="issued",
        points_charged=points,
        redeem_entry_id=entry_id,
        source_type=source_type,
        source_ref=source_ref,
        credential_id=credential_id,
        issued_at=now,
        valid_until=now + timedelta(days=reward.voucher_valid_days),
    )
    await store.insert_voucher(conn, voucher)
    message = await voucher_event(conn, voucher, reward, now=now)
    return IssuedVoucher(
        voucher_id=voucher_id,
        code=codes.format_code(code),
        member_id=member_id,
        reward_id=reward_id,
        points_charged=points,
        valid_until=voucher.valid_until,
        redeem_entry_id=entry_id,
        available_points=available,
        message=message,
    )


async def _claim_new_code(conn: AsyncConnection, *, member_id: str, voucher_id: str) -> str:
    for _ in range(_CODE_ATTEMPTS):
        code = codes.new_code()
        if await store.claim_code(conn, code=code, member_id=member_id, voucher_id=voucher_id):
            return code
    raise AssertionError("four 75-bit codes in a row were taken: the random source is broken")


async def _move_vouchers(conn: AsyncConnection, *, source: str, target: str, now: datetime) -> None:
    """A merged provisional member's vouchers (and their codes) belong to the real member from now on.

    Their REDEEM entries stay in the source's history; the lot takes they point at moved with the ledger,
    so cancelling one gives the points back to the target. The per-member limit counts vouchers held,
    so it follows them (a merge may leave the target above a reward's limit: nothing is taken away).
    """
    await store.move_member_vouchers(conn, source=source, target=target)


merge_registry.register("rewards", _move_vouchers)
