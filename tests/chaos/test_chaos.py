"""Crash test: three replicas on one PostgreSQL, a retrying load, kill -9 of replicas, an immediate restart
of PostgreSQL; then every acknowledged write is in the ledger exactly once and the history checks out.

The load: purchases and spends (web shop key), redemptions of a reward with a small stock (member token
or web shop key), plays of a free game with a stock-limited points prize (member token) and a till's
offline uploads (SyncOfflinePurchases with a POS key of a store: up to 60 purchases each, written in
chunk transactions). Afterwards no reward or prize went beyond its stock, each acknowledged redemption has
one voucher and one REDEEM entry, each acknowledged play one play row, each purchase (an upload's items
included) is there whole once or not at all, and `loyalty-service check` passes.

Bounded (about a minute), loopback only, on a PostgreSQL of its own. `LOYALTY_CHAOS_SEED=<n>` replays a
run's schedule; a failure prints the seed and the path of the saved history
(`python -m tests.chaos.history <path>` checks it again).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from loyalty.v1 import (
    common_pb2,
    games_pb2,
    ledger_pb2,
    members_pb2,
    members_pb2_grpc,
    program_pb2,
    program_pb2_grpc,
    rewards_pb2,
)
from sqlalchemy import func, select

from loyalty_service.auth import credentials
from loyalty_service.auth.principal import PrincipalKind
from loyalty_service.db.engine import create_engine
from loyalty_service.db.tables import accounts, idempotency_keys, ledger_entries, purchase_orders, purchases
from loyalty_service.db.tables_games import game_plays, game_prizes, games
from loyalty_service.db.tables_rewards import rewards, vouchers
from loyalty_service.program import stores
from loyalty_service.proto_time import to_timestamp
from tests.chaos.history import (
    Applied,
    History,
    OrderRead,
    PlayRead,
    PurchaseRead,
    Stock,
    VoucherRead,
    check,
    summary,
)
from tests.chaos.load import CURRENCY, Counters, Fault, LoadPlan, run_workers
from tests.chaos.postgres import DedicatedPostgres
from tests.support.processes import TEST_SIGNING_KEY, ServerProcess, start_server_process

pytestmark = pytest.mark.slow

REPLICAS = 3
MEMBERS = 8
KILLS = 4
LOAD_SECONDS = 20.0
REWARD_STOCK = 15
REWARD_COST = 40
PRIZE_STOCK = 10
PRIZE_POINTS = 25
PRIZE_WEIGHT = 3
NO_PRIZE_WEIGHT = 1
STORE_ID = "chaos-store"


@pytest.fixture
async def postgres() -> AsyncIterator[DedicatedPostgres]:
    database = await asyncio.to_thread(DedicatedPostgres)
    yield database
    await asyncio.to_thread(database.close)


def _seed() -> int:
    given = os.environ.get("LOYALTY_CHAOS_SEED")
    return int(given) if given else random.SystemRandom().randrange(2**32)


def _schedule(seed: int) -> list[Fault]:
    rng = random.Random(seed)
    faults = [
        Fault(rng.uniform(1.5, LOAD_SECONDS - 4), f"kill {rng.randrange(REPLICAS)}") for _ in range(KILLS)
    ]
    faults.append(Fault(rng.uniform(0.35 * LOAD_SECONDS, 0.65 * LOAD_SECONDS), "restart postgres"))
    return sorted(faults, key=lambda fault: fault.at_seconds)


async def _credential(url: str, kind: PrincipalKind, store_id: str | None = None) -> str:
    """A key of `kind` made in the database (as the CLI bootstraps one); a till's with its store."""
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            if store_id is not None:
                await stores.create(conn, store_id=store_id, name="Chaos store", now=datetime.now(UTC))
            _row, key = await credentials.create(
                conn, kind=kind, name=f"chaos {kind.value}", store_id=store_id
            )
    finally:
        await engine.dispose()
    return key


@dataclass(frozen=True)
class Programme:
    web_key: str
    pos_key: str
    """A till of STORE_ID (offline uploads)."""
    members: list[str]
    member_tokens: dict[str, str]
    reward_id: str
    game_id: str


