"""Expected failures, and the one place they become gRPC statuses.

    LoyaltyError
    ├── InvalidArgument          INVALID_ARGUMENT, google.rpc.BadRequest field violations
    ├── Unauthenticated          UNAUTHENTICATED
    ├── PermissionDenied         PERMISSION_DENIED
    ├── NotFound                 NOT_FOUND, google.rpc.ResourceInfo
    ├── AlreadyExists            ALREADY_EXISTS
    │   └── IdempotencyKeyReused     the same key came with another request
    ├── FailedPrecondition       FAILED_PRECONDITION, google.rpc.PreconditionFailure + ErrorInfo
    │   └── InsufficientPoints       metadata: available, requested
    ├── ResourceExhausted        RESOURCE_EXHAUSTED, google.rpc.RetryInfo
    └── Unavailable              UNAVAILABLE (the database is away; retry with the same key)

Every error carries a machine-readable `reason` (UPPER_SNAKE) and `metadata` that clients turn back into
typed exceptions (google.rpc.ErrorInfo).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

__all__ = [
    "AlreadyExists",
    "FailedPrecondition",
    "FieldViolation",
    "IdempotencyKeyReused",
    "InsufficientPoints",
    "InvalidArgument",
    "LoyaltyError",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "to_status",
]

ERROR_DOMAIN = "loyalty.v1"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str
    description: str


class LoyaltyError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.FAILED_PRECONDITION
    reason: str = "FAILED"

    def __init__(
        self, message: str, *, reason: str | None = None, metadata: Mapping[str, object] | None = None
    ):
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata = {k: str(v) for k, v in (metadata or {}).items()}


class InvalidArgument(LoyaltyError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: Sequence[FieldViolation], message: str | None = None) -> None:
        assert violations, "an InvalidArgument names at least one field"
        text = message or "; ".join(f"{v.field}: {v.description}" for v in violations)
        super().__init__(text)
        self.violations = tuple(violations)


class Unauthenticated(LoyaltyError):
    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class PermissionDenied(LoyaltyError):
    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class NotFound(LoyaltyError):
    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"

    def __init__(self, resource_type: str, name: str, message: str | None = None) -> None:
        super().__init__(
            message or f"{resource_type} {name!r} not found", metadata={"resource_type": resource_type}
        )
        self.resource_type, self.name = resource_type, name


class AlreadyExists(LoyaltyError):
    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "ALREADY_EXISTS"


class IdempotencyKeyReused(AlreadyExists):
    reason = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self, *, key: str, method: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was used with a different request payload",
            metadata={"idempotency_key": key, "first_method": method},
        )


class FailedPrecondition(LoyaltyError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class InsufficientPoints(FailedPrecondition):
    reason = "INSUFFICIENT_POINTS"

    def __init__(self, *, member_id: str, available: int, requested: int) -> None:
        super().__init__(
            f"available balance {available} < requested {requested}",
            metadata={"member_id": member_id, "available": available, "requested": requested},
        )
        self.member_id, self.available, self.requested = member_id, available, requested


class ResourceExhausted(LoyaltyError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, *, retry_after_seconds: float, reason: str | None = None) -> None:
        super().__init__(message, reason=reason, metadata={"retry_after_seconds": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds


class Unavailable(LoyaltyError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = "UNAVAILABLE"


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_status(error: LoyaltyError) -> status_pb2.Status:
    """The google.rpc.Status sent in `grpc-status-details-bin` for an expected failure."""
    status = status_pb2.Status(code=error.code.value[0], message=error.message)
    status.details.append(
        _pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata))
    )
    if isinstance(error, InvalidArgument):
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in error.violations
            ]
        )
        status.details.append(_pack(bad))
    elif isinstance(error, NotFound):
        status.details.append(
            _pack(error_details_pb2.ResourceInfo(resource_type=error.resource_type, resource_name=error.name))
        )
    elif isinstance(error, FailedPrecondition):
        violation = error_details_pb2.PreconditionFailure.Violation(
            type=error.reason, subject=error.metadata.get("member_id", ""), description=error.message
        )
        status.details.append(_pack(error_details_pb2.PreconditionFailure(violations=[violation])))
    elif isinstance(error, ResourceExhausted):
        seconds = max(error.retry_after_seconds, 0.0)
        delay = duration_pb2.Duration(seconds=int(seconds), nanos=int((seconds % 1) * 1e9))
        status.details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return status
