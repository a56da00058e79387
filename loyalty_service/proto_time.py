"""Conversions between aware datetimes and protobuf Timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

__all__ = ["from_timestamp", "to_timestamp"]


def to_timestamp(moment: datetime) -> Timestamp:
    assert moment.tzinfo is not None, "timestamps are timezone-aware"
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def from_timestamp(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)
