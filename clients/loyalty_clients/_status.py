"""Reading the `google.rpc.Status` the service sends in `grpc-status-details-bin`, with protobuf alone.

The messages below are wire-compatible copies of google.rpc.Status, ErrorInfo, BadRequest, ResourceInfo,
PreconditionFailure and RetryInfo (a map is a repeated key/value entry on the wire; Any and Duration are
two plain fields), declared in a private descriptor pool so they never clash with googleapis-common-protos
when that package is loaded too. This keeps `loyalty-clients` on grpcio and protobuf only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

__all__ = ["FieldViolation", "PreconditionViolation", "RpcStatus", "parse_status"]

_PACKAGE = "loyalty_clients.rpc"
_TYPE_URL_PREFIX = "type.googleapis.com/google.rpc."
_F = descriptor_pb2.FieldDescriptorProto
_STRING, _BYTES, _INT32, _INT64, _MESSAGE = (
    _F.TYPE_STRING,
    _F.TYPE_BYTES,
    _F.TYPE_INT32,
    _F.TYPE_INT64,
    _F.TYPE_MESSAGE,
)
_OPTIONAL, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED

# name -> [(field name, number, type, label, message type name)]
_MESSAGES: dict[str, list[tuple[str, int, int, int, str]]] = {
    "AnyLike": [("type_url", 1, _STRING, _OPTIONAL, ""), ("value", 2, _BYTES, _OPTIONAL, "")],
    "Status": [
        ("code", 1, _INT32, _OPTIONAL, ""),
        ("message", 2, _STRING, _OPTIONAL, ""),
        ("details", 3, _MESSAGE, _REPEATED, "AnyLike"),
    ],
    "Entry": [("key", 1, _STRING, _OPTIONAL, ""), ("value", 2, _STRING, _OPTIONAL, "")],
    "ErrorInfo": [
        ("reason", 1, _STRING, _OPTIONAL, ""),
        ("domain", 2, _STRING, _OPTIONAL, ""),
        ("metadata", 3, _MESSAGE, _REPEATED, "Entry"),
    ],
    "Violation": [
        ("type", 1, _STRING, _OPTIONAL, ""),
        ("subject", 2, _STRING, _OPTIONAL, ""),
        ("description", 3, _STRING, _OPTIONAL, ""),
    ],
    "FieldViolationLike": [("field", 1, _STRING, _OPTIONAL, ""), ("description", 2, _STRING, _OPTIONAL, "")],
    "BadRequest": [("field_violations", 1, _MESSAGE, _REPEATED, "FieldViolationLike")],
    "PreconditionFailure": [("violations", 1, _MESSAGE, _REPEATED, "Violation")],
    "ResourceInfo": [
        ("resource_type", 1, _STRING, _OPTIONAL, ""),
        ("resource_name", 2, _STRING, _OPTIONAL, ""),
        ("owner", 3, _STRING, _OPTIONAL, ""),
        ("description", 4, _STRING, _OPTIONAL, ""),
    ],
    "DurationLike": [("seconds", 1, _INT64, _OPTIONAL, ""), ("nanos", 2, _INT32, _OPTIONAL, "")],
    "RetryInfo": [("retry_delay", 1, _MESSAGE, _OPTIONAL, "DurationLike")],
}


def _build() -> dict[str, Any]:
    file = descriptor_pb2.FileDescriptorProto(
        name="loyalty_clients/rpc_status.proto", package=_PACKAGE, syntax="proto3"
    )
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            added = message.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.type_name = f".{_PACKAGE}.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name in _MESSAGES
    }


_CLASSES = _build()


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One invalid field of a request (google.rpc.BadRequest.FieldViolation)."""

    field: str
    description: str


@dataclass(frozen=True, slots=True)
class PreconditionViolation:
    """One failed precondition (google.rpc.PreconditionFailure.Violation)."""

    type: str
    subject: str
    description: str


@dataclass(frozen=True, slots=True)
class RpcStatus:
    """Everything a failed call said about itself, decoded from its rich error details."""

    code: int
    message: str
    reason: str = ""
    domain: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    field_violations: tuple[FieldViolation, ...] = ()
    precondition_violations: tuple[PreconditionViolation, ...] = ()
    resource_type: str = ""
    resource_name: str = ""
    retry_delay: timedelta | None = None


def _unpack(detail: Any, name: str) -> Any | None:
    if detail.type_url != _TYPE_URL_PREFIX + name:
        return None
    return _CLASSES[name].FromString(detail.value)


def parse_status(code: int, message: str, details_bin: bytes | None) -> RpcStatus:
    """Decode `grpc-status-details-bin`; a missing or unreadable blob gives a status without details."""
    if not details_bin:
        return RpcStatus(code=code, message=message)
    try:
        status = _CLASSES["Status"].FromString(details_bin)
        found: dict[str, Any] = {}
        for detail in status.details:
            for name in ("ErrorInfo", "BadRequest", "PreconditionFailure", "ResourceInfo", "RetryInfo"):
                unpacked = _unpack(detail, name)
                if unpacked is not None:
                    found.setdefault(name, unpacked)
    except DecodeError:
        return RpcStatus(code=code, message=message)
    info, bad, failure = found.get("ErrorInfo"), found.get("BadRequest"), found.get("PreconditionFailure")
    resource, retry = found.get("ResourceInfo"), found.get("RetryInfo")
    delay = None
    if retry is not None and retry.HasField("retry_delay"):
        delay = timedelta(seconds=retry.retry_delay.seconds, microseconds=retry.retry_delay.nanos // 1000)
    return RpcStatus(
        code=code,
        message=status.message or message,
        reason=info.reason if info is not None else "",
        domain=info.domain if info is not None else "",
        metadata={entry.key: entry.value for entry in info.metadata} if info is not None else {},
        field_violations=tuple(
            FieldViolation(v.field, v.description) for v in (bad.field_violations if bad else ())
        ),
        precondition_violations=tuple(
            PreconditionViolation(v.type, v.subject, v.description)
            for v in (failure.violations if failure else ())
        ),
        resource_type=resource.resource_type if resource is not None else "",
        resource_name=resource.resource_name if resource is not None else "",
        retry_delay=delay,
    )