async def _programme(address: str, url: str) -> Programme:
    """A base rate of 1 point per euro, a reward and a game with small stocks, members and their tokens,
    and a till of a store."""
    web_key = await _credential(url, PrincipalKind.WEBSHOP)
    pos_key = await _credential(url, PrincipalKind.POS, STORE_ID)
    back_key = await _credential(url, PrincipalKind.BACKOFFICE)
    async with grpc.aio.insecure_channel(address) as channel:
        back = (("authorization", f"Bearer {back_key}"),)
        web = (("authorization", f"Bearer {web_key}"),)
        program = program_pb2_grpc.ProgramServiceStub(channel)
        await program.CreateEarningRule(
            program_pb2.CreateEarningRuleRequest(
                idempotency_key="chaos-rule",
                spec=program_pb2.EarningRuleSpec(
                    name="chaos base",
                    kind=program_pb2.EARNING_RULE_KIND_BASE_RATE,
                    currency=CURRENCY,
                    points_per_unit="1",
                ),
                effective_from=to_timestamp(datetime(2000, 1, 1, tzinfo=UTC)),
            ),
            metadata=back,
        )
        reward = await program.CreateReward(
            rewards_pb2.CreateRewardRequest(
                idempotency_key="chaos-reward",
                reward=rewards_pb2.RewardDefinition(
                    name="Chaos tote",
                    points_cost=REWARD_COST,
                    channels=[common_pb2.CHANNEL_WEBSHOP, common_pb2.CHANNEL_APP],
                    stock=REWARD_STOCK,
                    voucher_valid_days=30,
                    value=rewards_pb2.VoucherValue(free_product_sku="CHAOS-TOTE"),
                ),
            ),
            metadata=back,
        )
        game = await program.CreateGame(
            games_pb2.CreateGameRequest(
                idempotency_key="chaos-game",
                spec=games_pb2.GameSpec(
                    name="Chaos scratch card",
                    opens_at=to_timestamp(datetime(2000, 1, 1, tzinfo=UTC)),
                    cost_kind=games_pb2.PLAY_COST_KIND_FREE,
                    no_prize_weight=NO_PRIZE_WEIGHT,
                    prizes=[
                        games_pb2.GamePrize(
                            prize_id="points",
                            name=f"{PRIZE_POINTS} points",
                            weight=PRIZE_WEIGHT,
                            stock=PRIZE_STOCK,
                            grant=games_pb2.PrizeGrant(points=PRIZE_POINTS),
                        )
                    ],
                ),
            ),
            metadata=back,
        )
        members = members_pb2_grpc.MemberServiceStub(channel)
        ids, tokens = [], {}
        for index in range(MEMBERS):
            answer = await members.EnrollMember(
                members_pb2.EnrollMemberRequest(
                    idempotency_key=f"chaos-member-{index}", display_name="Chaos"
                ),
                metadata=web,
            )
            member_id = answer.member.member_id
            ids.append(member_id)
            issued = await members.IssueMemberToken(
                members_pb2.IssueMemberTokenRequest(member_id=member_id, ttl_seconds=600), metadata=web
            )
            tokens[member_id] = issued.token
    return Programme(web_key, pos_key, ids, tokens, reward.reward.reward_id, game.game.game_id)


class Cluster:
    """The replicas, killed and restarted on their own ports by the fault schedule."""

    def __init__(self, url: str, log_dir: Path, servers: list[ServerProcess]) -> None:
        self.url, self.log_dir, self.servers = url, log_dir, servers
        self.incarnation = 0

    def addresses(self) -> list[str]:
        return [server.address for server in self.servers]

    def kill_and_restart(self, index: int) -> float:
        old = self.servers[index]
        old.kill()  # SIGKILL: no drain, no cleanup
        started = time.monotonic()
        self.incarnation += 1
        log_dir = self.log_dir / f"incarnation-{self.incarnation}"
        log_dir.mkdir()
        self.servers[index] = start_server_process(self.url, log_dir, port=old.port)
        return time.monotonic() - started


