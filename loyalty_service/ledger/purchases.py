"""Crediting a purchase and reversing a refund, inside the caller's transaction.

The servicer validates the request into a `PurchaseInput` / `RefundInput`; these functions do the work
in the order every ledger write follows: find the member, lock its ledger (`Book.open`), then touch the
order, the lots, the entries and the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from loyalty.v1 import common_pb2, ledger_pb2, program_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.draws import api as draws_api
from loyalty_service.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from loyalty_service.events import outbox
from loyalty_service.games import api as games_api
from loyalty_service.journeys import api as journeys_api
from loyalty_service.kernel.channel import Channel
from loyalty_service.kernel.clock import add_months
from loyalty_service.kernel.ids import new_id
from loyalty_service.ledger import records
from loyalty_service.ledger.book import HELD_UNTIL_RELEASED, Book, Cause
from loyalty_service.ledger.earning import (
    TIER_RULE_ID,
    Earning,
    PurchaseFacts,
    PurchaseLine,
    evaluate,
    rules_as_of,
)
from loyalty_service.ledger.messages import EntryType
from loyalty_service.ledger.purchase_event import purchase_recorded
from loyalty_service.ledger.recorded import RecordedPurchase
from loyalty_service.ledger.refunds import RefundExceedsPurchase, reversal_points
from loyalty_service.ledger.rules_store import RuleCache
from loyalty_service.members import api as members_api
from loyalty_service.program import settings as program_settings
from loyalty_service.proto_time import to_timestamp
from loyalty_service.tiers import api as tiers_api

__all__ = [
    "PurchaseInput",
    "RefundInput",
    "record_purchase",
    "record_refund",
]

_KIND_TO_PROTO = {
    "base_rate": program_pb2.EARNING_RULE_KIND_BASE_RATE,
    "multiplier": program_pb2.EARNING_RULE_KIND_MULTIPLIER,
    "bonus": program_pb2.EARNING_RULE_KIND_BONUS,
}
_REFUND_ATTEMPTS = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class PurchaseInput:
    member: members_api.MemberKey
    provisional_card: str | None
    """Set when an unknown card may create a provisional member (a till scanning a new card)."""
    channel: Channel
    store_id: str
    order_id: str
    amount_minor: int
    currency: str
    occurred_at: datetime
    lines: tuple[PurchaseLine, ...]
    pickup_store_id: str = ""
    """Click-and-collect: the points stay pending until a till of this store confirms the pickup."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundInput:
    channel: Channel
    store_id: str
    order_id: str
    amount_minor: int
    currency: str
    occurred_at: datetime
    lines: tuple[PurchaseLine, ...]


def _lines_json(lines: tuple[PurchaseLine, ...]) -> list[dict[str, object]]:
    return [
        {"sku": ln.sku, "category": ln.category, "quantity": ln.quantity, "amount_minor": ln.amount_minor}
        for ln in lines
    ]


async def _purchase_member(conn: AsyncConnection, purchase: PurchaseInput, now: datetime) -> tuple[str, bool]:
    member_id = await members_api.resolve(conn, purchase.member)
    created = False
    if member_id is None and purchase.provisional_card is not None:
        member_id, created = await members_api.create_provisional(
            conn, card=purchase.provisional_card, now=now
        )
    if member_id is None:
        return await members_api.require_member(conn, purchase.member), False
    return await members_api.require_member(conn, members_api.MemberKey(member_id=member_id)), created


