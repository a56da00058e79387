"""Earning-rule versions in PostgreSQL, and a per-process cache of them keyed by `rules_revision`.

A rule is never edited in place: every change inserts a new version and bumps
`program_settings.rules_revision` in the same transaction. A purchase reads the revision with the
programme settings it needs anyway, and reloads the rules only when the revision moved, so the hot path
does not read every rule on every sale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables import earning_rules, program_settings
from loyalty_service.kernel.channel import Channel
from loyalty_service.ledger.earning import EarningRule, RuleCondition, RuleKind
from loyalty_service.program import revisions
from loyalty_service.program.revisions import RevisionCache

__all__ = [
    "RuleCache",
    "StoredRule",
    "insert_version",
    "latest_version",
    "load_versions",
    "lock_rules",
]


def _condition_json(condition: RuleCondition) -> dict[str, Any]:
    return {
        "channels": sorted(c.value for c in condition.channels),
        "store_ids": sorted(condition.store_ids),
        "categories": sorted(condition.categories),
        "skus": sorted(condition.skus),
        "min_amount_minor": condition.min_amount_minor,
        "first_purchase_in_channel": condition.first_purchase_in_channel,
        "first_purchase_in_second_channel": condition.first_purchase_in_second_channel,
        "store_and_online_same_month": condition.store_and_online_same_month,
    }


def _condition(data: dict[str, Any]) -> RuleCondition:
    return RuleCondition(
        channels=frozenset(Channel(c) for c in data.get("channels", ())),
        store_ids=frozenset(data.get("store_ids", ())),
        categories=frozenset(data.get("categories", ())),
        skus=frozenset(data.get("skus", ())),
        min_amount_minor=int(data.get("min_amount_minor", 0)),
        first_purchase_in_channel=bool(data.get("first_purchase_in_channel", False)),
        first_purchase_in_second_channel=bool(data.get("first_purchase_in_second_channel", False)),
        store_and_online_same_month=bool(data.get("store_and_online_same_month", False)),
    )


def _rule(row: Any) -> EarningRule:
    m = row._mapping
    return EarningRule(
        rule_id=m["rule_id"],
        version=m["version"],
        name=m["name"],
        kind=RuleKind(m["kind"]),
        effective_from=m["effective_from"],
        retired=m["retired"],
        valid_from=m["valid_from"],
        valid_to=m["valid_to"],
        currency=m["currency"],
        points_per_unit=Fraction(m["points_per_unit"]),
        factor=Fraction(m["factor"]),
        bonus_points=m["bonus_points"],
        condition=_condition(m["condition"]),
    )


@dataclass(frozen=True, slots=True)
class StoredRule:
    rule: EarningRule
    created_at: datetime


_RULE_ORDER = (earning_rules.c.effective_from, earning_rules.c.rule_id, earning_rules.c.version)


async def load_versions(conn: AsyncConnection, *, rule_id: str | None = None) -> list[StoredRule]:
    """Every version (of one rule, or of all), oldest first."""
    query = select(earning_rules).order_by(*_RULE_ORDER)
    if rule_id is not None:
        query = query.where(earning_rules.c.rule_id == rule_id)
    rows = (await conn.execute(query)).all()
    return [StoredRule(_rule(row), row._mapping["created_at"]) for row in rows]


async def latest_version(conn: AsyncConnection, rule_id: str, *, lock: bool = False) -> StoredRule | None:
    query = (
        select(earning_rules)
        .where(earning_rules.c.rule_id == rule_id)
        .order_by(earning_rules.c.version.desc())
        .limit(1)
    )
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else StoredRule(_rule(row), row._mapping["created_at"])


async def insert_version(
    conn: AsyncConnection, rule: EarningRule, *, created_by: str, now: datetime
) -> StoredRule:
    """Store a new version and bump the revision, so every process drops its cached rules."""
    await conn.execute(
        insert(earning_rules).values(
            rule_id=rule.rule_id,
            version=rule.version,
            effective_from=rule.effective_from,
            retired=rule.retired,
            name=rule.name,
            kind=rule.kind.value,
            valid_from=rule.valid_from,
            valid_to=rule.valid_to,
            currency=rule.currency,
            points_per_unit=str(rule.points_per_unit),
            factor=str(rule.factor),
            bonus_points=rule.bonus_points,
            condition=_condition_json(rule.condition),
            created_by=created_by,
            created_at=now,
        )
    )
    await revisions.bump(conn, "rules_revision", now=now)
    return StoredRule(rule, now)


async def lock_rules(conn: AsyncConnection) -> None:
    """Serialise rule changes on the settings row, so two updates of a rule cannot take one version number."""
    await conn.execute(
        select(program_settings.c.settings_id).where(program_settings.c.settings_id == 1).with_for_update()
    )


async def _all_versions(conn: AsyncConnection) -> tuple[EarningRule, ...]:
    return tuple(stored.rule for stored in await load_versions(conn))


class RuleCache(RevisionCache[tuple[EarningRule, ...]]):
    """All rule versions as of the programme's `rules_revision`, shared by the purchases of one process."""

    def __init__(self) -> None:
        super().__init__("rules_revision", _all_versions)
