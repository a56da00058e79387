"""Edge validation of ledger requests: every field checked before a transaction opens.

Each reader collects field violations in `Checks` (the caller raises them all at once with
`checks.done()`) and returns the validated value, or None where the field was invalid.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.v1 import common_pb2, ledger_pb2

from loyalty_service.auth.principal import Principal, PrincipalKind
from loyalty_service.common_messages import CHANNELS, channel_of, read_identifier
from loyalty_service.errors import LoyaltyError, PermissionDenied
from loyalty_service.kernel.channel import Channel
from loyalty_service.kernel.identifiers import IdentifierKind
from loyalty_service.kernel.money import is_currency_code
from loyalty_service.ledger.earning import PurchaseLine
from loyalty_service.ledger.purchases import PurchaseInput, RefundInput
from loyalty_service.members.api import MemberKey
from loyalty_service.validation import Checks

__all__ = [
    "FUTURE_TOLERANCE",
    "MAX_LINES",
    "MAX_POINTS",
    "authorize_channel",
    "channel_of",
    "item_error",
    "page_token",
    "read_member_ref",
    "read_page_token",
    "read_points",
    "read_purchase",
    "read_refund",
]

MAX_POINTS = 10**12
"""Amounts and points are below this (exclusive): far above any real sale, far below int64 overflow."""
MAX_LINES = 200
FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far a till's clock may run ahead of ours before its timestamps are refused."""
_SALE_CHANNELS = {common_pb2.CHANNEL_POS: Channel.POS, common_pb2.CHANNEL_WEBSHOP: Channel.WEBSHOP}


def read_member_ref(checks: Checks, field: str, ref: common_pb2.MemberRef) -> MemberKey | None:
    which = ref.WhichOneof("ref")
    if which == "member_id":
        return MemberKey(member_id=checks.entity_id(f"{field}.member_id", ref.member_id, "mem"))
    if which == "identifier":
        identifier = read_identifier(checks, f"{field}.identifier", ref.identifier)
        return None if identifier is None else MemberKey(kind=identifier[0], value=identifier[1])
    checks.fail(field, "required: a member_id or an identifier")
    return None


def read_points(checks: Checks, field: str, value: int, *, signed: bool = False) -> int:
    if signed and value == 0:
        checks.fail(field, "must not be zero")
    elif not signed and value <= 0:
        checks.fail(field, "must be greater than zero")
    elif abs(value) >= MAX_POINTS:
        checks.fail(field, f"must be below {MAX_POINTS} in absolute value")
    return value


def _read_money(checks: Checks, field: str, money: common_pb2.Money, present: bool) -> tuple[int, str]:
    if not present:
        checks.fail(field, "required")
        return 0, ""
    if not 0 < money.amount_minor < MAX_POINTS:
        checks.fail(f"{field}.amount_minor", f"must be greater than 0 and below {MAX_POINTS}")
    if not is_currency_code(money.currency):
        checks.fail(f"{field}.currency", "an ISO 4217 code in upper case, e.g. EUR")
    return money.amount_minor, money.currency


def _read_lines(
    checks: Checks, field: str, lines: Sequence[ledger_pb2.PurchaseLine]
) -> tuple[PurchaseLine, ...]:
    if len(lines) > MAX_LINES:
        checks.fail(field, f"at most {MAX_LINES} lines")
        return ()
    result = []
    for index, line in enumerate(lines):
        name = f"{field}[{index}]"
        sku = checks.text(f"{name}.sku", line.sku, required=False)
        category = checks.text(f"{name}.category", line.category, required=False)
        if not sku and not category:
            checks.fail(name, "a line needs a sku or a category")
        checks.count(f"{name}.quantity", line.quantity, minimum=1, maximum=1_000_000)
        if not 0 <= line.amount_minor < MAX_POINTS:
            checks.fail(f"{name}.amount_minor", f"must be between 0 and {MAX_POINTS - 1}")
        result.append(PurchaseLine(sku, category, line.quantity, line.amount_minor))
    return tuple(result)


def read_occurred_at(
    checks: Checks, field: str, stamp: Timestamp, *, present: bool, now: datetime
) -> datetime:
    moment = checks.timestamp(field, stamp, present=present)
    if moment is not None and moment > now + FUTURE_TOLERANCE:
        checks.fail(field, "is in the future")
    return moment or now


def _read_sale_channel(checks: Checks, request_channel: int, store_id: str) -> Channel | None:
    channel = checks.enum("channel", request_channel, _SALE_CHANNELS)
    checks.code("store_id", store_id, required=channel is Channel.POS)
    return channel


