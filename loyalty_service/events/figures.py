"""Programme figures over a time range, straight from the ledger, the purchases and the members.

No rollup table: every figure is an indexed range scan (`occurred_at` / `created_at` indexes of
migration 0005) run in one REPEATABLE READ snapshot, so the figures agree with each other and are
correct to the entry, with nothing extra on the write path (docs/decisions/0005-live-events.md has the
measurements). The liability as of `occurred_to` is today's balances minus what happened since, which
reads only the recent entries.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from loyalty.v1 import common_pb2, stats_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.common_messages import CHANNEL_TO_PROTO
from loyalty_service.kernel.channel import Channel
from loyalty_service.proto_time import to_timestamp

__all__ = ["program_stats"]

_ISSUED = frozenset({"earn", "bonus", "game_win", "passport_reward", "challenge_reward", "draw_win"})
_SPENT = frozenset({"spend", "spend_cancel", "redeem", "redeem_cancel", "game_play", "draw_entry"})
_RANGE = "occurred_at >= :f and occurred_at < :t"

_ENTRIES = f"""
select channel, store_id, entry_type,
       coalesce(sum(points) filter (where points > 0), 0), coalesce(sum(points) filter (where points < 0), 0)
from ledger_entries where {_RANGE} group by 1, 2, 3"""
_PURCHASES = f"""
select channel, store_id, currency, count(*), sum(amount_minor)
from purchases where {_RANGE} group by 1, 2, 3"""
# Distinct members are counted by grouping twice (hash aggregates), never with count(distinct) over the
# range's purchases, which sorts them all: 2.7x faster on a million entries (docs/performance.md).
_ACTIVE_BY_PLACE = f"""
select channel, store_id, count(*)
from (select channel, store_id, member_id from purchases where {_RANGE} group by 1, 2, 3) p group by 1, 2"""
_CHANNEL_BIT = " ".join(f"when '{c.value}' then {1 << i}" for i, c in enumerate(Channel))
# Per member and currency: spend and the channels used as a bit mask; per member: one or several channels.
# The second part gives the member totals (a member paying in two currencies counts once), with no
# count(distinct), whose sort of text member ids cost more than everything else here.
_SPEND = f"""
with pm as (
  select member_id, currency, sum(amount_minor) as amount,
         bit_or(case channel {_CHANNEL_BIT} else {1 << 30} end) as mask
  from purchases where {_RANGE} group by 1, 2),
m as (select member_id, bit_count(bit_or(mask)::bit(32)) > 1 as multi from pm group by 1)
select pm.currency, m.multi, count(*), sum(pm.amount) from pm join m using (member_id) group by 1, 2
union all
select null, multi, count(*), 0 from m group by 2"""
_ENROLLED = (
    "select count(*) from members where created_at >= :f and created_at < :t and status <> 'provisional'"
)
_OUTSTANDING = """
select (select coalesce(sum(available + pending), 0) from accounts)
     - (select coalesce(sum(points), 0) from ledger_entries where occurred_at >= :t)"""

_Key = tuple[str, str]


def _place(
    figures: dict[_Key, stats_pb2.ChannelStoreStats], channel: str, store_id: str
) -> stats_pb2.ChannelStoreStats:
    key = (channel, store_id)
    if key not in figures:
        figures[key] = stats_pb2.ChannelStoreStats(
            channel=CHANNEL_TO_PROTO.get(channel, common_pb2.CHANNEL_UNSPECIFIED), store_id=store_id
        )
    return figures[key]


def _add_entry(place: stats_pb2.ChannelStoreStats, entry_type: str, credits: int, debits: int) -> None:
    if entry_type in _ISSUED:
        place.points_issued += credits
    elif entry_type in _SPENT:
        place.points_spent -= credits + debits
    elif entry_type == "expire":
        place.points_expired -= debits
    elif entry_type == "refund_reversal":
        place.points_reversed -= debits
    elif entry_type == "adjust":
        place.points_issued += credits
        place.points_reversed -= debits
    # merges move points between members: neither issued nor spent.


def _average(total: int, count: int) -> int:
    return (total + count // 2) // count if count else 0


async def program_stats(
    conn: AsyncConnection, *, occurred_from: datetime, occurred_to: datetime
) -> stats_pb2.ProgramStats:
    """The figures of [occurred_from, occurred_to). Call on a fresh connection (sets the isolation)."""
    await conn.execution_options(isolation_level="REPEATABLE READ")
    # The member-level hash aggregates of a long range need more than the default 4 MB to stay in memory.
    await conn.execute(text("set local work_mem = '64MB'"))
    span = {"f": occurred_from, "t": occurred_to}
    stats = stats_pb2.ProgramStats(
        occurred_from=to_timestamp(occurred_from), occurred_to=to_timestamp(occurred_to)
    )
    places: dict[_Key, stats_pb2.ChannelStoreStats] = {}
    for channel, store_id, entry_type, credits, debits in await conn.execute(text(_ENTRIES), span):
        _add_entry(_place(places, channel, store_id), entry_type, int(credits), int(debits))
    revenue: dict[str, int] = defaultdict(int)
    for channel, store_id, currency, count, amount in await conn.execute(text(_PURCHASES), span):
        place = _place(places, channel, store_id)
        place.purchases += int(count)
        place.revenue.add(amount_minor=int(amount), currency=currency)
        revenue[currency] += int(amount)
    for channel, store_id, active in await conn.execute(text(_ACTIVE_BY_PLACE), span):
        _place(places, channel, store_id).members_active = int(active)
    by_currency: dict[str, dict[bool, tuple[int, int]]] = defaultdict(dict)
    for currency, multi, members, amount in await conn.execute(text(_SPEND), span):
        if currency is None:  # the member totals, whatever their currencies
            stats.members_active += int(members)
            stats.multi_channel_members += int(members) if multi else 0
        else:
            by_currency[currency][bool(multi)] = (int(members), int(amount))
    stats.multi_channel_share = (
        stats.multi_channel_members / stats.members_active if stats.members_active else 0.0
    )
    for currency in sorted(by_currency):
        single_members, single_amount = by_currency[currency].get(False, (0, 0))
        multi_members, multi_amount = by_currency[currency].get(True, (0, 0))
        stats.spend.add(
            currency=currency,
            single_channel_members=single_members,
            single_channel_average_spend_minor=_average(single_amount, single_members),
            multi_channel_members=multi_members,
            multi_channel_average_spend_minor=_average(multi_amount, multi_members),
        )
    stats.members_enrolled = int((await conn.execute(text(_ENROLLED), span)).scalar_one())
    stats.points_outstanding = int((await conn.execute(text(_OUTSTANDING), span)).scalar_one())
    for key in sorted(places):
        place = places[key]
        stats.points_issued += place.points_issued
        stats.points_spent += place.points_spent
        stats.points_expired += place.points_expired
        stats.points_reversed += place.points_reversed
        stats.purchases += place.purchases
        stats.by_channel_store.append(place)
    stats.revenue.extend(common_pb2.Money(amount_minor=revenue[c], currency=c) for c in sorted(revenue))
    return stats
