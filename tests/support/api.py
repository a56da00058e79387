"""Talking to a real server in tests: credentials of every kind, authenticated stubs, member tokens."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field
from typing import Any

import grpc
from loyalty.v1 import (
    journeys_pb2_grpc,
    ledger_pb2_grpc,
    members_pb2,
    members_pb2_grpc,
    program_pb2,
    program_pb2_grpc,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_service.app import Service
from loyalty_service.auth import credentials
from loyalty_service.auth.principal import PrincipalKind
from loyalty_service.kernel.clock import FixedClock
from loyalty_service.program import stores

__all__ = ["Client", "Running", "new_key"]


def new_key() -> str:
    return "k-" + secrets.token_hex(8)


class _Authed:
    """A stub whose every call carries `authorization: Bearer <secret>`."""

    def __init__(self, stub: object, metadata: tuple[tuple[str, str], ...]) -> None:
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, name: str) -> Any:
        return functools.partial(getattr(self._stub, name), metadata=self._metadata)


class Client:
    def __init__(self, channel: grpc.aio.Channel, secret: str | None) -> None:
        metadata = (("authorization", f"Bearer {secret}"),) if secret is not None else ()
        self.secret = secret
        self.members: Any = _Authed(members_pb2_grpc.MemberServiceStub(channel), metadata)
        self.ledger: Any = _Authed(ledger_pb2_grpc.LedgerServiceStub(channel), metadata)
        self.program: Any = _Authed(program_pb2_grpc.ProgramServiceStub(channel), metadata)
        self.journeys: Any = _Authed(journeys_pb2_grpc.JourneyServiceStub(channel), metadata)


@dataclass
class Running:
    """A started service and a channel to it."""

    service: Service
    channel: grpc.aio.Channel
    clock: FixedClock | None = None
    url: str = ""
    _clients: dict[str, Client] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.service.port

    @property
    def engine(self) -> AsyncEngine:
        return self.service.engine

    async def key(self, kind: str, *, store_id: str | None = None) -> str:
        """A new API key of `kind`, made directly in the database (bootstrap, like the CLI)."""
        async with self.engine.begin() as conn:
            if store_id is not None:
                await stores.create(
                    conn, store_id=store_id, name=f"Store {store_id}", now=self.service.runtime.now()
                )
            _row, api_key = await credentials.create(
                conn, kind=PrincipalKind(kind), name=f"test {kind}", store_id=store_id
            )
        return api_key

    async def client(self, kind: str, *, store_id: str | None = None) -> Client:
        """A client with a credential of `kind` (one per kind and store, reused)."""
        name = f"{kind}:{store_id}"
        if name not in self._clients:
            self._clients[name] = Client(self.channel, await self.key(kind, store_id=store_id))
        return self._clients[name]

    def anonymous(self, secret: str | None = None) -> Client:
        return Client(self.channel, secret)

    async def store(self) -> str:
        """A new store, created through the back office."""
        store_id = "st-" + secrets.token_hex(4)
        back = await self.client("backoffice")
        await back.program.CreateStore(
            program_pb2.CreateStoreRequest(idempotency_key=new_key(), store_id=store_id, name="Test store")
        )
        return store_id

    async def enroll(self, **fields: Any) -> members_pb2.Member:
        web = await self.client("webshop")
        answer = await web.members.EnrollMember(
            members_pb2.EnrollMemberRequest(idempotency_key=new_key(), **fields)
        )
        return answer.member

    async def member_client(self, member_id: str) -> Client:
        app = await self.client("app_backend")
        answer = await app.members.IssueMemberToken(members_pb2.IssueMemberTokenRequest(member_id=member_id))
        return Client(self.channel, answer.token)