def authorize_channel(principal: Principal, channel: Channel, store_id: str) -> None:
    """A till acts for its own store in the POS channel; the web shop acts in the WEBSHOP channel."""
    expected = channel_of(principal)
    if principal.kind in (PrincipalKind.POS, PrincipalKind.WEBSHOP) and channel is not expected:
        raise PermissionDenied(
            f"a {principal.kind.value} credential records only the {expected.value} channel"
        )
    principal.require_store(store_id)


def read_purchase(
    checks: Checks, request: ledger_pb2.RecordPurchaseRequest, *, now: datetime, principal: Principal
) -> PurchaseInput | None:
    """The validated purchase (None if a field is invalid: `checks` says which)."""
    checks.idempotency_key(request.idempotency_key)
    member = read_member_ref(checks, "member", request.member)
    channel = _read_sale_channel(checks, request.channel, request.store_id)
    order_id = checks.code("order_id", request.order_id)
    amount, currency = _read_money(checks, "amount", request.amount, request.HasField("amount"))
    occurred_at = read_occurred_at(
        checks, "occurred_at", request.occurred_at, present=request.HasField("occurred_at"), now=now
    )
    lines = _read_lines(checks, "lines", request.lines)
    pickup_store_id = checks.code("pickup_store_id", request.pickup_store_id, required=False)
    if pickup_store_id and channel is not Channel.WEBSHOP:
        checks.fail("pickup_store_id", "click-and-collect is for WEBSHOP orders only")
    if member is None or channel is None or checks.violations:
        return None
    # An unknown card scanned at a till starts a provisional member; elsewhere it is NOT_FOUND.
    card = (
        member.value if member.kind is IdentifierKind.CARD and principal.kind is PrincipalKind.POS else None
    )
    return PurchaseInput(
        member=member,
        provisional_card=card,
        channel=channel,
        store_id=request.store_id,
        order_id=order_id,
        amount_minor=amount,
        currency=currency,
        occurred_at=occurred_at,
        lines=lines,
        pickup_store_id=pickup_store_id,
    )


def read_refund(
    checks: Checks, request: ledger_pb2.RecordRefundRequest, *, now: datetime
) -> RefundInput | None:
    checks.idempotency_key(request.idempotency_key)
    channel = _read_sale_channel(checks, request.channel, request.store_id)
    order_id = checks.code("order_id", request.order_id)
    amount, currency = _read_money(checks, "amount", request.amount, request.HasField("amount"))
    occurred_at = read_occurred_at(
        checks, "occurred_at", request.occurred_at, present=request.HasField("occurred_at"), now=now
    )
    lines = _read_lines(checks, "lines", request.lines)
    if channel is None or checks.violations:
        return None
    return RefundInput(
        channel=channel,
        store_id=request.store_id,
        order_id=order_id,
        amount_minor=amount,
        currency=currency,
        occurred_at=occurred_at,
        lines=lines,
    )


def read_spend_channel(checks: Checks, request_channel: int, store_id: str) -> Channel | None:
    """Spends happen at a till or on the web shop, like sales."""
    return _read_sale_channel(checks, request_channel, store_id)


def read_channel_filter(checks: Checks, field: str, values: Sequence[int]) -> list[Channel]:
    return [c for i, v in enumerate(values) if (c := checks.enum(f"{field}[{i}]", v, CHANNELS)) is not None]


def item_error(error: LoyaltyError) -> common_pb2.ItemError:
    """A batch item's error, saying what `errors.to_status` would send for the item sent alone: code,
    message, field violations, and its ErrorInfo's reason and metadata (the same `error.reason` and
    `error.metadata`), so a till tells OFFLINE_PURCHASE_TOO_OLD from DUPLICATE_ORDER without the text."""
    item = common_pb2.ItemError(
        code=error.code.value[0], message=error.message, reason=error.reason, metadata=error.metadata
    )
    for violation in getattr(error, "violations", ()):
        item.field_violations.add(field=violation.field, description=violation.description)
    return item


def page_token(member_id: str, seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{member_id}:{seq}".encode()).decode()


def read_page_token(checks: Checks, token: str, member_id: str) -> int | None:
    if not token:
        return None
    try:
        version, owner, seq = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        if version == "v1" and owner == member_id and int(seq) > 0:
            return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    checks.fail("page_token", "not a page token of this member's listing")
    return None
