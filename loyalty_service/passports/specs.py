"""Passport specs: validation of PassportSpec, its JSON form in `passports.spec`, messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from loyalty.v1 import passports_pb2

from loyalty_service.proto_time import to_timestamp
from loyalty_service.validation import Checks

__all__ = ["passport_message", "read_spec", "spec_from_json", "spec_json", "window_bounds"]

_STAMP_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_STAMPS_MAX = 30


def spec_json(spec: passports_pb2.PassportSpec) -> dict[str, Any]:
    return json_format.MessageToDict(spec, preserving_proto_field_name=True)


def spec_from_json(value: dict[str, Any]) -> passports_pb2.PassportSpec:
    return json_format.ParseDict(value, passports_pb2.PassportSpec())


def window_bounds(spec: passports_pb2.PassportSpec) -> tuple[datetime, datetime | None]:
    closes = spec.closes_at.ToDatetime(tzinfo=UTC) if spec.HasField("closes_at") else None
    return spec.opens_at.ToDatetime(tzinfo=UTC), closes


def read_spec(
    checks: Checks, spec: passports_pb2.PassportSpec, *, present: bool
) -> passports_pb2.PassportSpec:
    if not present:
        checks.fail("spec", "required")
        return spec
    checks.text("spec.name", spec.name)
    checks.text("spec.description", spec.description, required=False, max_length=2000)
    checks.window(spec, "opens_at", "closes_at", prefix="spec.", start_required=True)
    if not 1 <= len(spec.stamps) <= _STAMPS_MAX:
        checks.fail("spec.stamps", f"1 to {_STAMPS_MAX} stamps")
    seen: set[str] = set()
    for index, stamp in enumerate(spec.stamps[:_STAMPS_MAX]):
        field = f"spec.stamps[{index}]"
        if not _STAMP_ID.match(stamp.stamp_id) or stamp.stamp_id in seen:
            checks.fail(f"{field}.stamp_id", "1-64 of A-Z a-z 0-9 _ -, unique in the passport")
        seen.add(stamp.stamp_id)
        checks.text(f"{field}.name", stamp.name)
        kind = stamp.WhichOneof("condition")
        if kind is None:
            checks.fail(f"{field}.condition", "required: purchase, game, challenge or voucher_used")
        elif kind == "purchase":
            if stamp.purchase.min_amount_minor < 0:
                checks.fail(f"{field}.purchase.min_amount_minor", "must be >= 0")
            if stamp.purchase.min_amount_minor and len(stamp.purchase.currency) != 3:
                checks.fail(f"{field}.purchase.currency", "required with min_amount_minor")
    done = spec.completion
    if not 0 <= done.points <= 10**9:
        checks.fail("spec.completion.points", "must be between 0 and 1000000000")
    checks.entity_id("spec.completion.reward_id", done.reward_id, "rwd", required=False)
    checks.entity_id("spec.completion.draw_id", done.draw_id, "drw", required=False)
    return spec


def passport_message(
    passport_id: str, spec: dict[str, Any], created_at: datetime, updated_at: datetime
) -> passports_pb2.Passport:
    return passports_pb2.Passport(
        passport_id=passport_id,
        spec=spec_from_json(spec),
        created_at=to_timestamp(created_at),
        updated_at=to_timestamp(updated_at),
    )
