"""The back-office journey settings RPCs of ProgramService (GetJourneySettings, UpdateJourneySettings),
mixed into `ProgramServicer` as the other features' program RPCs are. Updates are audited.
"""

from __future__ import annotations

from loyalty.v1 import journey_settings_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import audit
from loyalty_service.auth.principal import current_principal
from loyalty_service.grpc_types import Context
from loyalty_service.journeys import store
from loyalty_service.journeys.messages import settings_message
from loyalty_service.runtime import Runtime
from loyalty_service.validation import Checks

__all__ = ["JourneySettingsRpcs"]

_BONUS_MAX = 1_000_000


class JourneySettingsRpcs:
    _rt: Runtime

    async def GetJourneySettings(
        self, request: journey_settings_pb2.GetJourneySettingsRequest, context: Context
    ) -> journey_settings_pb2.GetJourneySettingsResponse:
        value = await self._rt.read(store.read_settings)
        return journey_settings_pb2.GetJourneySettingsResponse(settings=settings_message(value))

    async def UpdateJourneySettings(
        self, request: journey_settings_pb2.UpdateJourneySettingsRequest, context: Context
    ) -> journey_settings_pb2.UpdateJourneySettingsResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        wanted = request.settings
        if not request.HasField("settings"):
            checks.fail("settings", "required")
        checks.count("settings.pickup_deadline_days", wanted.pickup_deadline_days, minimum=1, maximum=365)
        for field in ("pickup_bonus_points", "referrer_bonus_points", "referee_bonus_points"):
            checks.count(f"settings.{field}", getattr(wanted, field), minimum=0, maximum=_BONUS_MAX)
        checks.count(
            "settings.referrals_per_year_max", wanted.referrals_per_year_max, minimum=0, maximum=10_000
        )
        checks.done()
        value = store.JourneySettings(
            pickup_deadline_days=wanted.pickup_deadline_days,
            pickup_bonus_points=wanted.pickup_bonus_points,
            referrer_bonus_points=wanted.referrer_bonus_points,
            referee_bonus_points=wanted.referee_bonus_points,
            referrals_per_year_max=wanted.referrals_per_year_max,
        )

        async def work(conn: AsyncConnection) -> journey_settings_pb2.UpdateJourneySettingsResponse:
            now = self._rt.now()
            before = audit.message_dict(settings_message(await store.read_settings(conn)))
            saved = settings_message(await store.write_settings(conn, value, now=now))
            await audit.record(
                conn,
                principal=current_principal(),
                action="journey_settings.update",
                subject_type="journey_settings",
                subject_id="1",
                before=before,
                after=audit.message_dict(saved),
                now=now,
            )
            return journey_settings_pb2.UpdateJourneySettingsResponse(settings=saved)

        return await self._rt.write(
            method="UpdateJourneySettings",
            request=request,
            key=key,
            response_type=journey_settings_pb2.UpdateJourneySettingsResponse,
            work=work,
        )
