"""ProgramService.GetProgramStats, mixed into the ProgramServicer (the figures live in `figures`)."""

from __future__ import annotations

from loyalty.v1 import stats_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.events.figures import program_stats
from loyalty_service.grpc_types import Context
from loyalty_service.runtime import Runtime
from loyalty_service.validation import Checks

__all__ = ["ProgramStatsRpcs"]


class ProgramStatsRpcs:
    _rt: Runtime

    async def GetProgramStats(
        self, request: stats_pb2.GetProgramStatsRequest, context: Context
    ) -> stats_pb2.GetProgramStatsResponse:
        checks = Checks()
        occurred_from = checks.timestamp(
            "occurred_from", request.occurred_from, present=request.HasField("occurred_from"), required=False
        )
        occurred_to = checks.timestamp(
            "occurred_to", request.occurred_to, present=request.HasField("occurred_to"), required=False
        )
        now = self._rt.now()
        start = occurred_from or now.replace(year=2000, month=1, day=1, hour=0, minute=0, second=0)
        end = occurred_to or now
        if start > end:
            checks.fail("occurred_to", "must not be before occurred_from")
        checks.done()

        async def read(conn: AsyncConnection) -> stats_pb2.GetProgramStatsResponse:
            stats = await program_stats(conn, occurred_from=start, occurred_to=end)
            return stats_pb2.GetProgramStatsResponse(stats=stats)

        return await self._rt.read(read)
