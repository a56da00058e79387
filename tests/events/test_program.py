"""Programme figures against a hand-computed scenario, the programme feed, pruning and its cursor."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from loyalty.v1 import common_pb2, ledger_pb2, live_pb2, live_pb2_grpc, stats_pb2
from sqlalchemy import text

from loyalty_service.events.cursor import FeedCursor
from loyalty_service.proto_time import to_timestamp
from tests.events.helpers import CURRENCY
from tests.ledger.conftest import base_rate, member_ref, purchase
from tests.support.api import Running, new_key


def test_the_cursor_waits_at_a_gap_until_older_transactions_end() -> None:
    """Goal: ids visible past a gap wait until every transaction that could fill it has ended."""
    cursor = FeedCursor(10)
    assert cursor.take([11, 12, 14], snapshot_xmin=100, snapshot_xmax=105) == 2
    assert cursor.position == 12
    assert cursor.gap_horizon == 105
    assert cursor.take([14], snapshot_xmin=104, snapshot_xmax=110) == 0, "a transaction may still commit 13"
    assert cursor.take([13, 14], snapshot_xmin=104, snapshot_xmax=110) == 2, "13 committed late: delivered"
    cursor = FeedCursor(12, gap_horizon=105)
    assert cursor.take([14, 16], snapshot_xmin=105, snapshot_xmax=120) == 1, "13 rolled back: skipped"
    assert cursor.position == 14
    assert cursor.gap_horizon == 120


async def test_stats_match_a_hand_computed_scenario(isolated_service: Running) -> None:
    """Goal: figures are exact: two members, three purchases in two channels, one spend."""
    running = isolated_service
    assert running.clock is not None
    now = running.clock.now()
    back = await running.client("backoffice")
    web = await running.client("webshop")
    store_id = "st-live"
    till = await running.client("pos", store_id=store_id)
    await base_rate(back, CURRENCY)
    multi = (await running.enroll(display_name="Multi")).member_id
    single = (await running.enroll(display_name="Single")).member_id
    at = now - timedelta(hours=1)
    for client, member_id, channel, store, amount in (
        (web, multi, common_pb2.CHANNEL_WEBSHOP, "web", 1000),
        (till, multi, common_pb2.CHANNEL_POS, store_id, 500),
        (web, single, common_pb2.CHANNEL_WEBSHOP, "web", 2000),
    ):
        request = purchase(
            member_ref(member_id),
            store_id=store,
            amount_minor=amount,
            currency=CURRENCY,
            channel=channel,
            occurred_at=at,
        )
        await client.ledger.RecordPurchase(request)
    await web.ledger.SpendPoints(
        ledger_pb2.SpendPointsRequest(
            idempotency_key=new_key(),
            member=member_ref(multi),
            points=5,
            channel=common_pb2.CHANNEL_WEBSHOP,
            store_id="web",
            order_id="o-spend",
        )
    )
    stats_request = stats_pb2.GetProgramStatsRequest(
        occurred_from=to_timestamp(now - timedelta(days=1)), occurred_to=to_timestamp(now + timedelta(days=1))
    )
    stats = (await back.program.GetProgramStats(stats_request)).stats
    assert (stats.members_enrolled, stats.members_active, stats.purchases) == (2, 2, 3)
    assert (stats.points_issued, stats.points_spent, stats.points_outstanding) == (35, 5, 30)
    assert [(m.currency, m.amount_minor) for m in stats.revenue] == [(CURRENCY, 3500)]
    assert (stats.multi_channel_members, stats.multi_channel_share) == (1, 0.5)
    (spend,) = stats.spend
    assert (spend.single_channel_members, spend.single_channel_average_spend_minor) == (1, 2000)
    assert (spend.multi_channel_members, spend.multi_channel_average_spend_minor) == (1, 1500)
    places = {(p.channel, p.store_id): p for p in stats.by_channel_store}
    assert places[(common_pb2.CHANNEL_POS, store_id)].points_issued == 5
    assert places[(common_pb2.CHANNEL_WEBSHOP, "web")].members_active == 2
    # Before the purchases: nothing happened, and the liability was 0.
    earlier = stats_pb2.GetProgramStatsRequest(occurred_to=to_timestamp(at - timedelta(minutes=1)))
    assert (await back.program.GetProgramStats(earlier)).stats.points_outstanding == 0


async def test_the_programme_feed_gets_events_and_figures(isolated_service: Running) -> None:
    """Goal: WatchProgram sends figures first, then every member's events with increasing positions."""
    running = isolated_service
    key = await running.key("backoffice")
    stub = live_pb2_grpc.LiveServiceStub(running.channel)
    call = stub.WatchProgram(
        live_pb2.WatchProgramRequest(figures_interval_seconds=1),
        metadata=(("authorization", f"Bearer {key}"),),
        timeout=30,
    )
    opening: Any = await call.read()
    assert opening.WhichOneof("item") == "figures"
    members = [(await running.enroll(display_name=f"M{i}")).member_id for i in range(3)]
    seen: list[tuple[int, str]] = []
    while len(seen) < 3:
        message: Any = await call.read()
        if message.WhichOneof("item") == "event":
            seen.append((message.event.position, message.event.event.member_id))
    call.cancel()
    assert [m for _p, m in seen] == members
    assert [p for p, _m in seen] == sorted(p for p, _m in seen)


async def test_pruning_respects_local_subscribers(isolated_service: Running) -> None:
    """Goal: old events are pruned, except those a local stream still needs."""
    running = isolated_service
    live = running.service.live
    assert live is not None
    member_id = (await running.enroll(display_name="Old")).member_id
    async with running.engine.begin() as conn:
        await conn.execute(text("update events set created_at = now() - interval '30 days'"))
        await conn.execute(text("delete from passport_cursors"))  # see the durable consumer's test below
        first = (await conn.execute(text("select min(event_id) from events"))).scalar_one()
    with live.positions.track() as position:
        position.needed = first
        assert await live.prune_once() == 0
    assert await live.prune_once() >= 1
    async with running.engine.connect() as conn:
        left = (
            await conn.execute(text("select count(*) from events where member_id = :m"), {"m": member_id})
        ).scalar_one()
    assert left == 0


async def test_pruning_stays_below_a_stopped_durable_consumer(isolated_service: Running) -> None:
    """Goal: events the passport stamp processor has not read yet are kept, however old: a processor
    stopped for longer than the retention resumes without skipping anything."""
    running = isolated_service
    live = running.service.live
    assert live is not None
    for name in ("Old", "Older", "Oldest"):
        await running.enroll(display_name=name)
    async with running.engine.begin() as conn:
        await conn.execute(text("update events set created_at = now() - interval '30 days'"))
        ids = [row[0] for row in await conn.execute(text("select event_id from events order by event_id"))]
        await conn.execute(text("delete from passport_cursors"))
        await conn.execute(
            text("insert into passport_cursors (name, position, updated_at) values ('stopped', :p, now())"),
            {"p": ids[0]},
        )
    await live.prune_once()
    async with running.engine.connect() as conn:
        left = [row[0] for row in await conn.execute(text("select event_id from events order by event_id"))]
    assert left == ids[1:], "only what the processor had read may go"
