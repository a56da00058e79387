"""The live view through the clients: `watch()` delivers every event once, in order, across restarts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from loyalty.v1 import events_pb2
from loyalty_clients import (
    AsyncMarketingClient,
    AsyncMobileAppClient,
    AsyncWebShopClient,
    EarningRuleSpec,
    Money,
    RetryPolicy,
)
from loyalty_clients._ops_events import BalanceSnapshot, WatchItem

from tests.clients.conftest import make_keys, unique
from tests.support.database import TestDatabase
from tests.support.processes import start_server_process


async def _next_event(items: object, seconds: float = 30.0) -> events_pb2.MemberEvent:
    while True:
        item: WatchItem = await asyncio.wait_for(anext(items), seconds)  # type: ignore[call-overload]
        if isinstance(item, events_pb2.MemberEvent):
            return item


async def test_watch_survives_a_server_restart_and_misses_nothing(
    test_db: TestDatabase, tmp_path: Path
) -> None:
    """Goal: watch() sees the balance, then each purchase; across a server restart it reconnects by itself
    and resumes after the last sequence, so events committed while it was away arrive once, in order."""
    url = await test_db.new_database()
    keys = await make_keys(url)
    server = start_server_process(url, tmp_path)
    target = server.address
    retry = RetryPolicy(max_attempts=8)
    shop = AsyncWebShopClient(api_key=keys.webshop, target=target, retry=retry)
    async with AsyncMarketingClient(api_key=keys.backoffice, target=target) as office:
        spec = EarningRuleSpec.base_rate(name="base", currency="EUR", points_per_unit=1)
        await office.create_earning_rule(spec=spec, effective_from=datetime(2020, 1, 1, tzinfo=UTC))
    try:
        member = await shop.enroll_member(display_name="Live")
        token = await shop.issue_member_token(member_id=member.member_id, ttl_seconds=600)
        app = AsyncMobileAppClient(member_token=token.token, target=target, retry=retry)
        items = app.watch()
        first = await asyncio.wait_for(anext(items), 30)
        assert isinstance(first, BalanceSnapshot)
        assert first.balance.available == 0

        async def buy(order: str) -> None:
            await shop.record_purchase(member=member.member_id, order_id=order, amount=Money(1000, "EUR"))

        await buy(unique("o"))
        before = await _next_event(items)
        while before.type != "points_changed":
            before = await _next_event(items)

        server.terminate()
        server = start_server_process(url, tmp_path, port=server.port)
        orders = [unique("o") for _ in range(3)]
        for order in orders:
            await buy(order)
        seen: list[events_pb2.MemberEvent] = []
        while sum(e.type == "points_changed" for e in seen) < len(orders):
            seen.append(await _next_event(items))
        # Other features may add events of their own; none is missed or repeated: the numbers are contiguous.
        assert [e.sequence for e in seen] == list(range(before.sequence + 1, before.sequence + 1 + len(seen)))
        await items.aclose()  # type: ignore[attr-defined]
        await app.close()
    finally:
        await shop.close()
        server.terminate()
