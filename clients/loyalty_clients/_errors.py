"""Typed exceptions: what a failed call means, so a caller never reads a status code.

    LoyaltyClientError               code, reason, message, metadata, status
    ├── InvalidArgument              field_violations
    ├── NotFound                     resource_type, resource_name
    ├── AlreadyExists
    │   ├── IdempotencyKeyReused     the same key came with another request
    │   └── DuplicateOrder           the order was recorded before under another key
    ├── PermissionDenied
    ├── Unauthenticated
    ├── FailedPrecondition           violations
    │   ├── InsufficientPoints       available, requested
    │   ├── PickupRefused            click-and-collect: collected, cancelled, refunded, wrong store
    │   └── SelfReferral             a referral code of the new member's own other account
    ├── ResourceExhausted            retry_after
    ├── Unavailable                  the service could not be reached (after the retries)
    ├── DeadlineExceeded             no answer in time (after the retries); the write may have happened
    └── Unimplemented                the service does not offer this call (yet)

The mapping is two tables: `reason` first (ErrorInfo.reason, most specific), then the gRPC code.
A later feature adds its error with `@_by_reason("VOUCHER_ALREADY_USED")` on a new subclass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

import grpc

from loyalty_clients._status import FieldViolation, PreconditionViolation, RpcStatus, parse_status

__all__ = [
    "AlreadyExists",
    "DeadlineExceeded",
    "DuplicateOrder",
    "FailedPrecondition",
    "FieldViolation",
    "IdempotencyKeyReused",
    "InsufficientPoints",
    "InvalidArgument",
    "LoyaltyClientError",
    "NotFound",
    "PermissionDenied",
    "PickupRefused",
    "PreconditionViolation",
    "ResourceExhausted",
    "SelfReferral",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "from_rpc_error",
]

_DETAILS_KEY = "grpc-status-details-bin"


class LoyaltyClientError(Exception):
    """Any failed call. `reason` is the service's machine-readable cause (e.g. "INSUFFICIENT_POINTS")."""

    def __init__(self, status: RpcStatus) -> None:
        super().__init__(status.message)
        self.status = status
        self.code: grpc.StatusCode = _CODES.get(status.code, grpc.StatusCode.UNKNOWN)
        self.reason = status.reason or self.code.name
        self.message = status.message
        self.metadata: Mapping[str, str] = status.metadata

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code.name}, reason={self.reason!r}, message={self.message!r})"
        )


_E = TypeVar("_E", bound=type[LoyaltyClientError])
_BY_REASON: dict[str, type[LoyaltyClientError]] = {}
_BY_CODE: dict[grpc.StatusCode, type[LoyaltyClientError]] = {}
_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _by_reason(reason: str) -> Callable[[_E], _E]:
    def register(cls: _E) -> _E:
        _BY_REASON[reason] = cls
        return cls

    return register


def _by_code(code: grpc.StatusCode) -> Callable[[_E], _E]:
    def register(cls: _E) -> _E:
        _BY_CODE[code] = cls
        return cls

    return register


@_by_code(grpc.StatusCode.INVALID_ARGUMENT)
class InvalidArgument(LoyaltyClientError):
    """The request was refused as it stands; `field_violations` name each bad field."""

    def __init__(self, status: RpcStatus) -> None:
        super().__init__(status)
        self.field_violations: tuple[FieldViolation, ...] = status.field_violations


@_by_code(grpc.StatusCode.NOT_FOUND)
class NotFound(LoyaltyClientError):
    def __init__(self, status: RpcStatus) -> None:
        super().__init__(status)
        self.resource_type = status.resource_type or status.metadata.get("resource_type", "")
        self.resource_name = status.resource_name


@_by_code(grpc.StatusCode.ALREADY_EXISTS)
class AlreadyExists(LoyaltyClientError):
    pass


@_by_reason("IDEMPOTENCY_KEY_REUSED")
class IdempotencyKeyReused(AlreadyExists):
    """The idempotency key was used before with a different request: make a new key for a new request."""


@_by_reason("DUPLICATE_ORDER")
class DuplicateOrder(AlreadyExists):
    """This (channel, store, order id) was recorded before under another idempotency key."""


@_by_code(grpc.StatusCode.PERMISSION_DENIED)
class PermissionDenied(LoyaltyClientError):
    pass


@_by_code(grpc.StatusCode.UNAUTHENTICATED)
class Unauthenticated(LoyaltyClientError):
    pass


@_by_code(grpc.StatusCode.FAILED_PRECONDITION)
class FailedPrecondition(LoyaltyClientError):
    def __init__(self, status: RpcStatus) -> None:
        super().__init__(status)
        self.violations: tuple[PreconditionViolation, ...] = status.precondition_violations


def _int(metadata: Mapping[str, str], name: str) -> int:
    try:
        return int(metadata.get(name, "0"))
    except ValueError:
        return 0


@_by_reason("INSUFFICIENT_POINTS")
class InsufficientPoints(FailedPrecondition):
    """A spend asked for more than the available balance."""

    def __init__(self, status: RpcStatus) -> None:
        super().__init__(status)
        self.available = _int(status.metadata, "available")
        self.requested = _int(status.metadata, "requested")


class PickupRefused(FailedPrecondition):
    """A click-and-collect pickup that cannot be confirmed; `reason` says why: ALREADY_COLLECTED,
    ORDER_CANCELLED, ORDER_REFUNDED, WRONG_STORE (`pickup_store_id` names the right one) or
    NOT_CLICK_AND_COLLECT."""

    def __init__(self, status: RpcStatus) -> None:
        super().__init__(status)
        self.pickup_store_id = status.metadata.get("pickup_store_id", "")


_PICKUP_REASONS = (
    "ALREADY_COLLECTED",
    "ORDER_CANCELLED",
    "ORDER_REFUNDED",
    "WRONG_STORE",
    "NOT_CLICK_AND_COLLECT",
)
for _reason in _PICKUP_REASONS:
    _by_reason(_reason)(PickupRefused)


@_by_reason("SELF_REFERRAL")
class SelfReferral(FailedPrecondition):
    """An enrolment with the referral code of a member sharing an identifier with the new one."""


@_by_code(grpc.StatusCode.RESOURCE_EXHAUSTED)
class ResourceExhausted(LoyaltyClientError):
    """Too many calls or an exhausted stock; `retry_after` says when trying again makes sense."""

    def __init__(self, status: RpcStatus) -> None:
        super().__init__(status)
        self.retry_after: timedelta | None = status.retry_delay


@_by_code(grpc.StatusCode.UNAVAILABLE)
class Unavailable(LoyaltyClientError):
    pass


@_by_code(grpc.StatusCode.DEADLINE_EXCEEDED)
class DeadlineExceeded(LoyaltyClientError):
    pass


@_by_code(grpc.StatusCode.UNIMPLEMENTED)
class Unimplemented(LoyaltyClientError):
    pass


def _details_bin(error: grpc.RpcError) -> bytes | None:
    trailing: Any = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            return value
    return None


def from_status(status: RpcStatus) -> LoyaltyClientError:
    """The most specific exception for `status`: by reason, else by code, else the base class."""
    code = _CODES.get(status.code, grpc.StatusCode.UNKNOWN)
    cls = _BY_REASON.get(status.reason) or _BY_CODE.get(code) or LoyaltyClientError
    return cls(status)


def from_rpc_error(error: grpc.RpcError) -> LoyaltyClientError:
    """Translate a grpc error (sync or aio) once, at the edge of the client."""
    code: grpc.StatusCode = error.code()
    message: str = error.details() or ""
    return from_status(parse_status(code.value[0], message, _details_bin(error)))
