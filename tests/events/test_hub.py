"""The event hub: NOTIFY wake-ups across connections, and recovery when the listener is cut off."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from loyalty.v1 import events_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_service.db.engine import create_engine
from loyalty_service.events import outbox
from loyalty_service.events.hub import PROGRAM, EventHub
from tests.support.database import TestDatabase


def _payload() -> events_pb2.EventPayload:
    return events_pb2.EventPayload(members_merged=events_pb2.MembersMerged(member_id="mem_x", points=1))


@contextlib.asynccontextmanager
async def _running_hub(test_db: TestDatabase, **options: Any) -> AsyncIterator[tuple[AsyncEngine, EventHub]]:
    """A started hub on a new database, and an engine to write to it."""
    url = await test_db.new_database()
    engine = create_engine(url, pool_size=2)
    hub = EventHub(url.replace("postgresql+asyncpg://", "postgresql://"), **options)
    await hub.start()
    try:
        yield engine, hub
    finally:
        await hub.stop()
        await engine.dispose()


async def test_commit_wakes_the_members_subscriber_and_the_programme_feed(test_db: TestDatabase) -> None:
    """Goal: a committed event wakes its member's subscribers and the programme feed, not others."""
    async with _running_hub(test_db) as (engine, hub):
        assert hub.listening
        with hub.subscribe("mem_a") as mine, hub.subscribe("mem_b") as other, hub.subscribe(PROGRAM) as feed:
            async with engine.begin() as conn:
                await outbox.append_with_seq(
                    conn, member_id="mem_a", seq=1, payload=_payload(), occurred_at=datetime.now(UTC)
                )
                # Not before the commit: NOTIFY is transactional.
                assert not await mine.wait(0.2)
            assert await mine.wait(5)
            assert await feed.wait(5)
            assert not await other.wait(0.2)


async def test_a_lost_listening_connection_reconnects_and_wakes_everyone(test_db: TestDatabase) -> None:
    """Goal: a dropped listener reconnects by itself and every subscriber re-reads."""
    async with _running_hub(test_db, reconnect_max_seconds=0.5) as (engine, hub):
        with hub.subscribe("mem_a") as subscription:
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "select pg_terminate_backend(pid) from pg_stat_activity "
                        "where application_name = 'loyalty-events' and datname = current_database()"
                    )
                )
            assert await subscription.wait(10), "woken when the listener was lost or came back"
            for _ in range(100):
                if hub.listening and hub.reconnects >= 1:
                    break
                await asyncio.sleep(0.05)
            assert hub.listening
            assert hub.reconnects >= 1
            await subscription.wait(0.5)  # drain the wake-up of the reconnection itself
            async with engine.begin() as conn:
                await outbox.append_with_seq(
                    conn, member_id="mem_a", seq=2, payload=_payload(), occurred_at=datetime.now(UTC)
                )
            assert await subscription.wait(5), "notifications flow again after the reconnection"


async def _two_more_polls(hub: EventHub) -> None:
    async def wait() -> None:
        polls = hub.polls
        while hub.polls < polls + 2:  # noqa: ASYNC110 - a counter of the hub's task, polled by a test
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), 10)


async def test_the_poll_wakes_only_subscribers_behind_events_that_sent_no_notification(
    test_db: TestDatabase,
) -> None:
    """Goal: the hub's safety poll finds events whose notification never came and wakes the subscribers
    that have not delivered them, and nobody else (one read per process instead of one per stream)."""
    async with _running_hub(test_db, poll_seconds=0.2) as (engine, hub):
        with (
            hub.subscribe("mem_a") as behind,
            hub.subscribe("mem_b") as caught_up,
            hub.subscribe("mem_c") as quiet,
            hub.subscribe(PROGRAM) as feed,
        ):
            caught_up.delivered = 7
            async with engine.begin() as conn:  # straight into the outbox table: no NOTIFY
                for member_id, seq in (("mem_a", 3), ("mem_b", 7)):
                    await conn.execute(
                        text(
                            "insert into events (member_id, seq, event_type, payload, occurred_at) "
                            "values (:m, :s, 'members_merged', :p, now())"
                        ),
                        {"m": member_id, "s": seq, "p": _payload().SerializeToString()},
                    )
            assert hub.notifications == 0
            assert await behind.wait(5), "the poll wakes a subscriber behind the newest event"
            assert await feed.wait(5), "and the programme feed"
            await _two_more_polls(hub)  # the rows are still in their look-back
            assert not await caught_up.wait(0.01), "a subscriber that delivered seq 7 is left alone"
            assert not await quiet.wait(0.01), "so is one whose member has no new event"
            behind.delivered = 3
            feed.delivered = 10**9
            await behind.wait(0.01)
            await feed.wait(0.01)
            await _two_more_polls(hub)
            assert not await behind.wait(0.01), "once delivered, the poll stops waking it"
            assert not await feed.wait(0.01)


async def _append(engine: AsyncEngine, member_id: str, seqs: range) -> None:
    async with engine.begin() as conn:
        for seq in seqs:
            await outbox.append_with_seq(
                conn, member_id=member_id, seq=seq, payload=_payload(), occurred_at=datetime.now(UTC)
            )


async def test_the_hub_reads_announced_events_once_and_hands_them_to_each_subscriber(
    test_db: TestDatabase,
) -> None:
    """Goal: a notification's events reach every local subscriber of the member from one read by the hub
    (no read per stream); a subscriber whose inbox they would overfill is told to read for itself."""
    async with _running_hub(test_db, inbox_limit=3) as (engine, hub):
        with (
            hub.subscribe("mem_a") as phone,
            hub.subscribe("mem_a") as tablet,
            hub.subscribe("mem_b") as other,
            hub.subscribe("mem_c") as flooded,
        ):
            await _append(engine, "mem_a", range(1, 3))
            await _append(engine, "mem_b", range(1, 2))
            await _append(engine, "mem_c", range(1, 5))
            for subscription in (phone, tablet, other, flooded):
                assert await subscription.wait(5)
            for subscription in (phone, tablet):
                handed = subscription.take(0)
                assert handed is not None
                assert [(e.member_id, e.seq) for e in handed] == [("mem_a", 1), ("mem_a", 2)]
                assert handed[0].message().payload == _payload()
            assert [e.seq for e in other.take(0) or []] == [1]
            assert flooded.take(0) is None, "four events do not fit an inbox of three: read them yourself"
            assert hub.handed_over == 3, "mem_a's two events read once for both of its subscribers"
            assert hub.rounds <= 3

            phone.delivered = tablet.delivered = 2
            await _append(engine, "mem_a", range(3, 4))
            assert await phone.wait(5)
            assert [e.seq for e in phone.take(2) or []] == [3]
            assert await tablet.wait(5)
            assert [e.seq for e in tablet.take(3) or []] == [], "only what is after `after`"
