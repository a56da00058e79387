"""Per-credential rate limits: a token bucket per caller, RESOURCE_EXHAUSTED with google.rpc.RetryInfo."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from loyalty.v1 import program_pb2

from loyalty_service.app import start_service
from loyalty_service.errors import ResourceExhausted
from loyalty_service.ratelimit import RateLimiter, rate_limiter
from tests.conftest import test_settings as settings_for
from tests.support.api import Running
from tests.support.database import TestDatabase


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_the_rate() -> None:
    """Goal: `burst` calls at once, then one per 1/rate seconds; the refusal says how long to wait."""
    clock = _Clock()
    limiter = RateLimiter(per_second=2, burst=3, clock=clock)
    for _ in range(3):
        limiter.check("cred_a")
    with pytest.raises(ResourceExhausted) as refused:
        limiter.check("cred_a")
    assert refused.value.retry_after_seconds == pytest.approx(0.5)
    assert refused.value.reason == "RATE_LIMITED"
    limiter.check("cred_b")  # another caller has its own bucket
    clock.now += 0.5
    limiter.check("cred_a")
    with pytest.raises(ResourceExhausted):
        limiter.check("cred_a")
    clock.now += 60  # an idle caller refills to the burst, not beyond
    for _ in range(3):
        limiter.check("cred_a")
    with pytest.raises(ResourceExhausted):
        limiter.check("cred_a")


def test_settings_turn_it_on(tmp_path: Path) -> None:
    """Goal: off by default; LOYALTY_RATE_LIMIT_PER_SECOND turns it on (burst: a second of calls)."""
    base = settings_for("postgresql://x/y", tmp_path)
    assert rate_limiter(base) is None
    limiter = rate_limiter(base.model_copy(update={"rate_limit_per_second": 5.0}))
    assert limiter is not None
    assert limiter.burst == 5


@pytest.fixture
async def limited(test_db: TestDatabase, tmp_path: Path) -> AsyncIterator[Running]:
    url = await test_db.new_database()
    settings = settings_for(url, tmp_path).model_copy(
        update={"rate_limit_per_second": 0.5, "rate_limit_burst": 3}
    )
    service = await start_service(settings, serve_metrics=False)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    yield Running(service=service, channel=channel, url=url)
    await channel.close()
    await service.stop(0)


async def test_server_answers_resource_exhausted_with_retry_info(limited: Running) -> None:
    """Goal: past the burst a caller gets RESOURCE_EXHAUSTED with RetryInfo; others and health do not."""
    back = await limited.client("backoffice")
    for _ in range(3):
        await back.program.ListStores(program_pb2.ListStoresRequest())
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await back.program.ListStores(program_pb2.ListStoresRequest())
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = dict(refused.value.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(details)
    retry = [d for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
    assert len(retry) == 1
    info = error_details_pb2.RetryInfo()
    retry[0].Unpack(info)
    assert 0 < info.retry_delay.ToTimedelta().total_seconds() <= 2

    other = limited.anonymous(await limited.key("backoffice"))
    await other.program.ListStores(program_pb2.ListStoresRequest())
    health: Any = health_pb2_grpc.HealthStub(limited.channel)
    for _ in range(5):
        answer = await health.Check(health_pb2.HealthCheckRequest())
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
