"""Status tiers through gRPC: upgrade on a purchase, the multiplier, reserved rewards, a refund undoing
the upgrade, the period-end review, and bad input (a programme of its own with a clock we move)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from loyalty.v1 import common_pb2, ledger_pb2, live_pb2, live_pb2_grpc, members_pb2, rewards_pb2, tiers_pb2
from sqlalchemy import text

from loyalty_service.ledger.check import check_ledger
from loyalty_service.proto_time import to_timestamp
from loyalty_service.tiers.review import run_once as review
from tests.foundation.helpers import cli_json, service_env
from tests.ledger.conftest import Programme, make_programme, member_ref, reason, violations
from tests.rewards.conftest import give_points, make_reward, rewards_stub
from tests.support.api import Running, _Authed, new_key


def ladder_spec(*, reserved: tuple[str, ...] = (), window: str = "calendar") -> tiers_pb2.TierLadderSpec:
    kind = (
        tiers_pb2.TIER_WINDOW_KIND_CALENDAR_YEAR
        if window == "calendar"
        else tiers_pb2.TIER_WINDOW_KIND_ROLLING_MONTHS
    )
    return tiers_pb2.TierLadderSpec(
        basis=tiers_pb2.TIER_BASIS_QUALIFYING_POINTS,
        window_kind=kind,
        window_months=0 if window == "calendar" else 12,
        tiers=[
            tiers_pb2.TierSpec(tier_id="member", name="Member", threshold=0),
            tiers_pb2.TierSpec(
                tier_id="silver", name="Silver", threshold=100, multiplier="1.5", reserved_reward_ids=reserved
            ),
            tiers_pb2.TierSpec(tier_id="gold", name="Gold", threshold=1000, multiplier="2"),
        ],
    )


async def set_ladder(
    programme: Programme, spec: tiers_pb2.TierLadderSpec, **fields: Any
) -> tiers_pb2.TierLadder:
    answer = await programme.back.program.SetTierLadder(
        tiers_pb2.SetTierLadderRequest(idempotency_key=new_key(), spec=spec, **fields)
    )
    return answer.ladder  # type: ignore[no-any-return]


async def tier_of(programme: Programme, member_id: str) -> tiers_pb2.TierStatus:
    answer = await programme.back.members.GetMember(members_pb2.GetMemberRequest(member_id=member_id))
    assert answer.HasField("tier")
    return answer.tier  # type: ignore[no-any-return]


async def tier_events(running: Running, member_id: str, count: int) -> list[Any]:
    """The first `count` tier_changed events of the member, read from WatchMember (from sequence 1)."""
    token = (await running.member_client(member_id)).secret
    live = _Authed(live_pb2_grpc.LiveServiceStub(running.channel), (("authorization", f"Bearer {token}"),))
    call = live.WatchMember(live_pb2.WatchMemberRequest(member_id=member_id, from_sequence=1), timeout=30)
    found: list[Any] = []
    try:
        while len(found) < count:
            message: Any = await call.read()
            assert message is not grpc.aio.EOF
            if message.WhichOneof("item") == "event" and message.event.type == "tier_changed":
                found.append(message.event.payload.tier_changed)
    finally:
        call.cancel()
    return found


async def refund(programme: Programme, order_id: str, amount_minor: int, at: datetime) -> None:
    await programme.till.ledger.RecordRefund(
        ledger_pb2.RecordRefundRequest(
            idempotency_key=new_key(),
            channel=common_pb2.CHANNEL_POS,
            store_id=programme.store_id,
            order_id=order_id,
            amount=common_pb2.Money(amount_minor=amount_minor, currency=programme.currency),
            occurred_at=to_timestamp(at),
        )
    )


async def test_upgrade_multiplier_reserved_reward_and_refund_undo(isolated_service: Running) -> None:
    """Goal: a purchase crossing Silver upgrades at once (event, GetMember with progress); the next
    purchase earns with the Silver multiplier (rule "tier"); a Silver reward is refused to a Member and
    granted to Silver; refunding the crossing purchase undoes the upgrade."""
    running, programme = isolated_service, await make_programme(isolated_service)
    clock = running.clock
    assert clock is not None
    reward = await make_reward(running, points_cost=10)
    ladder = await set_ladder(programme, ladder_spec(reserved=(reward.reward_id,)))
    assert ladder.version == 1
    member_id = await programme.member()
    rewards = rewards_stub(running.channel, programme.till)

    before = await tier_of(programme, member_id)
    assert (before.tier_id, before.next_tier_id, before.remaining) == ("member", "silver", 100)
    assert not before.HasField("held_until")
    await give_points(programme.back, member_id, 50)
    offers = (await rewards.ListRewards(rewards_pb2.ListRewardsRequest(member=member_ref(member_id)))).offers
    offer = next(o for o in offers if o.reward.reward_id == reward.reward_id)
    assert (offer.required_tier_id, offer.redeemable, offer.affordable) == ("silver", False, True)
    redeem = rewards_pb2.RedeemRewardRequest(
        member=member_ref(member_id),
        reward_id=reward.reward_id,
        channel=common_pb2.CHANNEL_POS,
        store_id=programme.store_id,
    )
    redeem.idempotency_key = new_key()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rewards.RedeemReward(redeem)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(refused.value) == "TIER_REQUIRED"

    crossing = "o-" + new_key()
    bought = await programme.buy(member_id, 12_000, order_id=crossing, occurred_at=clock.now())
    assert bought.points == 120
    assert [a.rule_id for a in bought.applied_rules if a.rule_id == "tier"] == []
    (upgrade,) = await tier_events(running, member_id, 1)
    assert (upgrade.from_tier_id, upgrade.to_tier_id) == ("member", "silver")
    assert upgrade.reason == tiers_pb2.TIER_CHANGE_REASON_UPGRADE
    assert (upgrade.purchase_id, upgrade.qualifying_value) == (bought.purchase_id, 120)
    silver = await tier_of(programme, member_id)
    year = clock.now().year
    assert (silver.tier_id, silver.tier_name, silver.multiplier) == ("silver", "Silver", "1.5")
    assert (silver.qualifying_value, silver.next_tier_id, silver.next_threshold, silver.remaining) == (
        120,
        "gold",
        1000,
        880,
    )
    assert silver.held_until.ToDatetime(tzinfo=UTC) == datetime(year + 2, 1, 1, tzinfo=UTC)

    next_buy = await programme.buy(member_id, 1_000, occurred_at=clock.now())
    assert next_buy.points == 15
    assert [(a.rule_id, a.points) for a in next_buy.applied_rules if a.rule_id == "tier"] == [("tier", 5)]
    offers = (await rewards.ListRewards(rewards_pb2.ListRewardsRequest(member=member_ref(member_id)))).offers
    assert next(o for o in offers if o.reward.reward_id == reward.reward_id).redeemable
    redeem.idempotency_key = new_key()
    assert (await rewards.RedeemReward(redeem)).voucher.reward_id == reward.reward_id

    clock.advance(timedelta(hours=1))
    await refund(programme, crossing, 12_000, clock.now())
    (_, undone) = await tier_events(running, member_id, 2)
    assert (undone.from_tier_id, undone.to_tier_id) == ("silver", "member")
    assert undone.reason == tiers_pb2.TIER_CHANGE_REASON_REFUND
    back_to_member = await tier_of(programme, member_id)
    assert (back_to_member.tier_id, back_to_member.qualifying_value, back_to_member.remaining) == (
        "member",
        10,
        90,
    )
    async with running.engine.connect() as conn:
        assert await check_ledger(conn) == []


async def test_a_partial_refund_that_still_qualifies_keeps_the_tier(isolated_service: Running) -> None:
    """Goal: only a refund that takes the value under the threshold undoes the upgrade; `check` holds, and
    names a member whose status disagrees with its history."""
    running, programme = isolated_service, await make_programme(isolated_service)
    clock = running.clock
    assert clock is not None
    await set_ladder(programme, ladder_spec())
    member_id = await programme.member()
    order = "o-" + new_key()
    await programme.buy(member_id, 15_000, order_id=order, occurred_at=clock.now())
    await refund(programme, order, 4_000, clock.now())
    status = await tier_of(programme, member_id)
    assert (status.tier_id, status.qualifying_value) == ("silver", 110)
    async with running.engine.begin() as conn:
        assert await check_ledger(conn) == []
        await conn.execute(
            text("UPDATE tier_status SET tier_id = 'gold' WHERE member_id = :m"), {"m": member_id}
        )
        problems = await check_ledger(conn)
        await conn.rollback()
    assert problems == [
        f"member {member_id}: tier status (gold, change 1) disagrees with its latest tier change"
        " (silver, change 1)"
    ]


async def test_period_end_review_downgrades_who_did_not_requalify(isolated_service: Running) -> None:
    """Goal: a tier earned in year Y is held through Y+1; the review at 1 January Y+2 downgrades the member
    who earned nothing in Y+1 and keeps the one who requalified; a second run changes nothing."""
    running, programme = isolated_service, await make_programme(isolated_service)
    clock = running.clock
    assert clock is not None
    await set_ladder(programme, ladder_spec())
    lapsed, loyal = await programme.member(), await programme.member()
    await programme.buy(lapsed, 20_000, occurred_at=clock.now())
    await programme.buy(loyal, 20_000, occurred_at=clock.now())
    year = clock.now().year
    assert await review(running.engine, clock.now()) == (0, 0)

    clock.advance(datetime(year + 1, 3, 1, tzinfo=UTC) - clock.now())
    await programme.buy(loyal, 10_000, occurred_at=clock.now())  # 100 points: Silver again in Y+1
    assert (await tier_of(programme, loyal)).held_until.ToDatetime(tzinfo=UTC) == datetime(
        year + 3, 1, 1, tzinfo=UTC
    )
    clock.advance(datetime(year + 2, 1, 1, 6, tzinfo=UTC) - clock.now())
    shown = await tier_of(programme, lapsed)  # GetMember already shows the review's outcome
    assert shown.tier_id == "member"
    assert await review(running.engine, clock.now()) == (1, 1)
    assert await review(running.engine, clock.now()) == (0, 0)
    (_, downgrade) = await tier_events(running, lapsed, 2)
    assert (downgrade.from_tier_id, downgrade.to_tier_id, downgrade.qualifying_value) == (
        "silver",
        "member",
        0,
    )
    assert downgrade.reason == tiers_pb2.TIER_CHANGE_REASON_REVIEW_DOWNGRADE
    assert downgrade.effective_at.ToDatetime(tzinfo=UTC) == datetime(year + 2, 1, 1, tzinfo=UTC)
    assert (await tier_of(programme, loyal)).tier_id == "silver"
    purchase = await programme.buy(lapsed, 1_000, occurred_at=clock.now())
    assert [a.rule_id for a in purchase.applied_rules] == [
        a.rule_id for a in purchase.applied_rules if a.rule_id != "tier"
    ]


async def test_an_offline_purchase_earns_with_the_tier_held_when_it_happened(
    isolated_service: Running,
) -> None:
    """Goal: the multiplier is the tier's as of occurred_at: a sale made while Silver, uploaded after the
    downgrade, still earns x1.5; one made before the upgrade earns x1."""
    running, programme = isolated_service, await make_programme(isolated_service)
    clock = running.clock
    assert clock is not None
    await set_ladder(programme, ladder_spec(window="rolling"))
    member_id = await programme.member()
    before_upgrade = clock.now()
    clock.advance(timedelta(minutes=10))
    await programme.buy(member_id, 10_000, occurred_at=clock.now())
    clock.advance(timedelta(minutes=10))
    while_silver = clock.now()
    clock.advance(timedelta(days=2))
    early = await programme.buy(member_id, 1_000, occurred_at=before_upgrade)
    late = await programme.buy(member_id, 1_000, occurred_at=while_silver)
    assert (early.points, late.points) == (10, 15)


async def test_ladder_versions_bad_input_and_access(isolated_service: Running) -> None:
    """Goal: invalid ladders are refused with field violations and change nothing; versions append;
    a version dropping a tier or going back in time is refused; GetTierLadder as_of; only the back office."""
    running, programme = isolated_service, await make_programme(isolated_service)
    clock = running.clock
    assert clock is not None
    program = programme.back.program
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await program.GetTierLadder(tiers_pb2.GetTierLadderRequest())
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    bad = ladder_spec()
    bad.basis = tiers_pb2.TIER_BASIS_QUALIFYING_SPEND
    bad.window_kind = tiers_pb2.TIER_WINDOW_KIND_ROLLING_MONTHS
    bad.window_months = 40
    bad.tiers[0].threshold = 5
    bad.tiers[1].tier_id = "Silver!"
    bad.tiers[2].threshold = 50
    bad.tiers[2].multiplier = "x2"
    bad.tiers[1].multiplier = "0.5"
    bad.tiers[2].reserved_reward_ids.append("nope")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await program.SetTierLadder(tiers_pb2.SetTierLadderRequest(idempotency_key=new_key(), spec=bad))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(refused.value)) >= {
        "spec.currency",
        "spec.window_months",
        "spec.tiers[0].threshold",
        "spec.tiers[1].tier_id",
        "spec.tiers[2].threshold",
        "spec.tiers[2].multiplier",
        "spec.tiers[1].multiplier",
        "spec.tiers[2].reserved_reward_ids[0]",
    }
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await program.SetTierLadder(tiers_pb2.SetTierLadderRequest(idempotency_key=new_key()))
    assert {"spec", "spec.basis", "spec.window_kind", "spec.tiers"} <= set(violations(empty.value))
    assert (await program.ListTierLadders(tiers_pb2.ListTierLaddersRequest())).ladders == []

    first = await set_ladder(programme, ladder_spec())
    changed = ladder_spec()
    changed.tiers[1].multiplier = "1.25"
    later = clock.now() + timedelta(days=30)
    second = await set_ladder(programme, changed, effective_from=to_timestamp(later))
    assert (first.version, second.version) == (1, 2)
    now_ladder = (await program.GetTierLadder(tiers_pb2.GetTierLadderRequest())).ladder
    then = (await program.GetTierLadder(tiers_pb2.GetTierLadderRequest(as_of=to_timestamp(later)))).ladder
    assert (now_ladder.version, then.version, then.spec.tiers[1].multiplier) == (1, 2, "1.25")
    dropped = ladder_spec()
    del dropped.tiers[2]
    for spec, at, expected in (
        (dropped, later + timedelta(days=1), "TIER_REMOVED"),
        (ladder_spec(), later - timedelta(days=1), "EFFECTIVE_FROM_NOT_AFTER_LATEST"),
        (ladder_spec(), clock.now() - timedelta(days=1), "EFFECTIVE_FROM_IN_PAST"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await set_ladder(programme, spec, effective_from=to_timestamp(at))
        assert failed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason(failed.value) == expected
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await set_ladder(programme, ladder_spec(reserved=("rwd_019ACDE0000000000000000000",)))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert len((await program.ListTierLadders(tiers_pb2.ListTierLaddersRequest())).ladders) == 2
    async with running.engine.connect() as conn:
        actions = (
            await conn.execute(text("SELECT action FROM audit_events WHERE action = 'tier_ladder.set'"))
        ).all()
    assert len(actions) == 2
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await programme.till.program.ListTierLadders(tiers_pb2.ListTierLaddersRequest())
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_the_tiers_review_command_runs_the_due_reviews(isolated_service: Running) -> None:
    """Goal: `loyalty-service tiers review` downgrades a member whose hold ended (here set in the past, as
    if the server had been down over a period end) and prints what it did; a second run does nothing."""
    running, programme = isolated_service, await make_programme(isolated_service)
    clock = running.clock
    assert clock is not None
    await set_ladder(programme, ladder_spec(), effective_from=to_timestamp(datetime(2020, 1, 1, tzinfo=UTC)))
    member_id = await programme.member()
    await programme.buy(member_id, 20_000, occurred_at=clock.now())
    async with running.engine.begin() as conn:
        await conn.execute(
            text("UPDATE tier_status SET held_until = :at WHERE member_id = :m"),
            {"at": datetime(2021, 1, 1, tzinfo=UTC), "m": member_id},
        )
    env = service_env(running.url)
    first = await asyncio.to_thread(cli_json, "tiers", "review", env=env)
    assert first == [{"members_reviewed": 1, "tier_changes": 1}]
    assert await asyncio.to_thread(cli_json, "tiers", "review", env=env) == [
        {"members_reviewed": 0, "tier_changes": 0}
    ]
    (_, downgrade) = await tier_events(running, member_id, 2)
    assert downgrade.reason == tiers_pb2.TIER_CHANGE_REASON_REVIEW_DOWNGRADE
    assert (await tier_of(programme, member_id)).tier_id == "member"


async def test_concurrent_purchases_crossing_a_threshold_upgrade_once(isolated_service: Running) -> None:
    """Goal: purchases racing on one member are serialised by its ledger lock: one upgrade, one event."""
    running, programme = isolated_service, await make_programme(isolated_service)
    clock = running.clock
    assert clock is not None
    await set_ladder(programme, ladder_spec())
    member_id = await programme.member()
    await asyncio.gather(*(programme.buy(member_id, 3_000, occurred_at=clock.now()) for _ in range(6)))
    assert (await tier_of(programme, member_id)).qualifying_value == 180
    async with running.engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT tier_id, reason FROM tier_history WHERE member_id = :m ORDER BY seq"),
                {"m": member_id},
            )
        ).all()
        assert await check_ledger(conn) == []
    assert [tuple(r) for r in rows] == [("silver", "upgrade")]


async def test_a_new_ladder_version_changes_the_future_only(isolated_service: Running) -> None:
    """Goal: a version effective tomorrow gives Silver x1.25 from then on; a sale made before it (uploaded
    late) still earns by the version in force when it happened (x1.5), and the member keeps Silver."""
    running, programme = isolated_service, await make_programme(isolated_service)
    clock = running.clock
    assert clock is not None
    await set_ladder(programme, ladder_spec())
    member_id = await programme.member()
    await programme.buy(member_id, 10_000, occurred_at=clock.now())
    before_change = clock.now() + timedelta(hours=1)
    changed = ladder_spec()
    changed.tiers[1].multiplier = "1.25"
    await set_ladder(programme, changed, effective_from=to_timestamp(clock.now() + timedelta(days=1)))
    clock.advance(timedelta(days=2))
    now_sale = await programme.buy(member_id, 2_000, occurred_at=clock.now())
    late_sale = await programme.buy(member_id, 2_000, occurred_at=before_change)
    assert (now_sale.points, late_sale.points) == (25, 30)
    status = await tier_of(programme, member_id)
    assert (status.tier_id, status.multiplier) == ("silver", "1.25")
