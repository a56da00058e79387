"""A generic gRPC client that was not written here: reflection, health, and a dynamic EnrollMember.

It knows nothing of loyalty.v1 but what the server tells it through reflection, and calls with a key
made by the `loyalty-service credentials create` CLI, as a user following the README would.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.foundation.helpers import cli_json, service_env
from tests.support.processes import ServerProcess

Start = Callable[[int], Awaitable[tuple[str, list[ServerProcess]]]]
LOYALTY_SERVICES = {"loyalty.v1.MemberService", "loyalty.v1.LedgerService", "loyalty.v1.ProgramService"}


async def test_reflection_lists_services_and_a_dynamic_client_enrolls(server_processes: Start) -> None:
    """Goal: a reflection-driven client lists the services, builds EnrollMember and gets a member."""
    url, [server] = await server_processes(1)
    [created] = cli_json("credentials", "create", "--kind", "webshop", "--name", "x", env=service_env(url))
    with grpc.insecure_channel(server.address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert LOYALTY_SERVICES | {"grpc.health.v1.Health"} <= services
        pool = DescriptorPool(database)
        method = pool.FindServiceByName("loyalty.v1.MemberService").FindMethodByName("EnrollMember")
        request_type = GetMessageClass(method.input_type)
        response_type = GetMessageClass(method.output_type)
        assert request_type.DESCRIPTOR.full_name == "loyalty.v1.EnrollMemberRequest"
        request = request_type(idempotency_key="k-" + secrets.token_hex(8), display_name="Reflected")
        enroll = channel.unary_unary(
            f"/{method.containing_service.full_name}/{method.name}",
            request_serializer=request_type.SerializeToString,
            response_deserializer=response_type.FromString,
        )
        answer = enroll(request, metadata=(("authorization", f"Bearer {created['api_key']}"),), timeout=10)
        assert answer.member.member_id.startswith("mem_")
        assert answer.member.display_name == "Reflected"

        health = health_pb2_grpc.HealthStub(channel)
        loyalty = sorted(s for s in services if s.startswith("loyalty.v1."))
        assert set(loyalty) >= LOYALTY_SERVICES
        for name in ["", *loyalty]:
            status = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status
            assert status == health_pb2.HealthCheckResponse.SERVING, name
