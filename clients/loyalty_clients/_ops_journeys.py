"""Omnichannel journeys for the channel clients: click-and-collect orders (the web shop records them, the
till of the pickup store confirms the pickup), enrolment with a referral code, the member's own code, and
the back office's journey settings. Cross-channel bonus conditions are fields of `RuleCondition`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from loyalty.v1 import journey_settings_pb2, journeys_pb2, ledger_pb2, members_pb2

from loyalty_clients import _convert as c
from loyalty_clients._base import ClientBase
from loyalty_clients._models import (
    Balance,
    ConsentPurpose,
    Identifier,
    Member,
    MemberRef,
    Money,
    PurchaseLine,
    PurchaseResult,
)
from loyalty_clients._operations import LEDGER, MEMBERS, purchase_request
from loyalty_clients._transport import new_idempotency_key

__all__ = [
    "ClickAndCollectOrder",
    "ClickAndCollectOrders",
    "JourneyOffice",
    "JourneySettings",
    "MemberReferralCode",
    "MyReferralCode",
    "Pickup",
    "PickupConfirmation",
    "PickupConfirmations",
    "PickupReading",
    "PickupStatus",
    "ReferralEnrolment",
    "ReferralStatus",
    "ReferredEnrolment",
]

JOURNEYS = "/loyalty.v1.JourneyService/"
PROGRAM = "/loyalty.v1.ProgramService/"


class PickupStatus(enum.StrEnum):
    UNSPECIFIED = "unspecified"
    AWAITING = "awaiting"
    """Recorded by the web shop; its points are pending until the pickup."""
    COLLECTED = "collected"
    CANCELLED = "cancelled"
    """Not collected in time, or refunded in full (`cancel_reason`): its points were reversed."""


class ReferralStatus(enum.StrEnum):
    UNSPECIFIED = "unspecified"
    PENDING = "pending"
    """Both get their bonus at the new member's first purchase."""
    OVER_LIMIT = "over_limit"
    """The referrer reached its yearly limit: enrolled, but no bonus."""
    REWARDED = "rewarded"


_PICKUP_STATUSES = c.enum_from_proto(PickupStatus, journeys_pb2.PickupStatus, "PICKUP_STATUS_")
_REFERRAL_STATUSES = c.enum_from_proto(ReferralStatus, members_pb2.ReferralStatus, "REFERRAL_STATUS_")


@dataclass(frozen=True, slots=True)
class Pickup:
    member_id: str
    purchase_id: str
    order_store_id: str
    order_id: str
    pickup_store_id: str
    status: PickupStatus
    points: int
    deadline: datetime | None
    collected_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str
    """"not_collected" or "refunded" once cancelled."""
    bonus_points: int


@dataclass(frozen=True, slots=True)
class ClickAndCollectOrder:
    purchase: PurchaseResult
    """The points are in `purchase.balance.pending` until the pickup."""
    pickup_deadline: datetime | None
    """Cancelled, and its points reversed, if not collected by then."""


@dataclass(frozen=True, slots=True)
class PickupConfirmation:
    pickup: Pickup
    points_released: int
    bonus_points: int
    bonus_entry_id: str
    balance: Balance | None


@dataclass(frozen=True, slots=True)
class ReferredEnrolment:
    member: Member
    referrer_member_id: str
    referral_status: ReferralStatus


@dataclass(frozen=True, slots=True)
class JourneySettings:
    pickup_deadline_days: int = 14
    """An uncollected click-and-collect order is cancelled this many days after it occurred (1-365)."""
    pickup_bonus_points: int = 0
    referrer_bonus_points: int = 0
    referee_bonus_points: int = 0
    referrals_per_year_max: int = 0
    """Referrals per referrer and calendar year that earn a bonus; 0: no limit."""


def _pickup(x: journeys_pb2.Pickup) -> Pickup:
    return Pickup(
        member_id=x.member_id,
        purchase_id=x.purchase_id,
        order_store_id=x.order_store_id,
        order_id=x.order_id,
        pickup_store_id=x.pickup_store_id,
        status=_PICKUP_STATUSES.get(x.status, PickupStatus.UNSPECIFIED),
        points=x.points,
        deadline=c.when(x, "deadline"),
        collected_at=c.when(x, "collected_at"),
        cancelled_at=c.when(x, "cancelled_at"),
        cancel_reason=x.cancel_reason,
        bonus_points=x.bonus_points,
    )


def _settings(x: journey_settings_pb2.JourneySettings) -> JourneySettings:
    return JourneySettings(
        pickup_deadline_days=x.pickup_deadline_days,
        pickup_bonus_points=x.pickup_bonus_points,
        referrer_bonus_points=x.referrer_bonus_points,
        referee_bonus_points=x.referee_bonus_points,
        referrals_per_year_max=x.referrals_per_year_max,
    )


class ClickAndCollectOrders(ClientBase):
    async def record_click_and_collect_order(
        self,
        *,
        member: MemberRef,
        order_id: str,
        amount: Money,
        pickup_store_id: str,
        occurred_at: datetime | None = None,
        lines: Iterable[PurchaseLine] = (),
        idempotency_key: str | None = None,
    ) -> ClickAndCollectOrder:
        """An order to collect in `pickup_store_id`: its points stay pending until the pickup.

        >>> order = await shop.record_click_and_collect_order(
        ...     member="mem_01J...", order_id="W-2001", amount=Money(4200, "EUR"), pickup_store_id="paris-01")
        """
        request = purchase_request(
            channel=self._channel,
            store_id=self._store_id,
            member=member,
            order_id=order_id,
            amount=amount,
            occurred_at=occurred_at,
            lines=lines,
            idempotency_key=idempotency_key,
        )
        request.pickup_store_id = pickup_store_id
        answer = await self._transport.call(
            LEDGER + "RecordPurchase", request, ledger_pb2.RecordPurchaseResponse
        )
        return ClickAndCollectOrder(
            purchase=c.purchase(answer, idempotency_key=request.idempotency_key),
            pickup_deadline=c.when(answer, "pickup_deadline"),
        )