async def _earning(
    conn: AsyncConnection,
    purchase: PurchaseInput,
    *,
    member_id: str,
    rules: RuleCache,
    omni: journeys_api.ChannelFacts | None = None,
    tier_multiplier: Fraction = Fraction(1),
) -> Earning:
    in_force = rules_as_of(await rules.get(conn), purchase.occurred_at)
    prior: frozenset[Channel] = frozenset()
    conditions = [rule.condition for rule in in_force]
    if any(c.first_purchase_in_channel or c.first_purchase_in_second_channel for c in conditions):
        prior = frozenset(Channel(c) for c in await records.prior_channels(conn, member_id))
    if omni is not None:  # omnichannel conditions (journeys): channel history as of occurred_at
        await omni.load(conn, member_id=member_id, occurred_at=purchase.occurred_at, rules=in_force)
    facts = PurchaseFacts(
        channel=purchase.channel,
        store_id=purchase.store_id,
        amount_minor=purchase.amount_minor,
        currency=purchase.currency,
        occurred_at=purchase.occurred_at,
        lines=purchase.lines,
        prior_channels=prior,
        extra_multiplier=tier_multiplier,  # the tier held at occurred_at (tiers.api), rule "tier"
        **(omni.facts() if omni is not None else {}),
    )
    return evaluate(in_force, facts)


async def record_purchase(
    conn: AsyncConnection, purchase: PurchaseInput, *, now: datetime, credential_id: str, rules: RuleCache
) -> ledger_pb2.RecordPurchaseResponse:
    """Credit the purchase by the rules as of its occurred_at; ALREADY_EXISTS for a known order."""
    settings = await program_settings.read(conn)
    member_id, created = await _purchase_member(conn, purchase, now)
    book = await Book.open(conn, member_id, now=now, credential_id=credential_id)
    purchase_id = await records.claim_order(
        conn,
        channel=purchase.channel.value,
        store_id=purchase.store_id,
        order_id=purchase.order_id,
        member_id=member_id,
    )
    if purchase_id is None:
        raise AlreadyExists(
            f"order {purchase.order_id!r} of {purchase.channel.value} store {purchase.store_id!r} "
            "is already recorded",
            reason="DUPLICATE_ORDER",
            metadata={
                "channel": purchase.channel.value,
                "store_id": purchase.store_id,
                "order_id": purchase.order_id,
            },
        )
    omni = journeys_api.ChannelFacts()
    tier = await tiers_api.before_purchase(  # status tiers: multiplier of the tier held at occurred_at
        conn, member_id=member_id, occurred_at=purchase.occurred_at, now=now
    )
    earning = await _earning(
        conn,
        purchase,
        member_id=member_id,
        rules=rules,
        omni=omni,
        tier_multiplier=tier.multiplier,
    )
    # Every purchase, even one earning nothing, is an event (passport stamps come from it): with the
    # credit's own event when it earns, in the same statement; alone otherwise.
    recorded = purchase_recorded(
        purchase_id=purchase_id,
        order_id=purchase.order_id,
        channel=purchase.channel.value,
        store_id=purchase.store_id,
        amount_minor=purchase.amount_minor,
        currency=purchase.currency,
        lines=purchase.lines,
        occurred_at=purchase.occurred_at,
        points=earning.points,
    )
    available_at = purchase.occurred_at + timedelta(days=settings.pending_days)
    if purchase.pickup_store_id:  # click-and-collect: pending until the pickup (journeys.pickups)
        available_at = HELD_UNTIL_RELEASED
    expires_at = add_months(purchase.occurred_at, settings.expiry_months) if settings.expiry_months else None
    entry_id, lot_id = "", None
    if earning.points > 0:
        cause = Cause(
            channel=purchase.channel.value,
            store_id=purchase.store_id,
            source_type="purchase",
            source_ref=purchase.order_id,
            occurred_at=purchase.occurred_at,
        )
        entry, lot_id = await book.credit(
            EntryType.EARN,
            earning.points,
            cause,
            earned_at=purchase.occurred_at,
            available_at=available_at,
            expires_at=expires_at,
            lifetime=True,
            preceded_by=recorded,
        )
        entry_id = entry.entry_id
    else:
        await outbox.append(conn, member_id=member_id, payload=recorded, occurred_at=now)
    applied = [
        {"rule_id": a.rule_id, "version": a.version, "name": a.name, "kind": a.kind.value, "points": a.points}
        for a in earning.applied
    ]
    book.write_with_head(
        records.purchase_insert(
            member_id=member_id,
            purchase_id=purchase_id,
            channel=purchase.channel.value,
            store_id=purchase.store_id,
            order_id=purchase.order_id,
            amount_minor=purchase.amount_minor,
            currency=purchase.currency,
            points=earning.points,
            lot_id=lot_id,
            lines=_lines_json(purchase.lines),
            applied_rules=applied,
            credential_id=credential_id,
            occurred_at=purchase.occurred_at,
            recorded_at=now,
        )
    )
    journey = await _feature_hooks(
        conn,
        purchase,
        book=book,
        member_id=member_id,
        purchase_id=purchase_id,
        earning=earning,
        tier=tier,
        lot_id=lot_id,
        omni=omni,
        now=now,
    )
    await book.close()
    return _response(
        book,
        member_id=member_id,
        purchase_id=purchase_id,
        entry_id=entry_id,
        earning=earning,
        created=created,
        available_at=available_at,
        pickup_deadline=journey.pickup_deadline,
        now=now,
    )


