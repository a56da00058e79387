"""Why a reward or a voucher was refused: FAILED_PRECONDITION with a reason clients map to a type."""

from __future__ import annotations

from datetime import datetime

from loyalty_service.errors import FailedPrecondition

__all__ = [
    "OutOfStock",
    "RewardLimitReached",
    "RewardNotAvailable",
    "VoucherAlreadyUsed",
    "VoucherCancelled",
    "VoucherExpired",
    "VoucherNotValidHere",
]


class RewardNotAvailable(FailedPrecondition):
    """Archived, or outside its visibility window (redemption only)."""

    reason = "REWARD_NOT_AVAILABLE"

    def __init__(self, *, reward_id: str, why: str) -> None:
        super().__init__(f"reward {reward_id} is not available: {why}", metadata={"reward_id": reward_id})


class OutOfStock(FailedPrecondition):
    reason = "OUT_OF_STOCK"

    def __init__(self, *, reward_id: str) -> None:
        super().__init__(f"reward {reward_id} is out of stock", metadata={"reward_id": reward_id})


class RewardLimitReached(FailedPrecondition):
    reason = "REWARD_LIMIT_REACHED"

    def __init__(self, *, member_id: str, reward_id: str, limit: int) -> None:
        super().__init__(
            f"member holds the {limit} voucher(s) of reward {reward_id} a member may hold",
            metadata={"member_id": member_id, "reward_id": reward_id, "limit": limit},
        )


class VoucherAlreadyUsed(FailedPrecondition):
    reason = "VOUCHER_ALREADY_USED"

    def __init__(self, *, voucher_id: str, used_at: datetime, store_id: str, channel: str) -> None:
        where = f"store {store_id}" if store_id else channel
        super().__init__(
            f"voucher already used at {used_at.isoformat()} ({where})",
            metadata={
                "voucher_id": voucher_id,
                "used_at": used_at.isoformat(),
                "store_id": store_id,
                "channel": channel,
            },
        )


class VoucherCancelled(FailedPrecondition):
    reason = "VOUCHER_CANCELLED"

    def __init__(self, *, voucher_id: str) -> None:
        super().__init__("voucher was cancelled", metadata={"voucher_id": voucher_id})


class VoucherExpired(FailedPrecondition):
    reason = "VOUCHER_EXPIRED"

    def __init__(self, *, voucher_id: str, valid_until: datetime) -> None:
        super().__init__(
            f"voucher expired at {valid_until.isoformat()}",
            metadata={"voucher_id": voucher_id, "valid_until": valid_until.isoformat()},
        )


class VoucherNotValidHere(FailedPrecondition):
    reason = "VOUCHER_NOT_VALID_HERE"

    def __init__(self, *, voucher_id: str, channel: str, store_id: str) -> None:
        where = f"store {store_id}" if store_id else f"channel {channel}"
        super().__init__(
            f"voucher is not valid in {where}",
            metadata={"voucher_id": voucher_id, "channel": channel, "store_id": store_id},
        )
