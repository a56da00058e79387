"""Programme figures from purchases against a plain Python model (hypothesis).

Random purchases (members, channels, stores, two currencies, times around the range's edges) are written
straight into `purchases` of a fresh database; `program_stats` must give exactly what the model counts:
active members, multi-channel members (a member paying in two currencies counts once), spend per
currency split by single/multi-channel members, and per channel and store purchases, revenue and
distinct members. Runs in a worker thread with its own event loop per example, as the stateful tests do.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from loyalty_service.db.engine import create_engine
from loyalty_service.events.figures import program_stats
from loyalty_service.kernel.channel import Channel
from tests.support.database import TestDatabase

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=10)
CHANNELS = (Channel.POS, Channel.WEBSHOP, Channel.APP)


@dataclass(frozen=True)
class Bought:
    member: int
    channel: Channel
    store: str
    currency: str
    amount: int
    at: datetime


purchases_strategy = st.lists(
    st.builds(
        Bought,
        member=st.integers(0, 5),
        channel=st.sampled_from(CHANNELS),
        store=st.sampled_from(("a", "b")),
        currency=st.sampled_from(("EUR", "USD")),
        amount=st.integers(1, 100_000),
        # Around both edges: before START, inside, exactly END (excluded) and after.
        at=st.sampled_from(
            (
                START - timedelta(microseconds=1),
                START,
                START + timedelta(days=3),
                END - timedelta(seconds=1),
                END,
            )
        ),
    ),
    max_size=25,
)


def _average(total: int, count: int) -> int:
    return (total + count // 2) // count if count else 0


def _model(bought: list[Bought]) -> dict[str, object]:
    inside = [b for b in bought if START <= b.at < END]
    channels: dict[int, set[Channel]] = defaultdict(set)
    spend: dict[tuple[int, str], int] = defaultdict(int)
    places: dict[tuple[str, str], list[Bought]] = defaultdict(list)
    for b in inside:
        channels[b.member].add(b.channel)
        spend[(b.member, b.currency)] += b.amount
        places[(b.channel.value, b.store)].append(b)
    multi = {m for m, used in channels.items() if len(used) > 1}
    by_currency = {}
    for currency in sorted({c for _, c in spend}):
        rows = [(m, amount) for (m, c), amount in spend.items() if c == currency]
        singles = [a for m, a in rows if m not in multi]
        multis = [a for m, a in rows if m in multi]
        by_currency[currency] = (
            len(singles),
            _average(sum(singles), len(singles)),
            len(multis),
            _average(sum(multis), len(multis)),
        )
    return {
        "active": len(channels),
        "multi": len(multi),
        "purchases": len(inside),
        "spend": by_currency,
        "places": {
            key: (len(rows), len({b.member for b in rows}), sorted(_revenue(rows).items()))
            for key, rows in places.items()
        },
    }


def _revenue(rows: list[Bought]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for b in rows:
        totals[b.currency] += b.amount
    return totals


async def _figures(url: str, bought: list[Bought]) -> dict[str, object]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("delete from purchases"))
            for index, b in enumerate(bought):
                await conn.execute(
                    text(
                        "insert into purchases (member_id, purchase_id, channel, store_id, order_id, "
                        "amount_minor, currency, points, lines, applied_rules, credential_id, occurred_at) "
                        "values (:m, :p, :c, :s, :p, :a, :cur, 0, '[]', '[]', 'test', :at)"
                    ),
                    {
                        "m": f"mem_model{b.member}",
                        "p": f"pur_model{index}",
                        "c": b.channel.value,
                        "s": b.store,
                        "a": b.amount,
                        "cur": b.currency,
                        "at": b.at,
                    },
                )
        async with engine.connect() as conn:
            stats = await program_stats(conn, occurred_from=START, occurred_to=END)
    finally:
        await engine.dispose()
    return {
        "active": stats.members_active,
        "multi": stats.multi_channel_members,
        "purchases": stats.purchases,
        "spend": {
            s.currency: (
                s.single_channel_members,
                s.single_channel_average_spend_minor,
                s.multi_channel_members,
                s.multi_channel_average_spend_minor,
            )
            for s in stats.spend
        },
        "places": {
            (Channel(_CHANNEL_NAMES[p.channel]).value, p.store_id): (
                p.purchases,
                p.members_active,
                sorted((m.currency, m.amount_minor) for m in p.revenue),
            )
            for p in stats.by_channel_store
            if p.purchases
        },
    }


_CHANNEL_NAMES = {1: "pos", 2: "webshop", 3: "app"}


async def test_purchase_figures_match_the_model(test_db: TestDatabase) -> None:
    """Goal: active, multi-channel, spend and per-place figures are exact for any purchases and range."""
    url = await test_db.new_database()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(bought=purchases_strategy)
    def check(bought: list[Bought]) -> None:
        assert asyncio.run(_figures(url, bought)) == _model(bought)

    await asyncio.to_thread(check)