async def _feature_hooks(
    conn: AsyncConnection,
    purchase: PurchaseInput,
    *,
    book: Book,
    member_id: str,
    purchase_id: str,
    earning: Earning,
    tier: tiers_api.PurchaseTier,
    lot_id: str | None,
    omni: journeys_api.ChannelFacts,
    now: datetime,
) -> journeys_api.PurchaseJourney:
    """What other features do with a recorded purchase, in its transaction (each through its api)."""
    recorded = RecordedPurchase(
        member_id=member_id,
        purchase_id=purchase_id,
        channel=purchase.channel.value,
        amount_minor=purchase.amount_minor,
        currency=purchase.currency,
        occurred_at=purchase.occurred_at,
    )
    # Draws with a spend source count this purchase (ledger -> draws.api; never refuses the purchase).
    await draws_api.on_purchase(conn, recorded, now=now)
    # Play tokens by the play-token rules (ledger -> games.api -> ledger.play_tokens).
    await games_api.on_purchase(conn, recorded, now=now)
    # Status tiers: the purchase counts towards tiers; an upgrade it causes happens now (tiers.api).
    tier_points = sum(a.points for a in earning.applied if a.rule_id == TIER_RULE_ID)
    await tiers_api.on_purchase(
        conn,
        book=book,
        tier=tier,
        member_id=member_id,
        purchase_id=purchase_id,
        occurred_at=purchase.occurred_at,
        amount_minor=purchase.amount_minor,
        currency=purchase.currency,
        qualifying_points=earning.points - tier_points,
        now=now,
    )
    # Omnichannel journeys: click-and-collect order, once-per-period rule claims, referral bonus.
    return await journeys_api.on_purchase(
        conn,
        book=book,
        purchase_id=purchase_id,
        order_store_id=purchase.store_id,
        order_id=purchase.order_id,
        occurred_at=purchase.occurred_at,
        pickup_store_id=purchase.pickup_store_id,
        lot_id=lot_id,
        points=earning.points,
        claims=omni.claims(earning.applied),
        now=now,
    )


def _response(
    book: Book,
    *,
    member_id: str,
    purchase_id: str,
    entry_id: str,
    earning: Earning,
    created: bool,
    available_at: datetime,
    pickup_deadline: datetime | None,
    now: datetime,
) -> ledger_pb2.RecordPurchaseResponse:
    response = ledger_pb2.RecordPurchaseResponse(
        purchase_id=purchase_id,
        member_id=member_id,
        entry_id=entry_id,
        points=earning.points,
        balance=book.balance(),
        provisional_member_created=created,
        applied_rules=[
            ledger_pb2.AppliedRule(
                rule_id=a.rule_id,
                version=a.version,
                name=a.name,
                kind=_KIND_TO_PROTO[a.kind.value],
                points=a.points,
            )
            for a in earning.applied
        ],
    )
    if earning.points > 0 and available_at > now and pickup_deadline is None:
        response.available_at.CopyFrom(to_timestamp(available_at))
    if pickup_deadline is not None:
        response.pickup_deadline.CopyFrom(to_timestamp(pickup_deadline))
    return response


