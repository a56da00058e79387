"""What other features call of the omnichannel journeys, inside their own transaction.

- `ledger.purchases`: `ChannelFacts` (the channel history the cross-channel earning conditions need, as
  of occurred_at), `on_purchase` (click-and-collect order, once-per-period rule claims, referral bonus)
  and `on_refund` (a refund in full cancels an awaiting pickup).
- `members.service`: `read_referral_code` at the edge, `on_enrol` (the member's own code, and the
  referral it enrolled with), `referral_code_of` for GetMember.
- `ledger.maintenance`: `cancel_overdue_pickups`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty.v1 import members_pb2
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_service.journeys import domain, pickups, referrals, store
from loyalty_service.kernel.channel import Channel
from loyalty_service.ledger import api as ledger_api
from loyalty_service.validation import Checks

__all__ = [
    "ChannelFacts",
    "PurchaseJourney",
    "cancel_overdue_pickups",
    "on_enrol",
    "on_purchase",
    "on_refund",
    "read_referral_code",
    "referral_code_of",
]


class ChannelFacts:
    """The member's channel history for the once-per-period (cross-channel) rules in force.

    `load` reads nothing unless such a rule is in force; `facts` are the PurchaseFacts fields;
    `claims` says which (rule, period) the purchase's applied rules take.
    """

    def __init__(self) -> None:
        self._periods: dict[str, str] = {}
        self._facts: dict[str, Any] = {}

    async def load(
        self,
        conn: AsyncConnection,
        *,
        member_id: str,
        occurred_at: datetime,
        rules: Iterable[ledger_api.EarningRule],
    ) -> None:
        once = [rule for rule in rules if rule.condition.once_per_period]
        if not once:
            return
        month = domain.month_key(occurred_at)
        self._periods = {
            r.rule_id: month if r.condition.store_and_online_same_month else domain.ONCE for r in once
        }
        before = await store.channels_before(conn, member_id, before=occurred_at)
        in_month: frozenset[str] = frozenset()
        if any(r.condition.store_and_online_same_month for r in once):
            since = domain.month_start(occurred_at)
            in_month = await store.channels_before(conn, member_id, before=occurred_at, since=since)
        claimed = await store.claimed_rules(conn, member_id, self._periods.values())
        self._facts = {
            "channels_before": frozenset(Channel(c) for c in before),
            "month_channels_before": frozenset(Channel(c) for c in in_month),
            "claimed_rule_ids": frozenset(r for r, p in claimed if self._periods.get(r) == p),
        }

    def facts(self) -> dict[str, Any]:
        return dict(self._facts)

    def claims(self, applied: Iterable[Any]) -> list[tuple[str, str]]:
        """(rule_id, period) of the applied rules that pay once per period."""
        return [(a.rule_id, self._periods[a.rule_id]) for a in applied if a.rule_id in self._periods]


@dataclass(frozen=True, slots=True)
class PurchaseJourney:
    pickup_deadline: datetime | None
    """Set for a click-and-collect order."""


async def on_purchase(
    conn: AsyncConnection,
    *,
    book: ledger_api.Book,
    purchase_id: str,
    order_store_id: str,
    order_id: str,
    occurred_at: datetime,
    pickup_store_id: str,
    lot_id: str | None,
    points: int,
    claims: Iterable[tuple[str, str]],
    now: datetime,
) -> PurchaseJourney:
    """In the purchase's transaction, its member's Book open (the caller closes it)."""
    for rule_id, period in claims:
        claimed = await store.claim_rule(
            conn, member_id=book.member_id, rule_id=rule_id, period=period, purchase_id=purchase_id, now=now
        )
        assert claimed, "the member's ledger lock serialises claims, and evaluation skipped claimed rules"
    deadline = None
    if pickup_store_id:
        deadline = await pickups.open_pickup(
            conn,
            member_id=book.member_id,
            purchase_id=purchase_id,
            order_store_id=order_store_id,
            order_id=order_id,
            pickup_store_id=pickup_store_id,
            lot_id=lot_id,
            points=points,
            occurred_at=occurred_at,
            now=now,
        )
    await referrals.reward_first_purchase(conn, book=book, purchase_id=purchase_id, now=now)
    return PurchaseJourney(pickup_deadline=deadline)


async def on_refund(
    conn: AsyncConnection,
    *,
    member_id: str,
    purchase_id: str,
    fully_refunded: bool,
    points_reversed: int,
    now: datetime,
) -> None:
    await pickups.on_refund(
        conn,
        member_id=member_id,
        purchase_id=purchase_id,
        fully_refunded=fully_refunded,
        points_reversed=points_reversed,
        now=now,
    )


def read_referral_code(checks: Checks, field: str, text: str) -> str | None:
    """The normalised code of a request field (empty: None); a malformed one is a field violation."""
    if not text:
        return None
    code = domain.parse_code(text)
    if code is None:
        checks.fail(field, f"a referral code is {domain.CODE_LENGTH} letters and digits, e.g. K7QX-M2PA")
    return code


async def on_enrol(
    conn: AsyncConnection, *, member_id: str, referral_code: str | None, now: datetime
) -> members_pb2.Referral | None:
    """Give the new member its code and record its referral (after its identifiers are linked)."""
    await referrals.assign_code(conn, member_id=member_id, now=now)
    if referral_code is None:
        return None
    return await referrals.enrol_with_code(conn, member_id=member_id, code=referral_code, now=now)


async def referral_code_of(conn: AsyncConnection, member_id: str) -> str:
    """The member's code as shown ("K7QX-M2PA"), or "" (provisional members have none)."""
    code = await store.code_of(conn, member_id)
    return "" if code is None else domain.format_code(code)


async def cancel_overdue_pickups(engine: AsyncEngine, now: datetime) -> int:
    return await pickups.cancel_overdue(engine, now)
