"""Programme figures as the back office reads them (`program_stats`, the figures of `watch_program`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from loyalty_clients._models import Channel, Money

__all__ = ["ChannelStoreStats", "ProgramStats", "SpendComparison"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelStoreStats:
    """The figures of one channel and store (store "" for channels without stores)."""

    channel: Channel
    store_id: str
    members_active: int
    purchases: int
    revenue: tuple[Money, ...]
    """One amount per currency."""
    points_issued: int
    points_spent: int
    points_expired: int
    points_reversed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SpendComparison:
    """Average spend of members buying in one channel against those buying in several, in one currency."""

    currency: str
    single_channel_members: int
    single_channel_average_spend_minor: int
    multi_channel_members: int
    multi_channel_average_spend_minor: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramStats:
    occurred_from: datetime | None
    occurred_to: datetime | None
    members_enrolled: int
    members_active: int
    points_issued: int
    points_spent: int
    points_expired: int
    points_reversed: int
    points_outstanding: int
    purchases: int
    revenue: tuple[Money, ...]
    """One amount per currency."""
    multi_channel_members: int
    multi_channel_share: float
    """Share of active members who bought in more than one channel, in [0, 1]."""
    spend: tuple[SpendComparison, ...]
    by_channel_store: tuple[ChannelStoreStats, ...]
