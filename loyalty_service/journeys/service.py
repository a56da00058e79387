"""JourneyService: a till confirms a click-and-collect pickup; channels read an order's pickup state."""

from __future__ import annotations

from loyalty.v1 import journeys_pb2, journeys_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.auth.principal import PrincipalKind, current_principal
from loyalty_service.errors import PermissionDenied
from loyalty_service.grpc_types import Context
from loyalty_service.journeys import pickups
from loyalty_service.journeys import privacy as _privacy  # noqa: F401  (registers export and erase)
from loyalty_service.journeys.messages import pickup_message
from loyalty_service.runtime import Runtime
from loyalty_service.validation import Checks

__all__ = ["JourneyServicer"]


class JourneyServicer(journeys_pb2_grpc.JourneyServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def ConfirmPickup(
        self, request: journeys_pb2.ConfirmPickupRequest, context: Context
    ) -> journeys_pb2.ConfirmPickupResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        order_id = checks.code("order_id", request.order_id)
        order_store_id = checks.code("order_store_id", request.order_store_id, required=False)
        store_id = checks.code("store_id", request.store_id)
        checks.done()
        principal = current_principal()
        principal.require_store(store_id)

        async def work(conn: AsyncConnection) -> journeys_pb2.ConfirmPickupResponse:
            return await pickups.confirm_pickup(
                conn,
                order_store_id=order_store_id,
                order_id=order_id,
                store_id=store_id,
                now=self._rt.now(),
                credential_id=principal.credential_id,
            )

        return await self._rt.write(
            method="ConfirmPickup",
            request=request,
            key=key,
            response_type=journeys_pb2.ConfirmPickupResponse,
            work=work,
        )

    async def GetPickup(
        self, request: journeys_pb2.GetPickupRequest, context: Context
    ) -> journeys_pb2.GetPickupResponse:
        checks = Checks()
        order_id = checks.code("order_id", request.order_id)
        order_store_id = checks.code("order_store_id", request.order_store_id, required=False)
        checks.done()
        principal = current_principal()

        async def read(conn: AsyncConnection) -> journeys_pb2.GetPickupResponse:
            row = await pickups.find_pickup(conn, order_store_id=order_store_id, order_id=order_id)
            if principal.kind is PrincipalKind.POS and row.pickup_store_id != principal.store_id:
                raise PermissionDenied("a till sees the orders waiting in its own store only")
            return journeys_pb2.GetPickupResponse(pickup=pickup_message(row))

        return await self._rt.read(read)
