"""Edge validation: collect every field violation of a request, then refuse it once (INVALID_ARGUMENT).

Nothing is written for a refused request, because validation runs before the transaction opens.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from loyalty_service.errors import FieldViolation, InvalidArgument

__all__ = ["MAX_TEXT", "Checks"]

T = TypeVar("T")

MAX_TEXT = 256
_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces
_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_ID = re.compile(r"^(?P<prefix>[a-z]+)_[0-9A-HJKMNP-TV-Z]{26}$")
_MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)
_MAX_TS = datetime(2200, 1, 1, tzinfo=UTC)


class Checks:
    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def fail(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description))

    def done(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)

    def idempotency_key(self, value: str, field: str = "idempotency_key") -> str:
        if not _KEY.match(value):
            self.fail(field, "required: 1-128 printable ASCII characters without spaces")
        return value

    def text(self, field: str, value: str, *, required: bool = True, max_length: int = MAX_TEXT) -> str:
        if required and not value.strip():
            self.fail(field, "required")
        elif len(value) > max_length:
            self.fail(field, f"at most {max_length} characters")
        elif any(ord(ch) < 32 for ch in value):
            self.fail(field, "control characters are not allowed")
        return value.strip()

    def code(self, field: str, value: str, *, required: bool = True) -> str:
        """An external reference such as an order id or a store code."""
        if not value:
            if required:
                self.fail(field, "required")
        elif not _CODE.match(value):
            self.fail(field, "1-128 of A-Z a-z 0-9 _ . : -")
        return value

    def entity_id(self, field: str, value: str, prefix: str, *, required: bool = True) -> str:
        if not value:
            if required:
                self.fail(field, "required")
            return value
        match = _ID.match(value)
        if match is None or match["prefix"] != prefix:
            self.fail(field, f"not a valid {prefix}_ id")
        return value

    def enum(self, field: str, value: int, allowed: Mapping[Any, T]) -> T | None:
        if value not in allowed:
            self.fail(field, f"must be one of {sorted(allowed)}" if value else "required")
            return None
        return allowed[value]

    def count(self, field: str, value: int, *, minimum: int, maximum: int) -> int:
        if not minimum <= value <= maximum:
            self.fail(field, f"must be between {minimum} and {maximum}")
        return value

    def timestamp(
        self, field: str, value: Timestamp, *, present: bool, required: bool = True
    ) -> datetime | None:
        if not present:
            if required:
                self.fail(field, "required")
            return None
        if not 0 <= value.nanos < 1_000_000_000:
            self.fail(field, "invalid nanos")
            return None
        try:
            moment = value.ToDatetime(tzinfo=UTC)
        except (ValueError, OverflowError):
            self.fail(field, "out of range")
            return None
        if not _MIN_TS <= moment < _MAX_TS:
            self.fail(field, "must be between 2000 and 2200")
            return None
        return moment

    def window(
        self,
        message: Any,
        start: str,
        end: str,
        *,
        prefix: str = "",
        start_required: bool = False,
        end_required: bool = False,
    ) -> tuple[datetime | None, datetime | None]:
        """The timestamps `message.<start>` and `message.<end>` (violations on `prefix + name`); when both
        are set, the end must be after the start."""
        opens = self.timestamp(
            prefix + start, getattr(message, start), present=message.HasField(start), required=start_required
        )
        closes = self.timestamp(
            prefix + end, getattr(message, end), present=message.HasField(end), required=end_required
        )
        if opens is not None and closes is not None and closes <= opens:
            self.fail(prefix + end, f"must be after {start}")
        return opens, closes
