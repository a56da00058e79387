"""The `purchase_recorded` event: every recorded purchase, whether or not it earned points.

Written in the purchase's transaction (ledger/purchases.py), before the EARN entry's `points_changed`, so
a member's stream reads "purchase recorded, points changed". Passports earn purchase stamps from it
(docs/decisions/0007-passport-stamp-processor.md); it carries what a stamp condition looks at (channel,
store, amount, the amount per line category), so the processor reads nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from loyalty.v1 import common_pb2, events_pb2

from loyalty_service.common_messages import CHANNEL_TO_PROTO
from loyalty_service.ledger.earning import PurchaseLine
from loyalty_service.proto_time import set_timestamp

__all__ = ["category_amounts", "purchase_recorded"]


def category_amounts(lines: Iterable[PurchaseLine]) -> dict[str, int]:
    """The total of the lines per category, in first-seen order; lines without a category are left out."""
    totals: dict[str, int] = {}
    for line in lines:
        if line.category:
            totals[line.category] = totals.get(line.category, 0) + line.amount_minor
    return totals


def purchase_recorded(
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
    """The event of a recorded purchase, for the member's outbox in the purchase's transaction."""
    # Written in place inside the payload: building PurchaseRecorded, Money and Timestamp first and
    # passing them to constructors copies each one (tests/ledger/test_messages.py holds this to that form).
    payload = events_pb2.EventPayload()
    recorded = payload.purchase_recorded
    recorded.purchase_id = purchase_id
    recorded.order_id = order_id
    recorded.channel = CHANNEL_TO_PROTO.get(channel, common_pb2.CHANNEL_UNSPECIFIED)
    recorded.store_id = store_id
    amount = recorded.amount
    amount.amount_minor = amount_minor
    amount.currency = currency
    categories = recorded.categories
    for category, total in category_amounts(lines).items():
        categories.add(category=category, amount_minor=total)
    set_timestamp(recorded.occurred_at, occurred_at)
    recorded.points = points
    return payload
