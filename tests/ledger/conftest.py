"""Ledger test helpers: requests with sensible defaults, a private currency per test, status details.

Tests on the session-wide `service` share one programme, so each test earns in a currency of its own
(an ISO-shaped code issued once per session, with its own base-rate rule): rules made by one test never
change another's.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from loyalty.v1 import common_pb2, ledger_pb2, program_pb2

from loyalty_service.kernel.money import currency_exponent
from loyalty_service.proto_time import to_timestamp
from tests.support.api import Client, Running, new_key

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


NAMED_BY_TESTS = frozenset({"EUR", "USD"})
"""Currencies that tests name literally, some on the shared `service`: never issued by `currency_code`."""


def _private_currencies() -> Iterator[str]:
    for letters in itertools.product(string.ascii_uppercase, repeat=3):
        code = "".join(letters)
        if currency_exponent(code) == 2 and code not in NAMED_BY_TESTS:
            yield code


_CURRENCIES = _private_currencies()


def currency_code() -> str:
    """A currency no other test of this session earns in, with 100 minor units to the unit (like EUR).

    Never random: a random code was sometimes a currency without decimals (JPY, KRW, ...), where a
    purchase of 15000 minor units earns 15000 points instead of 150, or one with three (KWD, ...); and two
    tests on the shared `service` could draw the same code and each add a base rate to the other's."""
    return next(_CURRENCIES)


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """field -> description of an INVALID_ARGUMENT's google.rpc.BadRequest."""
    status = status_pb2.Status.FromString(dict(error.trailing_metadata() or ())["grpc-status-details-bin"])
    found: dict[str, str] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.update({v.field: v.description for v in bad.field_violations})
    return found


def reason(error: grpc.aio.AioRpcError) -> str:
    status = status_pb2.Status.FromString(dict(error.trailing_metadata() or ())["grpc-status-details-bin"])
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def member_ref(member_id: str) -> common_pb2.MemberRef:
    return common_pb2.MemberRef(member_id=member_id)


def card_ref(card: str) -> common_pb2.MemberRef:
    return common_pb2.MemberRef(
        identifier=common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_CARD, value=card)
    )


def purchase(
    member: common_pb2.MemberRef,
    *,
    store_id: str,
    amount_minor: int,
    currency: str,
    order_id: str | None = None,
    occurred_at: datetime | None = None,
    channel: int = common_pb2.CHANNEL_POS,
    key: str | None = None,
    **fields: Any,
) -> ledger_pb2.RecordPurchaseRequest:
    return ledger_pb2.RecordPurchaseRequest(
        idempotency_key=key or new_key(),
        member=member,
        channel=channel,  # type: ignore[arg-type]
        store_id=store_id,
        order_id=order_id or "o-" + new_key(),
        amount=common_pb2.Money(amount_minor=amount_minor, currency=currency),
        occurred_at=to_timestamp(occurred_at or datetime.now(UTC) - timedelta(seconds=1)),
        **fields,
    )


@dataclass
class Programme:
    """A store with its till, a web shop, a back office, and a currency earning 1 point per unit."""

    running: Running
    store_id: str
    till: Client
    web: Client
    back: Client
    currency: str

    async def member(self) -> str:
        return (await self.running.enroll(display_name="Test")).member_id

    async def buy(
        self, member_id: str, amount_minor: int, **fields: Any
    ) -> ledger_pb2.RecordPurchaseResponse:
        request = purchase(
            member_ref(member_id),
            store_id=self.store_id,
            amount_minor=amount_minor,
            currency=self.currency,
            **fields,
        )
        answer: ledger_pb2.RecordPurchaseResponse = await self.till.ledger.RecordPurchase(request)
        return answer

    async def balance(self, member_id: str) -> ledger_pb2.Balance:
        answer = await self.back.ledger.GetBalance(ledger_pb2.GetBalanceRequest(member=member_ref(member_id)))
        return answer.balance  # type: ignore[no-any-return]


async def base_rate(
    back: Client, currency: str, *, rate: str = "1", effective_from: datetime = EPOCH
) -> None:
    spec = program_pb2.EarningRuleSpec(
        name=f"base {currency}",
        kind=program_pb2.EARNING_RULE_KIND_BASE_RATE,
        currency=currency,
        points_per_unit=rate,
    )
    await back.program.CreateEarningRule(
        program_pb2.CreateEarningRuleRequest(
            idempotency_key=new_key(), spec=spec, effective_from=to_timestamp(effective_from)
        )
    )


async def make_programme(running: Running) -> Programme:
    store_id = await running.store()
    back = await running.client("backoffice")
    currency = currency_code()
    await base_rate(back, currency)
    return Programme(
        running=running,
        store_id=store_id,
        till=await running.client("pos", store_id=store_id),
        web=await running.client("webshop"),
        back=back,
        currency=currency,
    )


@pytest.fixture
async def programme(service: Running) -> Programme:
    return await make_programme(service)
