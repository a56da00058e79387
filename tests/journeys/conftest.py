"""Journey story helpers: journey settings, a web order to collect, events of a member."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from loyalty.v1 import common_pb2, journey_settings_pb2, journeys_pb2, ledger_pb2
from sqlalchemy import text

from loyalty_service.journeys import domain
from loyalty_service.proto_time import to_timestamp
from tests.ledger.conftest import Programme, member_ref
from tests.support.api import Running, new_key


async def journey_settings(running: Running, **fields: Any) -> journey_settings_pb2.JourneySettings:
    values: dict[str, Any] = {"pickup_deadline_days": 14, **fields}
    back = await running.client("backoffice")
    answer = await back.program.UpdateJourneySettings(
        journey_settings_pb2.UpdateJourneySettingsRequest(
            idempotency_key=new_key(), settings=journey_settings_pb2.JourneySettings(**values)
        )
    )
    return answer.settings  # type: ignore[no-any-return]


def now_of(running: Running) -> datetime:
    assert running.clock is not None, "isolated_service"
    if running.clock.now().day == 1:  # keep a whole day of this month behind us
        running.clock.advance(timedelta(days=1))
    return running.clock.now()


async def web_order(
    programme: Programme,
    member_id: str,
    amount_minor: int,
    *,
    pickup_store_id: str = "",
    occurred_at: datetime,
    order_id: str | None = None,
) -> ledger_pb2.RecordPurchaseResponse:
    request = ledger_pb2.RecordPurchaseRequest(
        idempotency_key=new_key(),
        member=member_ref(member_id),
        channel=common_pb2.CHANNEL_WEBSHOP,
        order_id=order_id or "w-" + new_key(),
        amount=common_pb2.Money(amount_minor=amount_minor, currency=programme.currency),
        occurred_at=to_timestamp(occurred_at),
        pickup_store_id=pickup_store_id,
    )
    answer: ledger_pb2.RecordPurchaseResponse = await programme.web.ledger.RecordPurchase(request)
    return answer


async def confirm(
    till: Any, order_id: str, store_id: str, *, key: str | None = None
) -> journeys_pb2.ConfirmPickupResponse:
    answer: journeys_pb2.ConfirmPickupResponse = await till.journeys.ConfirmPickup(
        journeys_pb2.ConfirmPickupRequest(
            idempotency_key=key or new_key(), order_id=order_id, store_id=store_id
        )
    )
    return answer


async def event_types(running: Running, member_id: str) -> list[str]:
    async with running.engine.connect() as conn:
        rows = await conn.execute(
            text("select event_type from events where member_id = :m order by seq"), {"m": member_id}
        )
        return [str(t) for t in rows.scalars()]


__all__ = ["confirm", "domain", "event_types", "journey_settings", "now_of", "web_order"]
