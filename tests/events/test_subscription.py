"""A subscriber's wake-up: remembered until waited for, a timeout answers False, a cancelled wait leaves
nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
import time

from loyalty_service.events.subscription import Subscription


async def test_a_wake_up_is_kept_until_the_next_wait_and_consumed_by_it() -> None:
    subscription = Subscription("mem_a")
    subscription.wake()
    started = time.monotonic()
    assert await subscription.wait(5)
    assert time.monotonic() - started < 1, "an earlier wake-up answers at once"
    assert not await subscription.wait(0.05), "consumed: the next wait times out"


async def test_a_wake_up_during_a_wait_ends_it_and_the_handover_is_taken() -> None:
    subscription = Subscription("mem_a")
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, subscription.wake)
    started = time.monotonic()
    assert await subscription.wait(5)
    assert time.monotonic() - started < 1
    assert subscription.take(0) is None, "a bare wake-up means: read the outbox yourself"
    assert subscription.take(0) == [], "and only once"


async def test_a_cancelled_wait_leaves_no_waiter_and_the_next_wake_up_is_kept() -> None:
    subscription = Subscription("mem_a")
    waiting = asyncio.create_task(subscription.wait(5))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    subscription.wake()  # no waiter to resolve: must not fail on the cancelled future
    assert await subscription.wait(0.01)
