"""The ledger's protobuf builders write fields in place (no sub-message built and copied): each must give
exactly the message its first, constructor-and-`FromDatetime` form gave, kept here as the reference.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st
from loyalty.v1 import common_pb2, events_pb2, ledger_pb2

from loyalty_service.common_messages import CHANNEL_TO_PROTO
from loyalty_service.kernel.channel import Channel
from loyalty_service.ledger.earning import PurchaseLine
from loyalty_service.ledger.lots import NextExpiry
from loyalty_service.ledger.messages import EntryType, balance_message, entry_message
from loyalty_service.ledger.purchase_event import category_amounts, purchase_recorded
from loyalty_service.ledger.store import EntryRow

_INT64 = st.integers(-(2**63), 2**63 - 1)
_TEXT = st.text(max_size=12)
_CHANNELS = st.sampled_from(["", "unknown", *(channel.value for channel in Channel)])
_MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.one_of(
        st.just(UTC),
        st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)).map(timezone),
    ),
)


# --- the reference: the builders as first written ---------------------------------------------------


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


_ENTRY_TYPE_TO_PROTO = {
    EntryType.EARN.value: ledger_pb2.ENTRY_TYPE_EARN,
    EntryType.REFUND_REVERSAL.value: ledger_pb2.ENTRY_TYPE_REFUND_REVERSAL,
    EntryType.SPEND.value: ledger_pb2.ENTRY_TYPE_SPEND,
    EntryType.SPEND_CANCEL.value: ledger_pb2.ENTRY_TYPE_SPEND_CANCEL,
    EntryType.ADJUST.value: ledger_pb2.ENTRY_TYPE_ADJUST,
    EntryType.EXPIRE.value: ledger_pb2.ENTRY_TYPE_EXPIRE,
    EntryType.MERGE_OUT.value: ledger_pb2.ENTRY_TYPE_MERGE_OUT,
    EntryType.MERGE_IN.value: ledger_pb2.ENTRY_TYPE_MERGE_IN,
    EntryType.REDEEM.value: ledger_pb2.ENTRY_TYPE_REDEEM,
    EntryType.REDEEM_CANCEL.value: ledger_pb2.ENTRY_TYPE_REDEEM_CANCEL,
    EntryType.GAME_PLAY.value: ledger_pb2.ENTRY_TYPE_GAME_PLAY,
    EntryType.GAME_WIN.value: ledger_pb2.ENTRY_TYPE_GAME_WIN,
    EntryType.PASSPORT_REWARD.value: ledger_pb2.ENTRY_TYPE_PASSPORT_REWARD,
    EntryType.CHALLENGE_REWARD.value: ledger_pb2.ENTRY_TYPE_CHALLENGE_REWARD,
    EntryType.DRAW_ENTRY.value: ledger_pb2.ENTRY_TYPE_DRAW_ENTRY,
    EntryType.DRAW_WIN.value: ledger_pb2.ENTRY_TYPE_DRAW_WIN,
    EntryType.BONUS.value: ledger_pb2.ENTRY_TYPE_BONUS,
}


def _reference_entry(entry: EntryRow) -> ledger_pb2.LedgerEntry:
    return ledger_pb2.LedgerEntry(
        entry_id=entry.entry_id,
        member_id=entry.member_id,
        type=_ENTRY_TYPE_TO_PROTO[entry.entry_type],
        points=entry.points,
        balance_after=entry.balance_after,
        channel=CHANNEL_TO_PROTO.get(entry.channel, common_pb2.CHANNEL_UNSPECIFIED),
        store_id=entry.store_id,
        source_type=entry.source_type,
        source_ref=entry.source_ref,
        reason=entry.reason,
        occurred_at=_timestamp(entry.occurred_at),
        recorded_at=_timestamp(entry.recorded_at),
    )


def _reference_balance(
    *, member_id: str, available: int, pending: int, lifetime_earned: int, next_expiry: NextExpiry | None
) -> ledger_pb2.Balance:
    balance = ledger_pb2.Balance(
        member_id=member_id, available=available, pending=pending, lifetime_earned=lifetime_earned
    )
    if next_expiry is not None:
        balance.next_expiry.CopyFrom(
            ledger_pb2.NextExpiry(points=next_expiry.points, expires_at=_timestamp(next_expiry.expires_at))
        )
    return balance


def _reference_purchase_recorded(
    *,
    purchase_id: str,
    order_id: str,
    channel: str,
    store_id: str,
    amount_minor: int,
    currency: str,
    lines: Iterable[PurchaseLine],
    occurred_at: datetime,
    points: int,
) -> events_pb2.EventPayload:
    recorded = events_pb2.PurchaseRecorded(
        purchase_id=purchase_id,
        order_id=order_id,
        channel=CHANNEL_TO_PROTO.get(channel, common_pb2.CHANNEL_UNSPECIFIED),
        store_id=store_id,
        amount=common_pb2.Money(amount_minor=amount_minor, currency=currency),
        categories=[
            events_pb2.PurchaseCategoryAmount(category=category, amount_minor=amount)
            for category, amount in category_amounts(lines).items()
        ],
        occurred_at=_timestamp(occurred_at),
        points=points,
    )
    return events_pb2.EventPayload(purchase_recorded=recorded)


# --- the properties -----------------------------------------------------------------------------------


def _same(fast: object, reference: object) -> None:
    """Equal as messages and byte for byte (presence of empty sub-messages included)."""
    assert fast == reference
    assert type(fast) is type(reference)
    assert fast.SerializeToString(deterministic=True) == reference.SerializeToString(  # type: ignore[attr-defined]
        deterministic=True
    )


_ENTRIES = st.builds(
    EntryRow,
    member_id=_TEXT,
    entry_seq=st.integers(0, 10**6),
    entry_id=_TEXT,
    entry_type=st.sampled_from([entry_type.value for entry_type in EntryType]),
    points=_INT64,
    balance_after=_INT64,
    channel=_CHANNELS,
    store_id=_TEXT,
    source_type=_TEXT,
    source_ref=_TEXT,
    reason=_TEXT,
    credential_id=_TEXT,
    occurred_at=_MOMENTS,
    recorded_at=_MOMENTS,
)


@settings(max_examples=300)
@given(_ENTRIES)
def test_entry_message_equals_reference(entry: EntryRow) -> None:
    """Goal: every field, enum and timestamp as the constructor form gave them, empty and default too."""
    _same(entry_message(entry), _reference_entry(entry))


@settings(max_examples=300)
@given(
    _TEXT,
    _INT64,
    _INT64,
    _INT64,
    st.none() | st.builds(NextExpiry, points=_INT64, expires_at=_MOMENTS),
)
def test_balance_message_equals_reference(
    member_id: str, available: int, pending: int, lifetime_earned: int, next_expiry: NextExpiry | None
) -> None:
    """Goal: the balance, with or without a next expiry (0 points at the epoch still present), as before."""
    arguments = {
        "member_id": member_id,
        "available": available,
        "pending": pending,
        "lifetime_earned": lifetime_earned,
        "next_expiry": next_expiry,
    }
    fast = balance_message(**arguments)  # type: ignore[arg-type]
    _same(fast, _reference_balance(**arguments))  # type: ignore[arg-type]
    assert fast.HasField("next_expiry") == (next_expiry is not None)


def test_balance_with_an_all_default_expiry_keeps_it_present() -> None:
    """Goal: a next expiry of 0 points at the epoch is still sent (present), as the copy made it."""
    expiry = NextExpiry(points=0, expires_at=datetime(1970, 1, 1, tzinfo=UTC))
    fast = balance_message(member_id="", available=0, pending=0, lifetime_earned=0, next_expiry=expiry)
    assert fast.HasField("next_expiry")
    assert fast.next_expiry.HasField("expires_at")
    _same(
        fast,
        _reference_balance(member_id="", available=0, pending=0, lifetime_earned=0, next_expiry=expiry),
    )


_LINES = st.lists(
    st.builds(
        PurchaseLine,
        sku=_TEXT,
        category=st.sampled_from(["", "shoes", "socks", "food"]),
        quantity=st.integers(0, 10),
        amount_minor=st.integers(0, 10**9),
    ),
    max_size=6,
)


@settings(max_examples=300)
@given(
    purchase_id=_TEXT,
    order_id=_TEXT,
    channel=_CHANNELS,
    store_id=_TEXT,
    amount_minor=st.integers(0, 10**12),
    currency=st.sampled_from(["", "EUR", "JPY"]),
    lines=_LINES,
    occurred_at=_MOMENTS,
    points=_INT64,
)
def test_purchase_recorded_equals_reference(
    purchase_id: str,
    order_id: str,
    channel: str,
    store_id: str,
    amount_minor: int,
    currency: str,
    lines: list[PurchaseLine],
    occurred_at: datetime,
    points: int,
) -> None:
    """Goal: the event as the constructor form built it: amount present even when 0, categories in order."""
    arguments = {
        "purchase_id": purchase_id,
        "order_id": order_id,
        "channel": channel,
        "store_id": store_id,
        "amount_minor": amount_minor,
        "currency": currency,
        "occurred_at": occurred_at,
        "points": points,
    }
    fast = purchase_recorded(lines=iter(lines), **arguments)  # type: ignore[arg-type]
    reference = _reference_purchase_recorded(lines=iter(lines), **arguments)  # type: ignore[arg-type]
    _same(fast, reference)
    assert fast.purchase_recorded.HasField("amount")
    assert fast.purchase_recorded.HasField("occurred_at")


def test_purchase_recorded_all_defaults() -> None:
    """Goal: an all-default purchase still carries amount and occurred_at, as before."""
    arguments = {
        "purchase_id": "",
        "order_id": "",
        "channel": "",
        "store_id": "",
        "amount_minor": 0,
        "currency": "",
        "lines": (),
        "occurred_at": datetime(1970, 1, 1, tzinfo=UTC),
        "points": 0,
    }
    _same(purchase_recorded(**arguments), _reference_purchase_recorded(**arguments))  # type: ignore[arg-type]
