"""The programme the bench measures: schema, members, a store, credentials and earning rules.

Members go in by COPY (see `database.seed_members`); the store and credentials through the service's
own functions; the earning rules through the ProgramService RPC, as the back office makes them, so
that they are stored exactly as the earn path expects.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.v1 import common_pb2, program_pb2, program_pb2_grpc

from loyalty_service.bench.programme import STORE_ID

__all__ = ["Keys", "create_keys", "create_rules", "migrate"]

_RULE_PREFIX = "bench "


@dataclass(frozen=True)
class Keys:
    pos: str
    webshop: str
    backoffice: str


async def migrate(url: str) -> None:
    from loyalty_service.db.engine import create_engine, wait_for_database
    from loyalty_service.db.migrate import migrate as apply

    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        await wait_for_database(engine, timeout_seconds=30)
        await apply(engine)
    finally:
        await engine.dispose()


async def create_keys(url: str) -> Keys:
    """The bench store and a fresh credential of each kind it uses (keys are shown only once)."""
    from loyalty_service.auth import credentials
    from loyalty_service.auth.principal import PrincipalKind
    from loyalty_service.db.engine import create_engine
    from loyalty_service.program import stores

    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            await stores.create(conn, store_id=STORE_ID, name="Bench store", now=datetime.now(UTC))
            suffix = secrets.token_hex(3)
            _, pos = await credentials.create(
                conn, kind=PrincipalKind.POS, name=f"bench till {suffix}", store_id=STORE_ID
            )
            _, web = await credentials.create(
                conn, kind=PrincipalKind.WEBSHOP, name=f"bench shop {suffix}", store_id=None
            )
            _, back = await credentials.create(
                conn, kind=PrincipalKind.BACKOFFICE, name=f"bench office {suffix}", store_id=None
            )
        return Keys(pos=pos, webshop=web, backoffice=back)
    finally:
        await engine.dispose()


def _at(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _rule_specs(now: datetime) -> list[program_pb2.EarningRuleSpec]:
    """1 point per euro; tills earn x1.5; a promotion doubles everything from an hour ago for a week."""
    return [
        program_pb2.EarningRuleSpec(
            name=f"{_RULE_PREFIX}base rate",
            kind=program_pb2.EARNING_RULE_KIND_BASE_RATE,
            currency="EUR",
            points_per_unit="1",
        ),
        program_pb2.EarningRuleSpec(
            name=f"{_RULE_PREFIX}in-store multiplier",
            kind=program_pb2.EARNING_RULE_KIND_MULTIPLIER,
            factor="1.5",
            condition=program_pb2.RuleCondition(channels=[common_pb2.CHANNEL_POS]),
        ),
        program_pb2.EarningRuleSpec(
            name=f"{_RULE_PREFIX}launch promotion",
            kind=program_pb2.EARNING_RULE_KIND_MULTIPLIER,
            factor="2",
            valid_from=_at(now - timedelta(days=1)),
            valid_to=_at(now + timedelta(days=7)),
        ),
    ]


async def create_rules(address: str, keys: Keys) -> str:
    """Create the rules once per database (a rerun finds them); a note when the RPC is not there yet."""
    metadata = (("authorization", f"Bearer {keys.backoffice}"),)
    now = datetime.now(UTC)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = program_pb2_grpc.ProgramServiceStub(channel)
        try:
            listed = await stub.ListEarningRules(
                program_pb2.ListEarningRulesRequest(), metadata=metadata, timeout=10
            )
            if any(rule.spec.name.startswith(_RULE_PREFIX) for rule in listed.rules):
                return "rules from an earlier run"
            for spec in _rule_specs(now):
                request = program_pb2.CreateEarningRuleRequest(
                    idempotency_key=f"bench-rule-{secrets.token_hex(8)}",
                    spec=spec,
                    effective_from=_at(now - timedelta(days=2)),
                )
                await stub.CreateEarningRule(request, metadata=metadata, timeout=10)
        except grpc.aio.AioRpcError as error:
            return f"earning rules not created ({error.code().name})"
    return "3 earning rules"
