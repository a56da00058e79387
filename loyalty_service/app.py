"""Building, starting and stopping the service: database, migrations, gRPC server, metrics.

`start_service` returns a running `Service`; `Service.stop` drains calls in flight for the grace
period, turns health to NOT_SERVING first, and stops the embedded database if we started one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from loyalty.v1 import (
    challenges_pb2,
    challenges_pb2_grpc,
    draws_pb2,
    draws_pb2_grpc,
    games_pb2,
    games_pb2_grpc,
    journeys_pb2,
    journeys_pb2_grpc,
    ledger_pb2,
    ledger_pb2_grpc,
    live_pb2,
    live_pb2_grpc,
    members_pb2,
    members_pb2_grpc,
    passports_pb2,
    passports_pb2_grpc,
    program_pb2,
    program_pb2_grpc,
    rewards_pb2,
    rewards_pb2_grpc,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_service import metrics, tls
from loyalty_service.auth.authenticator import Authenticator
from loyalty_service.auth.tokens import TokenSigner
from loyalty_service.challenges.privacy import retention_loop as checkin_retention_loop
from loyalty_service.challenges.service import ChallengeServicer
from loyalty_service.config import Settings
from loyalty_service.db.embedded import EmbeddedPostgres, start_embedded
from loyalty_service.db.engine import create_engine, wait_for_database
from loyalty_service.db.migrate import migrate
from loyalty_service.draws.service import DrawServicer
from loyalty_service.events.live import LiveEvents
from loyalty_service.events.watch import LiveServicer
from loyalty_service.games.service import GameServicer
from loyalty_service.health_watch import watch_database
from loyalty_service.interceptors import CallInterceptor
from loyalty_service.journeys.service import JourneyServicer
from loyalty_service.ledger.maintenance import maintenance_loop
from loyalty_service.ledger.service import LedgerServicer
from loyalty_service.members.service import MemberServicer
from loyalty_service.passports.processor import run_processor as run_stamp_processor
from loyalty_service.passports.service import PassportServicer
from loyalty_service.program.service import ProgramServicer
from loyalty_service.ratelimit import rate_limiter
from loyalty_service.rewards.service import RewardServicer
from loyalty_service.runtime import Runtime
from loyalty_service.tiers.review import review_loop as tier_review_loop

__all__ = ["SERVICE_NAMES", "Service", "database_url", "signing_key", "start_service"]

_log = logging.getLogger(__name__)

SERVICE_NAMES = (
    members_pb2.DESCRIPTOR.services_by_name["MemberService"].full_name,
    ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"].full_name,
    program_pb2.DESCRIPTOR.services_by_name["ProgramService"].full_name,
    live_pb2.DESCRIPTOR.services_by_name["LiveService"].full_name,
    draws_pb2.DESCRIPTOR.services_by_name["DrawService"].full_name,
    rewards_pb2.DESCRIPTOR.services_by_name["RewardService"].full_name,
    challenges_pb2.DESCRIPTOR.services_by_name["ChallengeService"].full_name,
    games_pb2.DESCRIPTOR.services_by_name["GameService"].full_name,
    passports_pb2.DESCRIPTOR.services_by_name["PassportService"].full_name,
    journeys_pb2.DESCRIPTOR.services_by_name["JourneyService"].full_name,
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def signing_key(settings: Settings) -> bytes:
    """The member-token key from settings, or in development a random one kept in the data folder."""
    if settings.token_signing_key is not None:
        return settings.token_signing_key.get_secret_value().encode()
    path = settings.data_dir / "token-signing.key"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def database_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The configured URL, or an embedded PostgreSQL started in the data folder."""
    if settings.database_url is not None:
        return settings.database_url, None
    embedded = start_embedded(Path(settings.data_dir))
    return embedded.url, embedded


@dataclass
class Service:
    server: grpc.aio.Server
    port: int
    runtime: Runtime
    health: health.aio.HealthServicer
    embedded: EmbeddedPostgres | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    metrics_port: int | None = None
    metrics_server: metrics.MetricsServer | None = None
    live: LiveEvents | None = None

    @property
    def engine(self) -> AsyncEngine:
        return self.runtime.engine

    async def stop(self, grace: float | None = None) -> None:
        await self.health.enter_graceful_shutdown()
        if self.live is not None:
            self.live.end_streams()  # live streams never end by themselves: ask them to, then drain
        await self.server.stop(self.runtime.settings.grace_seconds if grace is None else grace)
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.live is not None:
            await self.live.stop()
        await self.engine.dispose()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
        if self.embedded is not None:
            self.embedded.stop()


