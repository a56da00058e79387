"""Lost answers and unreachable servers: retries reuse the idempotency key, so a write happens once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from loyalty_clients import (
    AsyncWebShopClient,
    DeadlineExceeded,
    EntryType,
    Identifier,
    Money,
    RetryPolicy,
    Unavailable,
    new_idempotency_key,
)
from loyalty_clients._status import parse_status

from tests.clients.conftest import ledger_guard, make_keys, target_of, unique
from tests.clients.proxy import Proxy
from tests.support.api import Running


async def test_killed_before_the_answer_then_retried_gives_one_effect(service: Running) -> None:
    """Goal: a write that reached the server but whose answer was lost, retried with its key, counts once."""
    keys = await make_keys(service.url)
    proxy = await Proxy(service.port).start()
    once = RetryPolicy(max_attempts=1)
    direct = AsyncWebShopClient(api_key=keys.webshop, target=target_of(service))
    slow = AsyncWebShopClient(api_key=keys.webshop, target=proxy.target, timeout_seconds=0.5, retry=once)
    try:
        email = f"{unique('kill')}@example.com"
        await slow.enroll_member(display_name="warm-up")  # open the connection through the proxy
        proxy.delay_answers_s = 1.5
        key = new_idempotency_key()
        with pytest.raises(DeadlineExceeded):
            await slow.enroll_member(
                display_name="Kim", identifiers=[Identifier.email(email)], idempotency_key=key
            )
        proxy.delay_answers_s = 0
        committed = await direct.lookup_member(identifier=Identifier.email(email))
        again = await direct.enroll_member(
            display_name="Kim", identifiers=[Identifier.email(email)], idempotency_key=key
        )
        assert again.member_id == committed.member_id

        with ledger_guard():
            at, purchase_key = datetime.now(UTC) - timedelta(minutes=1), new_idempotency_key()
            proxy.delay_answers_s = 1.5
            with pytest.raises(DeadlineExceeded):
                await slow.record_purchase(
                    member=committed.member_id,
                    order_id="K-1",
                    amount=Money(5000, "EUR"),
                    occurred_at=at,
                    idempotency_key=purchase_key,
                )
            proxy.delay_answers_s = 0
            retried = await direct.record_purchase(
                member=committed.member_id,
                order_id="K-1",
                amount=Money(5000, "EUR"),
                occurred_at=at,
                idempotency_key=purchase_key,
            )
            earned = [e async for e in direct.history(member_id=committed.member_id, types=[EntryType.EARN])]
            assert len(earned) <= 1
            assert [e.source_ref for e in earned] == (["K-1"] if retried.points else [])
            purchases = [e async for e in direct.history(member_id=committed.member_id)]
            assert sum(e.points for e in purchases) == retried.points
    finally:
        await slow.close()
        await direct.close()
        await proxy.close()


async def test_automatic_retry_after_a_lost_answer_sends_the_same_key(service: Running) -> None:
    """Goal: the client's own retry (after a deadline) reuses the key and returns the first answer."""
    keys = await make_keys(service.url)
    proxy = await Proxy(service.port).start()
    retrying = RetryPolicy(max_attempts=3, initial_backoff_seconds=0.05)
    shop = AsyncWebShopClient(api_key=keys.webshop, target=proxy.target, timeout_seconds=1.0, retry=retrying)
    try:
        await shop.enroll_member(display_name="warm-up")
        email = f"{unique('retry')}@example.com"
        proxy.delay_answers_s = 1.5
        asyncio.get_running_loop().call_later(1.2, setattr, proxy, "delay_answers_s", 0.0)
        member = await shop.enroll_member(identifiers=[Identifier.email(email)])
        # A second enrolment would have been refused (the e-mail is taken): the retry got the first answer.
        assert (await shop.lookup_member(identifier=Identifier.email(email))).member_id == member.member_id
    finally:
        await shop.close()
        await proxy.close()


async def test_unavailable_is_retried_until_the_server_answers(service: Running) -> None:
    """Goal: refused connections are retried with backoff; a bounded number of attempts then Unavailable."""
    keys = await make_keys(service.url)
    proxy = await Proxy(service.port).start()
    proxy.refuse = True
    patient = RetryPolicy(max_attempts=12, initial_backoff_seconds=0.1, max_backoff_seconds=0.4)
    shop = AsyncWebShopClient(api_key=keys.webshop, target=proxy.target, retry=patient)
    impatient = AsyncWebShopClient(
        api_key=keys.webshop,
        target=proxy.target,
        retry=RetryPolicy(max_attempts=2, initial_backoff_seconds=0.01),
    )
    try:
        with pytest.raises(Unavailable):
            await impatient.enroll_member(display_name="nobody")
        asyncio.get_running_loop().call_later(0.5, setattr, proxy, "refuse", False)
        member = await shop.enroll_member(display_name="Lou")
        assert member.display_name == "Lou"
        assert proxy.connections >= 2
    finally:
        await shop.close()
        await impatient.close()
        await proxy.close()


def test_backoff_is_full_jitter_and_bounded() -> None:
    """Goal: each wait is uniform in [0, min(max, initial * multiplier^(n-1))]."""
    policy = RetryPolicy(initial_backoff_seconds=0.1, max_backoff_seconds=0.5)
    waits = [[policy.backoff_seconds(n) for _ in range(200)] for n in (1, 2, 5)]
    assert max(waits[0]) <= 0.1
    assert max(waits[1]) <= 0.2
    assert max(waits[2]) <= 0.5
    assert min(waits[2]) < 0.25 < max(waits[2])
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_rich_details_decode_without_googleapis() -> None:
    """Goal: the private decoder reads what the service's google.rpc details say."""
    from google.protobuf import any_pb2, duration_pb2
    from google.rpc import error_details_pb2, status_pb2

    status = status_pb2.Status(code=9, message="no")
    for detail in (
        error_details_pb2.ErrorInfo(
            reason="INSUFFICIENT_POINTS", domain="loyalty.v1", metadata={"available": "3"}
        ),
        error_details_pb2.BadRequest(field_violations=[{"field": "points", "description": "positive"}]),
        error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=2, nanos=500_000_000)),
    ):
        packed = any_pb2.Any()
        packed.Pack(detail)
        status.details.append(packed)
    parsed = parse_status(9, "fallback", status.SerializeToString())
    assert (parsed.reason, dict(parsed.metadata), parsed.message) == (
        "INSUFFICIENT_POINTS",
        {"available": "3"},
        "no",
    )
    assert [(v.field, v.description) for v in parsed.field_violations] == [("points", "positive")]
    assert parsed.retry_delay == timedelta(seconds=2.5)
    assert parse_status(14, "down", b"\xff\x00garbage").message == "down"
