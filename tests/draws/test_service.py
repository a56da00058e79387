"""A draw's life through the gRPC API on one server with a clock we move: create (commitment), enter from
four sources, close (frozen list, digest), run (once), result, export, verification, prizes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from loyalty.v1 import common_pb2, draws_pb2, draws_pb2_grpc, ledger_pb2, rewards_pb2
from loyalty_clients import verify_draw
from sqlalchemy import text

from loyalty_service.draws import api as draws_api
from loyalty_service.proto_time import to_timestamp
from tests.support.api import Running, _Authed, new_key
from tests.support.processes import TEST_SIGNING_KEY

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _stub(running: Running, secret: str) -> Any:
    return _Authed(draws_pb2_grpc.DrawServiceStub(running.channel), (("authorization", f"Bearer {secret}"),))


async def _reward(running: Running) -> str:
    back = await running.client("backoffice")
    answer = await back.program.CreateReward(
        rewards_pb2.CreateRewardRequest(
            idempotency_key=new_key(),
            reward=rewards_pb2.RewardDefinition(
                name="10 EUR off",
                points_cost=1000,
                channels=[common_pb2.CHANNEL_POS, common_pb2.CHANNEL_WEBSHOP],
                unlimited_stock=True,
                voucher_valid_days=30,
                value=rewards_pb2.VoucherValue(
                    amount_off=common_pb2.Money(amount_minor=1000, currency="EUR")
                ),
            ),
        )
    )
    return str(answer.reward.reward_id)


def _spec(running: Running, reward_id: str) -> draws_pb2.DrawSpec:
    assert running.clock is not None
    now = running.clock.now()
    return draws_pb2.DrawSpec(
        name="Summer draw",
        opens_at=to_timestamp(now + timedelta(minutes=1)),
        closes_at=to_timestamp(now + timedelta(hours=1)),
        prizes=[
            draws_pb2.DrawPrize(
                prize_id="voucher-10", name="10 EUR voucher", quantity=1, reward_id=reward_id
            ),
            draws_pb2.DrawPrize(prize_id="points-500", name="500 points", quantity=2, points=500),
        ],
        sources=draws_pb2.DrawEntrySources(
            direct=draws_pb2.DirectEntrySource(enabled=True, cost_points=10, max_entries_per_member=3),
            entries_per_passport=2,
            spend=draws_pb2.SpendEntrySource(
                channel=common_pb2.CHANNEL_WEBSHOP, currency="EUR", spend_step_minor=1000, entries_per_step=1
            ),
        ),
    )


async def _points(running: Running, member_id: str, points: int) -> None:
    back = await running.client("backoffice")
    await back.ledger.AdjustPoints(
        ledger_pb2.AdjustPointsRequest(
            idempotency_key=new_key(), member_id=member_id, points=points, reason="t"
        )
    )


async def _purchase(running: Running, member_id: str, amount_minor: int) -> None:
    web = await running.client("webshop")
    await web.ledger.RecordPurchase(
        ledger_pb2.RecordPurchaseRequest(
            idempotency_key=new_key(),
            member=common_pb2.MemberRef(member_id=member_id),
            channel=common_pb2.CHANNEL_WEBSHOP,
            order_id="o-" + new_key(),
            amount=common_pb2.Money(amount_minor=amount_minor, currency="EUR"),
            occurred_at=to_timestamp(running.service.runtime.now()),
        )
    )


async def _grant(running: Running, draw_id: str, member_id: str, ref: str) -> list[str]:
    async with running.engine.begin() as conn:
        return await draws_api.grant_entries(
            conn,
            draw_id=draw_id,
            member_id=member_id,
            count=1,
            source_type="passport",
            source_ref=ref,
            now=running.service.runtime.now(),
        )


async def _code(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value.code()


async def test_a_draw_from_creation_to_verified_result(isolated_service: Running, tmp_path: Path) -> None:
    """Goal: the whole story of issue 10 on one server: commitment from creation, entries from four
    sources, late entries refused, digest at the close, one result however often RunDraw is called, an
    export that verifies, prizes granted once, and a member who can see their own outcome."""
    running, clock = isolated_service, isolated_service.clock
    assert clock is not None
    office = _stub(running, await running.key("backoffice"))
    app_key = await running.key("app_backend")
    back = await running.client("backoffice")
    reward_id = await _reward(running)
    created = await back.program.CreateDraw(
        draws_pb2.CreateDrawRequest(idempotency_key=new_key(), spec=_spec(running, reward_id))
    )
    draw = created.draw
    draw_id = draw.draw_id
    assert draw.status == draws_pb2.DRAW_STATUS_SCHEDULED
    assert len(draw.commitment) == 64
    assert draw.entries_digest == ""

    members = [(await running.enroll()).member_id for _ in range(4)]
    direct, paying, granted, buyer = members
    me = _stub(running, (await running.member_client(direct)).secret or "")
    enter = draws_pb2.EnterDrawRequest(idempotency_key=new_key(), draw_id=draw_id, entries=1)
    assert await _code(me.EnterDraw(enter)) is grpc.StatusCode.FAILED_PRECONDITION  # not open yet

    clock.advance(timedelta(minutes=2))
    await _points(running, direct, 100)
    await _points(running, paying, 100)
    first = await me.EnterDraw(
        draws_pb2.EnterDrawRequest(idempotency_key="k-same", draw_id=draw_id, entries=2)
    )
    again = await me.EnterDraw(
        draws_pb2.EnterDrawRequest(idempotency_key="k-same", draw_id=draw_id, entries=2)
    )
    assert list(again.entry_ids) == list(first.entry_ids)
    assert first.points_spent == 20
    too_many = draws_pb2.EnterDrawRequest(idempotency_key=new_key(), draw_id=draw_id, entries=2)
    assert await _code(me.EnterDraw(too_many)) is grpc.StatusCode.FAILED_PRECONDITION  # max 3 per member
    app = _stub(running, app_key)
    await app.EnterDraw(
        draws_pb2.EnterDrawRequest(idempotency_key=new_key(), draw_id=draw_id, member_id=paying)
    )
    passport = await _grant(running, draw_id, granted, "passport-completion-1")
    assert len(passport) == 2
    assert await _grant(running, draw_id, granted, "passport-completion-1") == passport
    await _purchase(running, buyer, 2_500)  # 2 entries (1 per 10 EUR)
    await _purchase(running, buyer, 600)  # 31 EUR in all: a 3rd entry
    seen = await me.GetDraw(draws_pb2.GetDrawRequest(draw_id=draw_id))
    assert seen.my_entry_count == 2
    assert seen.draw.commitment == draw.commitment
    assert seen.draw.status == draws_pb2.DRAW_STATUS_OPEN

    clock.advance(timedelta(hours=1))
    me = _stub(running, (await running.member_client(direct)).secret or "")  # tokens are short-lived
    late = draws_pb2.EnterDrawRequest(idempotency_key=new_key(), draw_id=draw_id)
    assert await _code(me.EnterDraw(late)) is grpc.StatusCode.FAILED_PRECONDITION
    await _purchase(running, buyer, 5_000)  # accepted, but no more entries
    closed = (await office.GetDraw(draws_pb2.GetDrawRequest(draw_id=draw_id))).draw
    assert closed.status == draws_pb2.DRAW_STATUS_CLOSED
    assert closed.entry_count == 2 + 1 + 2 + 3
    assert len(closed.entries_digest) == 64
    with pytest.raises(Exception, match="closed"):
        await _grant(running, draw_id, granted, "passport-completion-2")
    not_run = draws_pb2.GetDrawResultRequest(draw_id=draw_id)
    assert await _code(office.GetDrawResult(not_run)) is grpc.StatusCode.FAILED_PRECONDITION

    run = await office.RunDraw(draws_pb2.RunDrawRequest(idempotency_key=new_key(), draw_id=draw_id))
    rerun = await office.RunDraw(draws_pb2.RunDrawRequest(idempotency_key=new_key(), draw_id=draw_id))
    assert rerun.result == run.result
    assert run.result.commitment == draw.commitment
    assert run.result.entries_digest == closed.entries_digest
    assert len(run.result.winners) == 3  # four members, three slots
    mine = await me.GetDrawResult(draws_pb2.GetDrawResultRequest(draw_id=draw_id))
    assert mine.my_outcome.entry_count == 2
    assert mine.my_outcome.won == any(w.member_ref == mine.my_outcome.member_ref for w in run.result.winners)
    public = await office.GetDrawResult(draws_pb2.GetDrawResultRequest(draw_id=draw_id, include_entries=True))
    assert not public.HasField("my_outcome")
    assert len(public.result.entries) == closed.entry_count

    async with running.engine.connect() as conn:
        exported = await draws_api.export_result(conn, draw_id)
        wins = (
            await conn.execute(
                text(
                    "select count(*) from ledger_entries where entry_type = 'draw_win' and source_ref like :d"
                ),
                {"d": f"{draw_id}:%"},
            )
        ).scalar_one()
        vouchers = (
            await conn.execute(
                text("select count(*) from vouchers where source_type = 'draw' and source_ref like :d"),
                {"d": f"{draw_id}:%"},
            )
        ).scalar_one()
        paid = (
            await conn.execute(
                text(
                    "select count(*) from ledger_entries where entry_type = 'draw_entry' and member_id = :m"
                ),
                {"m": direct},
            )
        ).scalar_one()
    assert list(exported) == list(verify_draw.EXPORT_KEYS)
    assert verify_draw.verify(exported) == []
    assert (wins, vouchers, paid) == (2, 1, 1)
    assert [w["entry_id"] for w in exported["winners"]] == [w.entry_id for w in run.result.winners]  # type: ignore[attr-defined]
    _export_with_the_cli(running.url, draw_id, tmp_path)


def _export_with_the_cli(url: str, draw_id: str, tmp_path: Path) -> None:
    """`loyalty-service draws export` writes the JSON that `python -m loyalty_clients.verify_draw` accepts."""
    import os

    env = {
        **os.environ,
        "LOYALTY_DATABASE_URL": url,
        "LOYALTY_TOKEN_SIGNING_KEY": TEST_SIGNING_KEY,
        "LOYALTY_DATA_DIR": str(tmp_path / "cli"),
    }
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, "-m", "loyalty_service", "draws", "export", draw_id, "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert set(json.loads(out.read_text())) == set(verify_draw.EXPORT_KEYS)
    checked = subprocess.run(
        [sys.executable, "-m", "loyalty_clients.verify_draw", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("OK")