class PickupReading(ClientBase):
    async def get_pickup(self, *, order_id: str, order_store_id: str = "") -> Pickup:
        """The state of a click-and-collect order (a till sees the orders waiting in its store only).

        >>> pickup = await till.get_pickup(order_id="W-2001")
        """
        request = journeys_pb2.GetPickupRequest(order_id=order_id, order_store_id=order_store_id)
        answer = await self._transport.call(JOURNEYS + "GetPickup", request, journeys_pb2.GetPickupResponse)
        return _pickup(answer.pickup)


class PickupConfirmations(ClientBase):
    async def confirm_pickup(
        self, *, order_id: str, order_store_id: str = "", idempotency_key: str | None = None
    ) -> PickupConfirmation:
        """Hand a click-and-collect order over at this till's store: its points become spendable and the
        pickup bonus is credited. Raises PickupRefused (reason ALREADY_COLLECTED, ORDER_CANCELLED,
        ORDER_REFUNDED, WRONG_STORE, NOT_CLICK_AND_COLLECT).

        >>> done = await till.confirm_pickup(order_id="W-2001")
        """
        request = journeys_pb2.ConfirmPickupRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            order_id=order_id,
            order_store_id=order_store_id,
            store_id=self._store_id,
        )
        answer = await self._transport.call(
            JOURNEYS + "ConfirmPickup", request, journeys_pb2.ConfirmPickupResponse
        )
        return PickupConfirmation(
            pickup=_pickup(answer.pickup),
            points_released=answer.points_released,
            bonus_points=answer.bonus_points,
            bonus_entry_id=answer.bonus_entry_id,
            balance=c.balance(answer.balance) if answer.HasField("balance") else None,
        )


class ReferralEnrolment(ClientBase):
    async def enroll_referred_member(
        self,
        *,
        referral_code: str,
        display_name: str = "",
        identifiers: Iterable[Identifier] = (),
        consents: Mapping[ConsentPurpose, bool] | None = None,
        idempotency_key: str | None = None,
    ) -> ReferredEnrolment:
        """Enrol a member who was given a friend's referral code (case, spaces and dashes ignored).

        Unknown code: NotFound; a friend sharing an identifier: SelfReferral; malformed: InvalidArgument.

        >>> enrolled = await shop.enroll_referred_member(referral_code="K7QX-M2PA",
        ...                                             identifiers=[Identifier.email("bo@example.com")])
        """
        request = members_pb2.EnrollMemberRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            display_name=display_name,
            identifiers=[c.identifier(i) for i in identifiers],
            consents=c.consent_changes(dict(consents or {})),
            referral_code=referral_code,
        )
        answer = await self._transport.call(
            MEMBERS + "EnrollMember", request, members_pb2.EnrollMemberResponse
        )
        return ReferredEnrolment(
            member=c.member(answer.member),
            referrer_member_id=answer.referral.referrer_member_id,
            referral_status=_REFERRAL_STATUSES.get(answer.referral.status, ReferralStatus.UNSPECIFIED),
        )


class MemberReferralCode(ClientBase):
    async def referral_code(self, *, member_id: str) -> str:
        """The member's own referral code to share ("K7QX-M2PA"); also `Member.referral_code`.

        >>> code = await app.referral_code(member_id=app.member_id)
        """
        request = members_pb2.GetMemberRequest(member_id=member_id)
        answer = await self._transport.call(MEMBERS + "GetMember", request, members_pb2.GetMemberResponse)
        return answer.member.referral_code


class JourneyOffice(ClientBase):
    async def journey_settings(self) -> JourneySettings:
        """Click-and-collect and referral settings.

        >>> settings = await office.journey_settings()
        """
        answer = await self._transport.call(
            PROGRAM + "GetJourneySettings",
            journey_settings_pb2.GetJourneySettingsRequest(),
            journey_settings_pb2.GetJourneySettingsResponse,
        )
        return _settings(answer.settings)

    async def update_journey_settings(
        self, settings: JourneySettings, *, idempotency_key: str | None = None
    ) -> JourneySettings:
        """Replace every journey setting (audited).

        >>> await office.update_journey_settings(JourneySettings(pickup_deadline_days=7,
        ...                                                      pickup_bonus_points=50))
        """
        request = journey_settings_pb2.UpdateJourneySettingsRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            settings=journey_settings_pb2.JourneySettings(
                pickup_deadline_days=settings.pickup_deadline_days,
                pickup_bonus_points=settings.pickup_bonus_points,
                referrer_bonus_points=settings.referrer_bonus_points,
                referee_bonus_points=settings.referee_bonus_points,
                referrals_per_year_max=settings.referrals_per_year_max,
            ),
        )
        answer = await self._transport.call(
            PROGRAM + "UpdateJourneySettings", request, journey_settings_pb2.UpdateJourneySettingsResponse
        )
        return _settings(answer.settings)


class MyReferralCode(ClientBase):
    member_id: str

    async def my_referral_code(self) -> str:
        """The app member's own referral code to share with friends ("K7QX-M2PA").

        >>> code = await app.my_referral_code()
        """
        request = members_pb2.GetMemberRequest(member_id=self.member_id)
        answer = await self._transport.call(MEMBERS + "GetMember", request, members_pb2.GetMemberResponse)
        return answer.member.referral_code
