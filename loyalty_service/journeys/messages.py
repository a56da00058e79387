"""Journeys rows as protobuf messages."""

from __future__ import annotations

from loyalty.v1 import journey_settings_pb2, journeys_pb2

from loyalty_service.journeys.store import JourneySettings, PickupRow
from loyalty_service.proto_time import to_timestamp

__all__ = ["pickup_message", "settings_message"]

_STATUS = {
    "awaiting": journeys_pb2.PICKUP_STATUS_AWAITING,
    "collected": journeys_pb2.PICKUP_STATUS_COLLECTED,
    "cancelled": journeys_pb2.PICKUP_STATUS_CANCELLED,
}


def pickup_message(row: PickupRow) -> journeys_pb2.Pickup:
    message = journeys_pb2.Pickup(
        member_id=row.member_id,
        purchase_id=row.purchase_id,
        order_store_id=row.order_store_id,
        order_id=row.order_id,
        pickup_store_id=row.pickup_store_id,
        status=_STATUS[row.status],
        points=row.points,
        deadline=to_timestamp(row.deadline_at),
        cancel_reason=row.cancel_reason or "",
        bonus_points=row.bonus_points,
    )
    if row.collected_at is not None:
        message.collected_at.CopyFrom(to_timestamp(row.collected_at))
    if row.cancelled_at is not None:
        message.cancelled_at.CopyFrom(to_timestamp(row.cancelled_at))
    return message


def settings_message(value: JourneySettings) -> journey_settings_pb2.JourneySettings:
    return journey_settings_pb2.JourneySettings(
        pickup_deadline_days=value.pickup_deadline_days,
        pickup_bonus_points=value.pickup_bonus_points,
        referrer_bonus_points=value.referrer_bonus_points,
        referee_bonus_points=value.referee_bonus_points,
        referrals_per_year_max=value.referrals_per_year_max,
    )
