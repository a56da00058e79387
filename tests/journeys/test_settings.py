"""Journey settings through ProgramService: defaults, validation (nothing changes), audit, access."""

from __future__ import annotations

import json

import grpc
import pytest
from loyalty.v1 import audit_pb2, journey_settings_pb2

from tests.journeys.conftest import journey_settings
from tests.ledger.conftest import violations
from tests.support.api import Running, new_key


async def test_journey_settings_defaults_validation_and_audit(isolated_service: Running) -> None:
    """Goal: defaults are 14 days and no bonuses; out-of-range values are refused field by field and change
    nothing; an update is audited with before and after; only the back office may call."""
    running = isolated_service
    back = await running.client("backoffice")
    read = await back.program.GetJourneySettings(journey_settings_pb2.GetJourneySettingsRequest())
    assert read.settings == journey_settings_pb2.JourneySettings(pickup_deadline_days=14)

    bad = journey_settings_pb2.JourneySettings(
        pickup_deadline_days=0, pickup_bonus_points=-1, referrer_bonus_points=10**7, referrals_per_year_max=-2
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await back.program.UpdateJourneySettings(
            journey_settings_pb2.UpdateJourneySettingsRequest(idempotency_key=new_key(), settings=bad)
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(refused.value)) == {
        "settings.pickup_deadline_days",
        "settings.pickup_bonus_points",
        "settings.referrer_bonus_points",
        "settings.referrals_per_year_max",
    }
    unchanged = await back.program.GetJourneySettings(journey_settings_pb2.GetJourneySettingsRequest())
    assert unchanged.settings == read.settings

    saved = await journey_settings(running, pickup_deadline_days=3, pickup_bonus_points=40)
    assert (saved.pickup_deadline_days, saved.pickup_bonus_points) == (3, 40)
    events = await back.program.ListAuditEvents(
        audit_pb2.ListAuditEventsRequest(subject_type="journey_settings")
    )
    (event,) = events.events
    assert event.action == "journey_settings.update"
    assert json.loads(event.before_json)["pickup_deadline_days"] == 14
    assert json.loads(event.after_json)["pickup_bonus_points"] == "40"

    web = await running.client("webshop")
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await web.program.GetJourneySettings(journey_settings_pb2.GetJourneySettingsRequest())
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
