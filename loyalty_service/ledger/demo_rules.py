"""The demo programme's earning rules: 1 point per euro, double points in the web shop."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.kernel.channel import Channel
from loyalty_service.kernel.ids import new_id
from loyalty_service.ledger.earning import EarningRule, RuleCondition, RuleKind
from loyalty_service.ledger.rules_store import insert_version, load_versions, lock_rules

__all__ = ["ensure_demo_rules"]

_SINCE = datetime(2000, 1, 1, tzinfo=UTC)


async def ensure_demo_rules(conn: AsyncConnection, *, now: datetime) -> None:
    """Create the demo rules unless the programme has rules already."""
    await lock_rules(conn)
    if await load_versions(conn):
        return
    base = EarningRule(
        rule_id=new_id("rule"),
        version=1,
        name="1 point per euro",
        kind=RuleKind.BASE_RATE,
        effective_from=_SINCE,
        currency="EUR",
        points_per_unit=Fraction(1),
    )
    online = EarningRule(
        rule_id=new_id("rule"),
        version=1,
        name="double points online",
        kind=RuleKind.MULTIPLIER,
        effective_from=_SINCE,
        factor=Fraction(2),
        condition=RuleCondition(channels=frozenset({Channel.WEBSHOP})),
    )
    for rule in (base, online):
        await insert_version(conn, rule, created_by="demo", now=now)
