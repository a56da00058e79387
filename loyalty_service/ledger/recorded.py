"""What other features' purchase hooks get of a purchase recorded in their transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["RecordedPurchase"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedPurchase:
    member_id: str
    purchase_id: str
    channel: str
    amount_minor: int
    currency: str
    occurred_at: datetime