async def _faults(
    schedule: list[Fault], cluster: Cluster, postgres: DedicatedPostgres, done: list[str]
) -> None:
    began = time.monotonic()
    for fault in schedule:
        await asyncio.sleep(max(0.0, fault.at_seconds - (time.monotonic() - began)))
        at = time.monotonic() - began
        if fault.action == "restart postgres":
            took = await asyncio.to_thread(postgres.restart_immediate)
            done.append(f"t={at:5.1f}s  pg_ctl restart -m immediate (back in {took:.1f}s)")
        else:
            index = int(fault.action.split()[1])
            pid = cluster.servers[index].process.pid
            took = await asyncio.to_thread(cluster.kill_and_restart, index)
            done.append(
                f"t={at:5.1f}s  kill -9 replica {index} (pid {pid}); restarted, SERVING after {took:.1f}s"
            )


async def _read_back(url: str, history: History) -> tuple[int, int]:
    """Fill the history with what the database holds; returns (negative balances, accounts)."""
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            keys = await conn.execute(
                select(
                    idempotency_keys.c.idempotency_key, idempotency_keys.c.method, idempotency_keys.c.response
                ).where(idempotency_keys.c.idempotency_key.like("chaos-%-%-%"))
            )
            for key, method, response in keys:
                if response is None:
                    history.unanswered_keys.append(key)
                elif method == "RecordPurchase":  # a RecordPurchase call's or an offline upload item's
                    bought = ledger_pb2.RecordPurchaseResponse.FromString(response)
                    history.key_entries[key], history.key_purchases[key] = bought.entry_id, bought.purchase_id
                elif method == "SpendPoints":
                    history.key_entries[key] = ledger_pb2.SpendPointsResponse.FromString(response).entry_id
                elif method == "RedeemReward":
                    redeemed = rewards_pb2.RedeemRewardResponse.FromString(response)
                    history.key_objects[key] = redeemed.voucher.voucher_id
                elif method == "PlayGame":
                    history.key_objects[key] = games_pb2.PlayGameResponse.FromString(response).play.play_id
            rows = await conn.execute(
                select(
                    ledger_entries.c.entry_id,
                    ledger_entries.c.member_id,
                    ledger_entries.c.entry_seq,
                    ledger_entries.c.entry_type,
                    ledger_entries.c.points,
                    ledger_entries.c.balance_after,
                    ledger_entries.c.source_ref,
                )
            )
            history.entries = [Applied(*row) for row in rows]
            voucher_rows = await conn.execute(
                select(
                    vouchers.c.voucher_id,
                    vouchers.c.member_id,
                    vouchers.c.reward_id,
                    vouchers.c.state,
                    vouchers.c.points_charged,
                    vouchers.c.redeem_entry_id,
                    vouchers.c.source_type,
                    vouchers.c.source_ref,
                )
            )
            history.vouchers = [VoucherRead(*row) for row in voucher_rows]
            play_rows = await conn.execute(
                select(
                    game_plays.c.play_id,
                    game_plays.c.member_id,
                    game_plays.c.game_id,
                    func.coalesce(game_plays.c.prize_id, ""),
                )
            )
            history.plays = [PlayRead(*row) for row in play_rows]
            purchase_rows = await conn.execute(
                select(
                    purchases.c.member_id, purchases.c.purchase_id, purchases.c.order_id, purchases.c.points
                )
            )
            history.purchases = [PurchaseRead(*row) for row in purchase_rows]
            order_rows = await conn.execute(
                select(purchase_orders.c.order_id, purchase_orders.c.member_id, purchase_orders.c.purchase_id)
            )
            history.orders = [OrderRead(*row) for row in order_rows]
            for reward_id, total, remaining in await conn.execute(
                select(rewards.c.reward_id, rewards.c.stock_total, rewards.c.stock_remaining)
            ):
                if total is not None:
                    history.stocks.append(Stock("reward", reward_id, total, remaining))
            specs = dict((await conn.execute(select(games.c.game_id, games.c.spec))).all())
            for game_id, prize_id, remaining in await conn.execute(
                select(game_prizes.c.game_id, game_prizes.c.prize_id, game_prizes.c.stock_remaining)
            ):
                spec = next(p for p in specs[game_id]["prizes"] if p["prize_id"] == prize_id)
                if "stock" in spec:
                    total = int(spec["stock"])  # JSON of an int64: a string
                    history.stocks.append(Stock("prize", f"{game_id}:{prize_id}", total, remaining))
            for member_id, available, pending in await conn.execute(
                select(accounts.c.member_id, accounts.c.available, accounts.c.pending)
            ):
                history.final_balances[member_id] = available + pending
            negative = (await conn.execute(select(func.count()).where(accounts.c.available < 0))).scalar_one()
    finally:
        await engine.dispose()
    return int(negative), len(history.final_balances)


