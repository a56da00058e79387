"""Earning-rule versions in PostgreSQL, and a per-process cache of them keyed by `rules_revision`.

A rule is never edited in place: every change inserts a new version and bumps
`program_settings.rules_revision` in the same transaction. A purchase reads the revision with the
programme settings it needs anyway, and reloads the rules only when the revision moved, so the hot path
does not read every rule on every sale.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables import earning_rules, program_settings
from loyalty_service.kernel.channel import Channel
from loyalty_service.ledger.earning import EarningRule, RuleCondition, RuleKind
from loyalty_service.program import settings as program_settings_memo

__all__ = [
    "RuleCache",
    "StoredRule",
    "insert_version",
    "latest_version",
    "load_versions",
    "lock_rules",
    "rules_revision",
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
    program_settings_memo.forget()  # the revision read earlier in this transaction is moving
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
    await conn.execute(
        update(program_settings)
        .where(program_settings.c.settings_id == 1)
        .values(
            rules_revision=program_settings.c.rules_revision + 1,
            updated_at=func.greatest(program_settings.c.updated_at, now),
        )
    )
    return StoredRule(rule, now)


async def lock_rules(conn: AsyncConnection) -> None:
    """Serialise rule changes on the settings row, so two updates of a rule cannot take one version number."""
    await conn.execute(
        select(program_settings.c.settings_id).where(program_settings.c.settings_id == 1).with_for_update()
    )


async def rules_revision(conn: AsyncConnection) -> int:
    return int(
        (
            await conn.execute(
                select(program_settings.c.rules_revision).where(program_settings.c.settings_id == 1)
            )
        ).scalar_one()
    )


class RuleCache:
    """All rule versions as of one `rules_revision`, shared by the purchases of one process."""

    def __init__(self) -> None:
        self._revision: int | None = None
        self._rules: tuple[EarningRule, ...] = ()
        self._lock = asyncio.Lock()

    async def versions(self, conn: AsyncConnection, revision: int) -> tuple[EarningRule, ...]:
        """The versions at `revision` (read by the caller in its transaction); reloads when it moved.

        The rules are loaded in a later statement than the revision was read, so a rule change may
        commit in between: the result is cached only when the revision read after loading agrees.
        """
        if self._revision == revision:
            return self._rules
        loaded = tuple(stored.rule for stored in await load_versions(conn))
        if await rules_revision(conn) == revision:
            async with self._lock:
                if self._revision is None or revision > self._revision:
                    self._revision, self._rules = revision, loaded
        return loaded