_MAX_PENDING_CALLS = 10_000


def build_server(
    runtime: Runtime, health_servicer: health.aio.HealthServicer, *, live: LiveEvents | None = None
) -> grpc.aio.Server:
    max_bytes = runtime.settings.max_message_bytes
    server = grpc.aio.server(
        interceptors=[CallInterceptor(runtime.authenticator, rate_limiter=rate_limiter(runtime.settings))],
        options=[
            ("grpc.max_receive_message_length", max_bytes),
            ("grpc.max_send_message_length", max_bytes),
            ("grpc.so_reuseport", 1),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.keepalive_permit_without_calls", 1),
            # Calls that arrived but wait for the Python server to take them: grpc-core cancels those
            # beyond 1000 (CANCELLED, which clients do not retry). A replica restart sends every app's
            # WatchMember back at once: 2000 together lost ~190 of them at open.
            ("grpc.server.max_pending_requests", _MAX_PENDING_CALLS),
            ("grpc.server.max_pending_requests_hard_limit", 2 * _MAX_PENDING_CALLS),
        ],
    )
    members_pb2_grpc.add_MemberServiceServicer_to_server(MemberServicer(runtime), server)
    ledger_pb2_grpc.add_LedgerServiceServicer_to_server(LedgerServicer(runtime), server)
    program_pb2_grpc.add_ProgramServiceServicer_to_server(ProgramServicer(runtime), server)
    live_pb2_grpc.add_LiveServiceServicer_to_server(LiveServicer(live or LiveEvents(runtime)), server)
    draws_pb2_grpc.add_DrawServiceServicer_to_server(DrawServicer(runtime), server)
    rewards_pb2_grpc.add_RewardServiceServicer_to_server(RewardServicer(runtime), server)
    challenges_pb2_grpc.add_ChallengeServiceServicer_to_server(ChallengeServicer(runtime), server)
    games_pb2_grpc.add_GameServiceServicer_to_server(GameServicer(runtime), server)
    passports_pb2_grpc.add_PassportServiceServicer_to_server(PassportServicer(runtime), server)
    journeys_pb2_grpc.add_JourneyServiceServicer_to_server(JourneyServicer(runtime), server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return server


async def start_service(
    settings: Settings, *, serve_metrics: bool = True, now: Callable[[], datetime] | None = None
) -> Service:
    """Start everything; `now` replaces the system clock (tests move time with a FixedClock)."""
    clock = now or _utc_now
    url, embedded = database_url(settings)
    engine = create_engine(url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    try:
        await wait_for_database(engine, timeout_seconds=settings.db_connect_timeout_seconds)
        if settings.migrate_on_start:
            await migrate(engine)
        signer = TokenSigner(signing_key(settings))
        runtime = Runtime(
            settings=settings,
            engine=engine,
            now=clock,
            signer=signer,
            authenticator=Authenticator(engine=engine, signer=signer, now=clock),
        )
        health_servicer = health.aio.HealthServicer()
        live = LiveEvents(runtime)
        server = build_server(runtime, health_servicer, live=live)
        port = tls.add_port(server, f"{settings.grpc_host}:{settings.grpc_port}", settings)
        await server.start()
        await live.start()
    except BaseException:
        await engine.dispose()
        if embedded is not None:
            embedded.stop()
        raise
    service = Service(server=server, port=port, runtime=runtime, health=health_servicer, embedded=embedded)
    service.live = live
    if serve_metrics:
        metrics.register_pool_collector(engine)
        service.metrics_server = metrics.serve_metrics(settings.metrics_host, settings.metrics_port)
        service.metrics_port = service.metrics_server.port
    service.tasks.append(asyncio.create_task(maintenance_loop(runtime)))
    service.tasks.append(asyncio.create_task(tier_review_loop(runtime)))  # tiers.review: period ends
    service.tasks.append(asyncio.create_task(run_stamp_processor(runtime)))  # passports.processor
    service.tasks.append(asyncio.create_task(checkin_retention_loop(runtime)))
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    service.tasks.append(asyncio.create_task(watch_database(engine, health_servicer, ("", *SERVICE_NAMES))))
    _log.info("serving", extra={"fields": {"port": port, "metrics_port": service.metrics_port}})
    return service