def _cli_check(url: str, log_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LOYALTY_DATABASE_URL": url,
        "LOYALTY_TOKEN_SIGNING_KEY": TEST_SIGNING_KEY,
        "LOYALTY_DATA_DIR": str(log_dir / "check"),
    }
    return subprocess.run(
        [sys.executable, "-m", "loyalty_service", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_acknowledged_writes_survive_kills_and_a_database_crash(
    postgres: DedicatedPostgres, tmp_path: Path
) -> None:
    """Goal: invariants 2, 3 and 4 hold across replica crashes and a PostgreSQL crash-restart."""
    seed = _seed()
    began = time.monotonic()
    url = await postgres.new_database()
    servers = list(
        await asyncio.gather(
            *(asyncio.to_thread(start_server_process, url, tmp_path) for _ in range(REPLICAS))
        )
    )
    cluster = Cluster(url, tmp_path, servers)
    history = History(seed=seed)
    counters = Counters()
    done: list[str] = []
    try:
        programme = await _programme(cluster.servers[0].address, url)
        plan = LoadPlan(
            seed=seed,
            members=programme.members,
            secret=programme.web_key,
            pos_secret=programme.pos_key,
            store_id=STORE_ID,
            duration_seconds=LOAD_SECONDS,
            member_tokens=programme.member_tokens,
            reward_id=programme.reward_id,
            game_id=programme.game_id,
        )
        load_started = time.monotonic()
        await asyncio.gather(
            run_workers(plan, cluster.addresses, history, counters),
            _faults(_schedule(seed), cluster, postgres, done),
        )
        load_seconds = time.monotonic() - load_started
        negative, member_count = await _read_back(url, history)
        checked = await asyncio.to_thread(_cli_check, url, tmp_path)
    finally:
        for server in cluster.servers:
            server.terminate()
    path = tmp_path / f"chaos-history-{seed}.json"
    history.save(path)
    problems = check(history)
    report = {
        "seed": seed,
        **summary(history),
        "codes": counters.codes,
        "members": member_count,
        "load_seconds": round(load_seconds, 1),
        "total_seconds": round(time.monotonic() - began, 1),
    }
    print(f"\nchaos run (LOYALTY_CHAOS_SEED={seed}):")
    for line in done:
        print("  " + line)
    for stock in history.stocks:
        print(f"  stock: {stock.kind} {stock.item_id}: total {stock.total}, remaining {stock.remaining}")
    print("  " + json.dumps(report))
    print(f"  history: {path}; check: {checked.stdout.strip()[:200]}")
    replay = f"seed {seed}: replay with LOYALTY_CHAOS_SEED={seed}; history in {path}"
    assert not problems, f"{replay}\n" + "\n".join(problems)
    assert checked.returncode == 0, (
        f"{replay}\nloyalty-service check failed:\n{checked.stdout}{checked.stderr}"
    )
    assert negative == 0, f"{replay}: {negative} negative balances"
    assert summary(history)["acknowledged"] > 50, f"{replay}: too little load got through: {report}"
    assert {stock.kind for stock in history.stocks} == {"reward", "prize"}, f"{replay}: {history.stocks}"
    assert report["redemptions_acknowledged"], f"{replay}: no redemption got through: {report}"
    assert report["plays_acknowledged"], f"{replay}: no play got through: {report}"
    assert report["uploads_acknowledged"], f"{replay}: no offline upload got through: {report}"
    assert summary(history)["upload_items_acknowledged"] > 100, f"{replay}: too few upload items: {report}"
    assert len(done) == KILLS + 1, replay
