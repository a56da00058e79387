"""Ledger rows and states as protobuf messages, and the enum mappings both directions.

Kept apart from `book.py` so the one place that knows the stored spelling of an entry type or a channel
is this table.
"""

from __future__ import annotations

import enum

from loyalty.v1 import common_pb2, ledger_pb2

from loyalty_service.common_messages import CHANNEL_TO_PROTO
from loyalty_service.ledger.lots import NextExpiry
from loyalty_service.ledger.store import EntryRow
from loyalty_service.proto_time import set_timestamp

__all__ = [
    "ENTRY_TYPES",
    "EntryType",
    "balance_message",
    "entry_message",
]


class EntryType(enum.StrEnum):
    """What a ledger entry records; the values are stored in `ledger_entries.entry_type`."""

    EARN = "earn"
    REFUND_REVERSAL = "refund_reversal"
    SPEND = "spend"
    SPEND_CANCEL = "spend_cancel"
    ADJUST = "adjust"
    EXPIRE = "expire"
    MERGE_OUT = "merge_out"
    MERGE_IN = "merge_in"
    REDEEM = "redeem"
    REDEEM_CANCEL = "redeem_cancel"
    GAME_PLAY = "game_play"
    GAME_WIN = "game_win"
    PASSPORT_REWARD = "passport_reward"
    CHALLENGE_REWARD = "challenge_reward"
    DRAW_ENTRY = "draw_entry"
    DRAW_WIN = "draw_win"
    BONUS = "bonus"


ENTRY_TYPES: dict[int, EntryType] = {
    ledger_pb2.ENTRY_TYPE_EARN: EntryType.EARN,
    ledger_pb2.ENTRY_TYPE_REFUND_REVERSAL: EntryType.REFUND_REVERSAL,
    ledger_pb2.ENTRY_TYPE_SPEND: EntryType.SPEND,
    ledger_pb2.ENTRY_TYPE_SPEND_CANCEL: EntryType.SPEND_CANCEL,
    ledger_pb2.ENTRY_TYPE_ADJUST: EntryType.ADJUST,
    ledger_pb2.ENTRY_TYPE_EXPIRE: EntryType.EXPIRE,
    ledger_pb2.ENTRY_TYPE_MERGE_OUT: EntryType.MERGE_OUT,
    ledger_pb2.ENTRY_TYPE_MERGE_IN: EntryType.MERGE_IN,
    ledger_pb2.ENTRY_TYPE_REDEEM: EntryType.REDEEM,
    ledger_pb2.ENTRY_TYPE_REDEEM_CANCEL: EntryType.REDEEM_CANCEL,
    ledger_pb2.ENTRY_TYPE_GAME_PLAY: EntryType.GAME_PLAY,
    ledger_pb2.ENTRY_TYPE_GAME_WIN: EntryType.GAME_WIN,
    ledger_pb2.ENTRY_TYPE_PASSPORT_REWARD: EntryType.PASSPORT_REWARD,
    ledger_pb2.ENTRY_TYPE_CHALLENGE_REWARD: EntryType.CHALLENGE_REWARD,
    ledger_pb2.ENTRY_TYPE_DRAW_ENTRY: EntryType.DRAW_ENTRY,
    ledger_pb2.ENTRY_TYPE_DRAW_WIN: EntryType.DRAW_WIN,
    ledger_pb2.ENTRY_TYPE_BONUS: EntryType.BONUS,
}
_ENTRY_TYPE_TO_PROTO = {v.value: k for k, v in ENTRY_TYPES.items()}


def entry_message(entry: EntryRow) -> ledger_pb2.LedgerEntry:
    # Field by field, timestamps written in place: a constructor with Timestamp arguments builds each
    # Timestamp, then copies it in (tests/ledger/test_messages.py holds this to the constructor form).
    message = ledger_pb2.LedgerEntry()
    message.entry_id = entry.entry_id
    message.member_id = entry.member_id
    message.type = _ENTRY_TYPE_TO_PROTO[entry.entry_type]  # type: ignore[assignment]
    message.points = entry.points
    message.balance_after = entry.balance_after
    # System entries (expiry, merge) have no channel: CHANNEL_UNSPECIFIED.
    message.channel = CHANNEL_TO_PROTO.get(entry.channel, common_pb2.CHANNEL_UNSPECIFIED)
    message.store_id = entry.store_id
    message.source_type = entry.source_type
    message.source_ref = entry.source_ref
    message.reason = entry.reason
    set_timestamp(message.occurred_at, entry.occurred_at)
    set_timestamp(message.recorded_at, entry.recorded_at)
    return message


def balance_message(
    *, member_id: str, available: int, pending: int, lifetime_earned: int, next_expiry: NextExpiry | None
) -> ledger_pb2.Balance:
    balance = ledger_pb2.Balance(
        member_id=member_id, available=available, pending=pending, lifetime_earned=lifetime_earned
    )
    if next_expiry is not None:
        # In place, no NextExpiry to build and copy; writing expires_at marks next_expiry present.
        expiry = balance.next_expiry
        expiry.points = next_expiry.points
        set_timestamp(expiry.expires_at, next_expiry.expires_at)
    return balance
