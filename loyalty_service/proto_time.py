"""Conversions between aware datetimes and protobuf Timestamps.

Both directions do the arithmetic protobuf's `FromDatetime`/`ToDatetime` do, minus their detours
(`utctimetuple` and `calendar.timegm` one way, an `astimezone` the other): every purchase converts several
times. Anything outside the Timestamp range, or a tzinfo that gives no offset, goes through protobuf itself,
so it fails (or converts) exactly as before. tests/foundation/test_proto_time.py holds both to protobuf.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

__all__ = ["from_timestamp", "set_timestamp", "to_timestamp"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS_MIN = -62135596800
"""0001-01-01T00:00:00Z, protobuf's lower bound."""
_SECONDS_MAX = 253402300799
"""9999-12-31T23:59:59Z, protobuf's upper bound."""
_NANOS_PER_SECOND = 1_000_000_000


def to_timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    set_timestamp(stamp, moment)
    return stamp


def set_timestamp(stamp: Timestamp, moment: datetime) -> None:
    """Write `moment` into `stamp`, e.g. a message's own field (no copy), as `to_timestamp` converts it.

    Like any field write, it marks the field present, even for the epoch.
    """
    assert moment.tzinfo is not None, "timestamps are timezone-aware"
    try:
        # Aware minus aware subtracts the offsets exactly (seconds and microseconds of them too); the
        # timedelta is normalised, so days * 86400 + seconds is the floor and microseconds is >= 0, as
        # protobuf keeps them.
        delta = moment - _EPOCH
    except TypeError:  # a tzinfo whose utcoffset() is None: the datetime is naive after all
        stamp.FromDatetime(moment.astimezone(UTC))
        return
    seconds = delta.days * 86400 + delta.seconds
    if not _SECONDS_MIN <= seconds <= _SECONDS_MAX:
        stamp.FromDatetime(moment.astimezone(UTC))  # fails as it always did
        return
    stamp.seconds = seconds
    stamp.nanos = delta.microseconds * 1000


def from_timestamp(stamp: Timestamp) -> datetime:
    seconds = stamp.seconds
    nanos = stamp.nanos
    if _SECONDS_MIN <= seconds <= _SECONDS_MAX and 0 <= nanos < _NANOS_PER_SECOND:
        # ToDatetime's own sum; nanos are >= 0 here, so // rounds toward zero as its _RoundTowardZero does.
        return _EPOCH + timedelta(0, seconds, nanos // 1000)
    return stamp.ToDatetime(tzinfo=UTC)
