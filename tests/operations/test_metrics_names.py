"""A real scrape of a running server's /metrics, checked by Prometheus's own `promtool check metrics`
(Debian package `prometheus`); without promtool the names are checked against the conventions here.

Also proves the business counter moves: a purchase and a spend show in `loyalty_points_total`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import grpc
from loyalty.v1 import (
    common_pb2,
    ledger_pb2,
    ledger_pb2_grpc,
    members_pb2,
    members_pb2_grpc,
    program_pb2,
    program_pb2_grpc,
)
from prometheus_client.parser import text_string_to_metric_families

from loyalty_service.auth.principal import PrincipalKind
from loyalty_service.proto_time import to_timestamp
from tests.chaos.test_chaos import _credential
from tests.support.database import TestDatabase
from tests.support.processes import free_port, start_server_process

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_UNITS = ("_seconds", "_bytes", "_connections", "_total", "_info", "_ratio")


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return str(reply.read().decode())


def _convention_problems(text: str) -> list[str]:
    problems = []
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("loyalty_") or family.name.endswith("_created"):
            continue
        name = family.name + ("_total" if family.type == "counter" else "")
        if not _NAME.match(name) or name != name.lower():
            problems.append(f"{name}: not snake_case")
        if family.type == "counter" and not name.endswith("_total"):
            problems.append(f"{name}: a counter ends in _total")
        if family.type in ("gauge", "histogram") and not name.endswith(_UNITS):
            problems.append(f"{name}: no unit suffix")
        if not family.documentation:
            problems.append(f"{name}: no help text")
    return problems


def _points(text: str, direction: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "loyalty_points_total" and sample.labels.get("direction") == direction
    )


async def test_scrape_passes_promtool_and_counts_points(test_db: TestDatabase, tmp_path: Path) -> None:
    """Goal: a live scrape is valid Prometheus exposition with conventional names; points are counted.

    (`*_created` series are prometheus_client's counter creation times, not our names.)
    """
    url = await test_db.new_database()
    web_key = await _credential(url, PrincipalKind.WEBSHOP)
    back_key = await _credential(url, PrincipalKind.BACKOFFICE)
    metrics_port = free_port()
    server = start_server_process(url, tmp_path, extra_env={"LOYALTY_METRICS_PORT": str(metrics_port)})
    web = (("authorization", f"Bearer {web_key}"),)
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            await program_pb2_grpc.ProgramServiceStub(channel).CreateEarningRule(
                program_pb2.CreateEarningRuleRequest(
                    idempotency_key="ops-rule",
                    spec=program_pb2.EarningRuleSpec(
                        name="ops",
                        kind=program_pb2.EARNING_RULE_KIND_BASE_RATE,
                        currency="EUR",
                        points_per_unit="1",
                    ),
                    effective_from=to_timestamp(datetime(2000, 1, 1, tzinfo=UTC)),
                ),
                metadata=(("authorization", f"Bearer {back_key}"),),
            )
            member = (
                await members_pb2_grpc.MemberServiceStub(channel).EnrollMember(
                    members_pb2.EnrollMemberRequest(idempotency_key="ops-member", display_name="Ops"),
                    metadata=web,
                )
            ).member
            ref = common_pb2.MemberRef(member_id=member.member_id)
            ledger = ledger_pb2_grpc.LedgerServiceStub(channel)
            bought = await ledger.RecordPurchase(
                ledger_pb2.RecordPurchaseRequest(
                    idempotency_key="ops-buy",
                    member=ref,
                    channel=common_pb2.CHANNEL_WEBSHOP,
                    order_id="ops-1",
                    amount=common_pb2.Money(amount_minor=4200, currency="EUR"),
                    occurred_at=to_timestamp(datetime.now(UTC)),
                ),
                metadata=web,
            )
            await ledger.SpendPoints(
                ledger_pb2.SpendPointsRequest(
                    idempotency_key="ops-spend",
                    member=ref,
                    points=10,
                    channel=common_pb2.CHANNEL_WEBSHOP,
                    order_id="ops-2",
                ),
                metadata=web,
            )
        text = _scrape(metrics_port)
    finally:
        server.terminate()
    assert bought.points > 0
    assert _points(text, "issued") == bought.points
    assert _points(text, "spent") == 10
    assert "loyalty_grpc_server_handling_seconds_bucket" in text
    assert "loyalty_db_pool_connections" in text
    assert not _convention_problems(text)
    promtool = shutil.which("promtool")
    if promtool is None:
        return  # conventions checked above with prometheus_client's parser
    checked = subprocess.run(  # noqa: ASYNC221  (the server has been stopped; nothing else runs)
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "", checked.stdout
    assert checked.stderr.strip() == "", checked.stderr
