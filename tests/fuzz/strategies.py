"""Hypothesis strategies that build hostile requests for any RPC from its protobuf descriptor.

A request is either a message (random, boundary and absurd values in every field: huge strings and
lists, negative and overflowing numbers, unknown enum numbers, far past and future times, ids of other
members) or raw bytes a message could never serialise to (garbage, truncation, invalid UTF-8 in a string
field, a field with the wrong wire type).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import descriptor as d
from google.protobuf import message_factory
from google.protobuf.message import Message
from hypothesis import strategies as st

__all__ = ["request_bytes"]

_DEPTH_MAX = 3
_HUGE_TEXT = "é" * 70_000
_HUGE_LIST = 1_200

_INT64 = [-(2**63), -(10**12), -1, 0, 1, 2, 10**12 - 1, 10**12, 2**53 + 1, 2**63 - 1]
_INT32 = [-(2**31), -1, 0, 1, 2, 499, 500, 501, 1000, 1001, 2**31 - 1]
_UINT64 = [0, 1, 2**32, 2**64 - 1]
_UINT32 = [0, 1, 2**32 - 1]
_TIMESTAMP_SECONDS = [
    -62_135_596_800,  # 0001-01-01, the smallest valid Timestamp
    -62_135_596_801,  # one second before: invalid
    -1,
    0,
    946_684_800,  # 2000-01-01
    1_700_000_000,
    4_102_444_800,  # 2100
    7_258_118_400,  # 2200
    253_402_300_799,  # 9999-12-31, the largest valid Timestamp
    253_402_300_800,
    2**62,
]


def _texts(ids: Sequence[str], huge: bool) -> st.SearchStrategy[str]:
    if not huge:
        return st.one_of(st.sampled_from(list(ids)), st.text(max_size=20))
    return st.one_of(
        st.sampled_from(["", " ", "EUR", "eur", "XXX", "a@b.c", "+33612345678", "0", "-1", "\x00", "\n\t"]),
        st.sampled_from(list(ids)),
        st.text(max_size=40),
        st.text(alphabet=st.characters(codec="ascii"), min_size=120, max_size=300),
        st.just(_HUGE_TEXT),
    )


def _scalar(field: d.FieldDescriptor, ids: Sequence[str], huge: bool = True) -> st.SearchStrategy[Any]:
    t = field.type
    if t in (d.FieldDescriptor.TYPE_INT64, d.FieldDescriptor.TYPE_SINT64, d.FieldDescriptor.TYPE_SFIXED64):
        return st.one_of(
            st.sampled_from(_INT64), st.integers(-(2**63), 2**63 - 1), st.integers(-1000, 100_000)
        )
    if t in (d.FieldDescriptor.TYPE_INT32, d.FieldDescriptor.TYPE_SINT32, d.FieldDescriptor.TYPE_SFIXED32):
        return st.one_of(st.sampled_from(_INT32), st.integers(-(2**31), 2**31 - 1))
    if t in (d.FieldDescriptor.TYPE_UINT64, d.FieldDescriptor.TYPE_FIXED64):
        return st.sampled_from(_UINT64)
    if t in (d.FieldDescriptor.TYPE_UINT32, d.FieldDescriptor.TYPE_FIXED32):
        return st.sampled_from(_UINT32)
    if t == d.FieldDescriptor.TYPE_ENUM:
        known = [value.number for value in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-3, 40), st.sampled_from([2**31 - 1, -(2**31)]))
    if t == d.FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t in (d.FieldDescriptor.TYPE_DOUBLE, d.FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32)
    if t == d.FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    assert t == d.FieldDescriptor.TYPE_STRING, field.full_name
    return _texts(ids, huge)


@st.composite
def _message(
    draw: st.DrawFn, descriptor: d.Descriptor, ids: Sequence[str], depth: int = 0, huge: bool = True
) -> Message:
    message = message_factory.GetMessageClass(descriptor)()
    if descriptor.full_name == "google.protobuf.Timestamp":
        message.seconds = draw(st.one_of(st.sampled_from(_TIMESTAMP_SECONDS), st.integers(0, 8_000_000_000)))  # type: ignore[attr-defined]
        message.nanos = draw(st.sampled_from([0, 1, 999_999_999, 1_000_000_000, -1, 2**31 - 1]))  # type: ignore[attr-defined]
        return message
    for field in descriptor.fields:
        if draw(st.integers(0, 3)) == 0:
            continue  # left unset (the default)
        _fill(draw, message, field, ids, depth, huge)
    return message


def _fill(
    draw: st.DrawFn, message: Message, field: d.FieldDescriptor, ids: Sequence[str], depth: int, huge: bool
) -> None:
    is_message = field.type == d.FieldDescriptor.TYPE_MESSAGE
    if is_message and field.message_type.GetOptions().map_entry:
        key_field = field.message_type.fields_by_name["key"]
        value_field = field.message_type.fields_by_name["value"]
        target = getattr(message, field.name)
        for _ in range(draw(st.integers(0, 3))):
            if value_field.type == d.FieldDescriptor.TYPE_MESSAGE:
                continue
            target[draw(_scalar(key_field, ids, False))] = draw(_scalar(value_field, ids, huge))
        return
    if is_message and depth >= _DEPTH_MAX:
        return
    if field.is_repeated:
        count = draw(st.one_of(st.integers(0, 3), st.just(_HUGE_LIST))) if huge else draw(st.integers(0, 2))
        small = huge and count < _HUGE_LIST  # a huge list holds small items (the message stays < 4 MB)
        target = getattr(message, field.name)
        if is_message:
            item = draw(_message(field.message_type, ids, depth + 1, small))
            for _ in range(count):
                target.add().CopyFrom(item)
        else:
            value = draw(_scalar(field, ids, small))
            target.extend([value] * count)
        return
    if is_message:
        getattr(message, field.name).CopyFrom(draw(_message(field.message_type, ids, depth + 1, huge)))
    else:
        setattr(message, field.name, draw(_scalar(field, ids, huge)))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits, value = value & 0x7F, value >> 7
        out.append(bits | (0x80 if value else 0))
        if not value:
            return bytes(out)


@st.composite
def _malformed(draw: st.DrawFn, descriptor: d.Descriptor, ids: Sequence[str]) -> bytes:
    valid = draw(_message(descriptor, ids, _DEPTH_MAX - 1)).SerializeToString()
    strings = [f.number for f in descriptor.fields if f.type == d.FieldDescriptor.TYPE_STRING]
    numbers = [f.number for f in descriptor.fields] or [1]
    kind = draw(st.sampled_from(["garbage", "truncated", "bad_utf8", "wrong_wire_type", "bad_length"]))
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=200))
    if kind == "truncated" and len(valid) > 1:
        return valid[: draw(st.integers(1, len(valid) - 1))]
    if kind == "bad_utf8" and strings:
        number = draw(st.sampled_from(strings))
        payload = draw(st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"ok\x80"]))
        return valid + _varint(number << 3 | 2) + _varint(len(payload)) + payload
    if kind == "bad_length":
        number = draw(st.sampled_from(numbers))
        return valid + _varint(number << 3 | 2) + _varint(2**40) + b"x"
    number = draw(st.sampled_from(numbers))
    return (
        valid
        + _varint(number << 3 | draw(st.sampled_from([0, 1, 5, 3, 7])))
        + b"\x01\x02\x03\x04\x05\x06\x07\x08"
    )


def request_bytes(descriptor: d.Descriptor, ids: Sequence[str]) -> st.SearchStrategy[bytes]:
    """Bytes of a hostile request of type `descriptor`: mostly messages, a fifth malformed."""
    return st.one_of(
        _message(descriptor, ids).map(lambda message: message.SerializeToString()),
        _message(descriptor, ids).map(lambda message: message.SerializeToString()),
        _message(descriptor, ids).map(lambda message: message.SerializeToString()),
        _message(descriptor, ids).map(lambda message: message.SerializeToString()),
        _malformed(descriptor, ids),
    )
