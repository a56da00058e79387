"""proto_time computes seconds and nanos itself: it must give exactly what protobuf's own
`FromDatetime`/`ToDatetime` give (the reference), for every aware datetime in any fixed offset or zone,
before 1970 too, and fail as protobuf does outside the Timestamp range.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st
from loyalty.v1 import ledger_pb2

from loyalty_service.proto_time import from_timestamp, set_timestamp, to_timestamp

_SECONDS_MIN = -62135596800
_SECONDS_MAX = 253402300799
_ZONES = ("Europe/Paris", "America/St_Johns", "Asia/Kolkata", "Pacific/Chatham", "Australia/Lord_Howe")

# Offsets down to the microsecond, as datetime allows (strictly inside one day either way).
_OFFSETS = st.timedeltas(
    min_value=timedelta(hours=-23, minutes=59), max_value=timedelta(hours=23, minutes=59)
)
_TZINFOS: st.SearchStrategy[tzinfo] = st.one_of(
    st.just(UTC),
    _OFFSETS.map(timezone),
    st.sampled_from(_ZONES).map(ZoneInfo),
)
_AWARE = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=_TZINFOS, allow_imaginary=True
)


def _reference_to(moment: datetime) -> Timestamp:
    """The conversion as first written: protobuf's FromDatetime on the UTC datetime."""
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def _outcome(call: object, value: object) -> object:
    """The result, or the exception's type and text, so failures can be compared too."""
    assert callable(call)
    try:
        return call(value)
    except (ValueError, OverflowError, TypeError) as error:
        return (type(error), str(error))


@settings(max_examples=1000)
@given(_AWARE)
def test_to_timestamp_equals_protobuf(moment: datetime) -> None:
    """Goal: seconds and nanos equal FromDatetime's for any aware datetime, offsets and pre-1970 included."""
    fast = to_timestamp(moment)
    reference = _reference_to(moment)
    assert (fast.seconds, fast.nanos) == (reference.seconds, reference.nanos)
    assert fast == reference


def test_to_timestamp_edges() -> None:
    """Goal: the epoch, just before it, the range ends and odd offsets convert as protobuf does."""
    moments = [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=timezone(timedelta(microseconds=1))),
        datetime(1970, 1, 1, tzinfo=timezone(timedelta(microseconds=-1))),
        datetime(1970, 1, 1, 0, 0, 0, 999999, tzinfo=timezone(timedelta(seconds=-1, microseconds=1))),
        datetime(2026, 10, 25, 2, 30, tzinfo=ZoneInfo("Europe/Paris")),
        datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Paris")),
        datetime(2026, 3, 29, 2, 30, tzinfo=ZoneInfo("Europe/Paris")),  # does not exist
    ]
    for moment in moments:
        assert to_timestamp(moment) == _reference_to(moment), moment


@given(_AWARE)
def test_set_timestamp_writes_in_place_as_protobuf(moment: datetime) -> None:
    """Goal: writing into a message's field gives the message the constructor with to_timestamp gives."""
    in_place = ledger_pb2.NextExpiry(points=1)
    set_timestamp(in_place.expires_at, moment)
    assert in_place == ledger_pb2.NextExpiry(points=1, expires_at=_reference_to(moment))


def test_set_timestamp_marks_the_epoch_present() -> None:
    """Goal: the epoch (seconds and nanos both 0) still makes the field present, as the constructor did."""
    in_place = ledger_pb2.NextExpiry()
    set_timestamp(in_place.expires_at, datetime(1970, 1, 1, tzinfo=UTC))
    assert in_place.HasField("expires_at")
    reference = ledger_pb2.NextExpiry(expires_at=_reference_to(datetime(1970, 1, 1, tzinfo=UTC)))
    assert in_place.SerializeToString() == reference.SerializeToString() != b""


def test_to_timestamp_outside_the_range_fails_as_before() -> None:
    """Goal: a datetime whose UTC time leaves year 1..9999 fails with protobuf's (or astimezone's) error."""
    for moment in (
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        datetime(1, 1, 1, 0, 59, 59, 999999, tzinfo=timezone(timedelta(hours=1))),
        datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-1))),
    ):
        assert _outcome(to_timestamp, moment) == _outcome(_reference_to, moment)
        assert isinstance(_outcome(to_timestamp, moment), tuple)


class _NoOffset(tzinfo):
    """A tzinfo that gives no offset: such a datetime is naive, and astimezone reads it as local time."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


def test_to_timestamp_with_an_offsetless_tzinfo_as_before() -> None:
    """Goal: the odd tzinfo without an offset still goes the old way (local time), not a TypeError."""
    moment = datetime(2026, 5, 1, 12, tzinfo=_NoOffset())
    assert _outcome(to_timestamp, moment) == _outcome(_reference_to, moment)


def test_naive_datetimes_are_refused() -> None:
    """Goal: a naive datetime is a programmer error, as before."""
    with pytest.raises(AssertionError):
        to_timestamp(datetime(2026, 5, 1))


@settings(max_examples=1000)
@given(st.integers(_SECONDS_MIN, _SECONDS_MAX), st.integers(0, 999_999_999))
def test_from_timestamp_equals_protobuf(seconds: int, nanos: int) -> None:
    """Goal: the datetime equals ToDatetime(tzinfo=UTC)'s, value and tzinfo, sub-microsecond nanos dropped."""
    stamp = Timestamp(seconds=seconds, nanos=nanos)
    fast = from_timestamp(stamp)
    reference = stamp.ToDatetime(tzinfo=UTC)
    assert fast == reference
    assert fast.tzinfo is reference.tzinfo
    assert (fast.utcoffset(), fast.fold) == (reference.utcoffset(), reference.fold)
    assert repr(fast) == repr(reference)


def test_from_timestamp_edges_and_invalid() -> None:
    """Goal: range ends convert as protobuf does, and invalid stamps fail with protobuf's own error."""
    cases = [
        (0, 0),
        (-1, 999_999_999),
        (_SECONDS_MIN, 0),
        (_SECONDS_MAX, 999_999_999),
        (_SECONDS_MIN - 1, 0),
        (_SECONDS_MAX + 1, 0),
        (0, -1),
        (0, 1_000_000_000),
        (-1, -1),
    ]
    for seconds, nanos in cases:
        stamp = Timestamp(seconds=seconds, nanos=nanos)
        assert _outcome(from_timestamp, stamp) == _outcome(lambda s: s.ToDatetime(tzinfo=UTC), stamp)


@given(_AWARE)
def test_round_trip(moment: datetime) -> None:
    """Goal: to and back gives the same instant, in UTC (an imaginary local time: the one its offset says)."""
    back = from_timestamp(to_timestamp(moment))
    assert back == moment.astimezone(UTC)
    assert back.tzinfo is UTC
