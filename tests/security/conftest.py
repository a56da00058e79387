"""Helpers of the security tests: a member with a full history and personal data worth looking for."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loyalty.v1 import common_pb2, ledger_pb2, members_pb2

from loyalty_service.proto_time import to_timestamp
from tests.ledger.conftest import Programme, member_ref, purchase
from tests.support.api import new_key


@dataclass(frozen=True)
class Person:
    """Personal data of one test member: unique strings to search for in exports, tables and logs."""

    display_name: str
    email: str
    phone: str
    card: str

    @classmethod
    def new(cls) -> Person:
        tag = secrets.token_hex(4)
        digits = str(secrets.randbelow(10**8)).zfill(8)
        return cls(
            display_name=f"Zoé Privacy-{tag}",
            email=f"zoe.{tag}@example.org",
            phone=f"+336{digits}",
            card=f"PRIV{tag.upper()}",
        )

    @property
    def secrets_to_find(self) -> tuple[str, ...]:
        return (self.display_name, self.email, self.phone, self.phone[1:], self.card)

    def identifiers(self) -> list[common_pb2.Identifier]:
        return [
            common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_EMAIL, value=self.email),
            common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_PHONE, value=self.phone),
            common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_CARD, value=self.card),
        ]


async def enrol_with_history(programme: Programme, person: Person) -> str:
    """Enrol `person` with consents, then two purchases, a refund and a spend; returns the member id."""
    answer = await programme.web.members.EnrollMember(
        members_pb2.EnrollMemberRequest(
            idempotency_key=new_key(),
            display_name=person.display_name,
            identifiers=person.identifiers(),
            consents=[
                members_pb2.ConsentChange(purpose=members_pb2.CONSENT_PURPOSE_MARKETING, granted=True),
                members_pb2.ConsentChange(purpose=members_pb2.CONSENT_PURPOSE_LOCATION, granted=False),
            ],
        )
    )
    member_id: str = answer.member.member_id
    order = "o-" + new_key()
    clock = programme.running.clock
    when = (clock.now() if clock else datetime.now(UTC)) - timedelta(minutes=1)
    await programme.till.ledger.RecordPurchase(
        purchase(
            member_ref(member_id),
            store_id=programme.store_id,
            amount_minor=5000,
            currency=programme.currency,
            order_id=order,
            occurred_at=when,
        )
    )
    await programme.buy(member_id, 2000, occurred_at=when)
    await programme.till.ledger.RecordRefund(
        ledger_pb2.RecordRefundRequest(
            idempotency_key=new_key(),
            channel=common_pb2.CHANNEL_POS,
            store_id=programme.store_id,
            order_id=order,
            amount=common_pb2.Money(amount_minor=1000, currency=programme.currency),
            occurred_at=to_timestamp(when + timedelta(seconds=1)),
        )
    )
    await programme.till.ledger.SpendPoints(
        ledger_pb2.SpendPointsRequest(
            idempotency_key=new_key(),
            member=member_ref(member_id),
            points=5,
            channel=common_pb2.CHANNEL_POS,
            store_id=programme.store_id,
            order_id="sp-" + new_key(),
            reason="checkout",
        )
    )
    return member_id