async def _refunded_purchase(
    conn: AsyncConnection, refund: RefundInput, *, now: datetime, credential_id: str
) -> tuple[Book, records.PurchaseRow]:
    """Lock the ledger of the purchase's member, then the purchase (a merge may move it in between)."""
    for _ in range(_REFUND_ATTEMPTS):
        found = await records.find_order(
            conn, channel=refund.channel.value, store_id=refund.store_id, order_id=refund.order_id
        )
        if found is None:
            break
        book = await Book.open(conn, found[0], now=now, credential_id=credential_id)
        purchase = await records.lock_purchase(conn, member_id=found[0], purchase_id=found[1])
        if purchase is not None:
            return book, purchase
    raise NotFound("purchase", f"{refund.channel.value}/{refund.store_id}/{refund.order_id}")


async def record_refund(
    conn: AsyncConnection, refund: RefundInput, *, now: datetime, credential_id: str
) -> ledger_pb2.RecordRefundResponse:
    """Reverse the refund's share of the purchase's points; never more than the purchase in total."""
    book, purchase = await _refunded_purchase(conn, refund, now=now, credential_id=credential_id)
    if refund.currency != purchase.currency:
        raise InvalidArgument(
            [FieldViolation("amount.currency", f"the purchase was paid in {purchase.currency}")]
        )
    try:
        points = reversal_points(
            earned_points=purchase.points,
            purchase_amount_minor=purchase.amount_minor,
            refunded_before_minor=purchase.refunded_minor,
            refund_amount_minor=refund.amount_minor,
        )
    except RefundExceedsPurchase as error:
        raise FailedPrecondition(
            str(error),
            reason="REFUND_EXCEEDS_PURCHASE",
            metadata={
                "member_id": purchase.member_id,
                "amount_minor": purchase.amount_minor,
                "refunded_minor": purchase.refunded_minor,
            },
        ) from error
    # Never more than is left: a cancelled click-and-collect order already reversed its points.
    points = min(points, purchase.points - purchase.reversed_points)
    refund_id, entry_id = new_id("ref"), ""
    if points > 0:
        cause = Cause(
            channel=refund.channel.value,
            store_id=refund.store_id,
            source_type="refund",
            source_ref=refund.order_id,
            occurred_at=refund.occurred_at,
        )
        entry_id = (await book.reverse(points, cause, own_lot_id=purchase.lot_id)).entry_id
        book.add_lifetime(-points)
    refunded = purchase.refunded_minor + refund.amount_minor
    await records.record_refund_totals(
        conn, purchase, refunded_minor=refunded, reversed_points=purchase.reversed_points + points
    )
    await records.insert_refund(
        conn,
        member_id=purchase.member_id,
        refund_id=refund_id,
        purchase_id=purchase.purchase_id,
        amount_minor=refund.amount_minor,
        points_reversed=points,
        lines=_lines_json(refund.lines),
        entry_id=entry_id or None,
        occurred_at=refund.occurred_at,
        recorded_at=now,
    )
    # Status tiers: the refund leaves the tiers' count; it undoes the upgrade it caused (tiers.api).
    await tiers_api.on_refund(
        conn,
        member_id=purchase.member_id,
        purchase_id=purchase.purchase_id,
        refunded_total_minor=refunded,
        now=now,
    )
    # A click-and-collect order refunded in full has nothing left to collect (journeys).
    await journeys_api.on_refund(
        conn,
        member_id=purchase.member_id,
        purchase_id=purchase.purchase_id,
        fully_refunded=refunded >= purchase.amount_minor,
        points_reversed=points,
        now=now,
    )
    await book.close()
    return ledger_pb2.RecordRefundResponse(
        refund_id=refund_id,
        member_id=purchase.member_id,
        entry_id=entry_id,
        points_reversed=points,
        refunded_total=common_pb2.Money(amount_minor=refunded, currency=purchase.currency),
        balance=book.balance(),
    )
