"""Helpers of the live-events tests: replicas with credentials, purchases that earn, stream readers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from loyalty.v1 import common_pb2, ledger_pb2, live_pb2_grpc, members_pb2, program_pb2

from loyalty_service.auth import credentials
from loyalty_service.auth.principal import PrincipalKind
from loyalty_service.db.engine import create_engine
from loyalty_service.proto_time import to_timestamp
from tests.support.api import Client, new_key
from tests.support.processes import ServerProcess, start_server_process

CURRENCY = "EUR"


async def make_keys(url: str) -> dict[str, str]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            keys = {}
            for kind in (PrincipalKind.WEBSHOP, PrincipalKind.BACKOFFICE, PrincipalKind.APP_BACKEND):
                _row, keys[kind.value] = await credentials.create(conn, kind=kind, name="live", store_id=None)
        return keys
    finally:
        await engine.dispose()


class Replica:
    """A channel to one server with stubs for each credential kind."""

    def __init__(self, address: str, keys: dict[str, str]) -> None:
        self.channel = grpc.aio.insecure_channel(address)
        self.keys = keys
        self.web = Client(self.channel, keys["webshop"])
        self.back = Client(self.channel, keys["backoffice"])
        metadata = (("authorization", f"Bearer {keys['webshop']}"),)
        self.metadata = metadata
        self.live = live_pb2_grpc.LiveServiceStub(self.channel)

    def back_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.keys['backoffice']}"),)

    async def enroll(self) -> str:
        answer = await self.web.members.EnrollMember(
            members_pb2.EnrollMemberRequest(idempotency_key=new_key(), display_name="Live")
        )
        return str(answer.member.member_id)

    async def base_rate(self) -> None:
        spec = program_pb2.EarningRuleSpec(
            name="base", kind=program_pb2.EARNING_RULE_KIND_BASE_RATE, currency=CURRENCY, points_per_unit="1"
        )
        await self.back.program.CreateEarningRule(
            program_pb2.CreateEarningRuleRequest(
                idempotency_key=new_key(),
                spec=spec,
                effective_from=to_timestamp(datetime(2000, 1, 1, tzinfo=UTC)),
            )
        )

    async def buy(
        self, member_id: str, amount_minor: int = 1000, *, occurred_at: datetime | None = None
    ) -> ledger_pb2.RecordPurchaseResponse:
        request = ledger_pb2.RecordPurchaseRequest(
            idempotency_key=new_key(),
            member=common_pb2.MemberRef(member_id=member_id),
            channel=common_pb2.CHANNEL_WEBSHOP,
            store_id="web",
            order_id="o-" + new_key(),
            amount=common_pb2.Money(amount_minor=amount_minor, currency=CURRENCY),
            occurred_at=to_timestamp(occurred_at or datetime.now(UTC) - timedelta(seconds=1)),
        )
        answer: ledger_pb2.RecordPurchaseResponse = await self.web.ledger.RecordPurchase(request, timeout=30)
        return answer

    async def close(self) -> None:
        await self.channel.close()


@contextlib.asynccontextmanager
async def replicas(
    url: str, log_dir: Path, count: int, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[list[ServerProcess], list[Replica]]]:
    servers = [start_server_process(url, log_dir, extra_env=env) for _ in range(count)]
    keys = await make_keys(url)
    clients = [Replica(server.address, keys) for server in servers]
    try:
        yield servers, clients
    finally:
        for client in clients:
            await client.close()
        for server in servers:
            server.terminate()
