"""The earning-rule RPCs of ProgramService: versions appended, never edited in place.

Create makes version 1 of a new rule (effective_from may lie in the past, so a forgotten promotion can
still apply to offline sales not uploaded yet). Update and Retire append a version effective from a time
later than the latest version and not in the past, so a purchase already recorded was evaluated with
exactly the rules that still say they held then. Every change bumps `rules_revision` in the same
transaction (ledger.api.insert_version), which tells every process to reload its cached rules.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.v1 import program_pb2, program_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import audit
from loyalty_service.auth.principal import current_principal
from loyalty_service.errors import FailedPrecondition, NotFound
from loyalty_service.grpc_types import Context
from loyalty_service.kernel.channel import Channel
from loyalty_service.kernel.ids import new_id
from loyalty_service.kernel.money import is_currency_code
from loyalty_service.ledger import api as ledger_api
from loyalty_service.ledger.api import EarningRule, RuleCondition, RuleKind, StoredRule
from loyalty_service.proto_time import to_timestamp
from loyalty_service.runtime import Runtime
from loyalty_service.validation import Checks

__all__ = ["EarningRuleRpcs"]

_KINDS = {
    program_pb2.EARNING_RULE_KIND_BASE_RATE: RuleKind.BASE_RATE,
    program_pb2.EARNING_RULE_KIND_MULTIPLIER: RuleKind.MULTIPLIER,
    program_pb2.EARNING_RULE_KIND_BONUS: RuleKind.BONUS,
}
_KIND_TO_PROTO = {v: k for k, v in _KINDS.items()}
_CHANNELS = {1: Channel.POS, 2: Channel.WEBSHOP, 3: Channel.APP, 4: Channel.BACKOFFICE}
_CHANNEL_TO_PROTO = {v: k for k, v in _CHANNELS.items()}
_DECIMAL = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,6})?$")
_MAX_SET = 100
_MAX_RATE = Fraction(10_000)
_MAX_BONUS = 10**9
_PAST_TOLERANCE = timedelta(minutes=5)


def _read_decimal(checks: Checks, field: str, value: str, *, maximum: Fraction) -> Fraction:
    if not _DECIMAL.match(value):
        checks.fail(field, 'a decimal number such as "1" or "0.5" (at most 6 decimals)')
        return Fraction(0)
    number = Fraction(value)
    if number > maximum:
        checks.fail(field, f"at most {maximum}")
    return number


def _decimal_text(number: Fraction) -> str:
    """The decimal string of a rate or factor (stored as a fraction, shown as "0.5")."""
    return format((Decimal(number.numerator) / Decimal(number.denominator)).normalize(), "f")


def _read_texts(checks: Checks, field: str, values: list[str], *, codes: bool) -> frozenset[str]:
    if len(values) > _MAX_SET:
        checks.fail(field, f"at most {_MAX_SET} values")
    read = checks.code if codes else checks.text
    return frozenset(read(f"{field}[{i}]", v) for i, v in enumerate(values[:_MAX_SET]))


def _read_condition(checks: Checks, field: str, condition: program_pb2.RuleCondition) -> RuleCondition:
    channels = [checks.enum(f"{field}.channels[{i}]", c, _CHANNELS) for i, c in enumerate(condition.channels)]
    if not 0 <= condition.min_amount_minor < 10**12:
        checks.fail(f"{field}.min_amount_minor", "must be between 0 and 10^12 - 1")
    return RuleCondition(
        channels=frozenset(c for c in channels if c is not None),
        store_ids=_read_texts(checks, f"{field}.store_ids", list(condition.store_ids), codes=True),
        categories=_read_texts(checks, f"{field}.categories", list(condition.categories), codes=False),
        skus=_read_texts(checks, f"{field}.skus", list(condition.skus), codes=False),
        min_amount_minor=condition.min_amount_minor,
        first_purchase_in_channel=condition.first_purchase_in_channel,
        first_purchase_in_second_channel=condition.first_purchase_in_second_channel,
        store_and_online_same_month=condition.store_and_online_same_month,
    )


def _check_cross_channel(checks: Checks, kind: RuleKind | None, condition: RuleCondition) -> None:
    """The omnichannel conditions pay once per period: BONUS rules only, one such condition per rule."""
    field = "spec.condition.first_purchase_in_second_channel"
    if condition.store_and_online_same_month:
        field = "spec.condition.store_and_online_same_month"
    if condition.first_purchase_in_second_channel and condition.store_and_online_same_month:
        checks.fail(field, "one cross-channel condition per rule")
    elif condition.once_per_period and kind is not RuleKind.BONUS:
        checks.fail(field, "only for BONUS rules (paid once per period)")


def _read_spec(
    checks: Checks, spec: program_pb2.EarningRuleSpec, *, rule_id: str, effective_from: datetime, version: int
) -> EarningRule | None:
    """The rule version the spec describes; each kind's own fields required, the others' refused."""
    name = checks.text("spec.name", spec.name, max_length=128)
    kind = checks.enum("spec.kind", spec.kind, _KINDS)
    valid_from, valid_to = checks.window(spec, "valid_from", "valid_to", prefix="spec.")
    rate, factor = Fraction(0), Fraction(1)
    if kind is RuleKind.BASE_RATE:
        if not is_currency_code(spec.currency):
            checks.fail("spec.currency", "an ISO 4217 code in upper case, e.g. EUR")
        rate = _read_decimal(checks, "spec.points_per_unit", spec.points_per_unit, maximum=_MAX_RATE)
    elif spec.currency or spec.points_per_unit:
        checks.fail("spec.currency" if spec.currency else "spec.points_per_unit", "only for BASE_RATE rules")
    if kind is RuleKind.MULTIPLIER:
        factor = _read_decimal(checks, "spec.factor", spec.factor, maximum=Fraction(100))
    elif spec.factor:
        checks.fail("spec.factor", "only for MULTIPLIER rules")
    if kind is RuleKind.BONUS and not 0 < spec.bonus_points <= _MAX_BONUS:
        checks.fail("spec.bonus_points", f"must be between 1 and {_MAX_BONUS}")
    elif kind is not RuleKind.BONUS and spec.bonus_points:
        checks.fail("spec.bonus_points", "only for BONUS rules")
    condition = _read_condition(checks, "spec.condition", spec.condition)
    _check_cross_channel(checks, kind, condition)
    if kind is None or checks.violations:
        return None
    return EarningRule(
        rule_id=rule_id,
        version=version,
        name=name,
        kind=kind,
        effective_from=effective_from,
        valid_from=valid_from,
        valid_to=valid_to,
        currency=spec.currency or None,
        points_per_unit=rate,
        factor=factor,
        bonus_points=spec.bonus_points,
        condition=condition,
    )


def _spec_message(rule: EarningRule) -> program_pb2.EarningRuleSpec:
    c = rule.condition
    spec = program_pb2.EarningRuleSpec(
        name=rule.name,
        kind=_KIND_TO_PROTO[rule.kind],
        currency=rule.currency or "",
        points_per_unit=_decimal_text(rule.points_per_unit) if rule.kind is RuleKind.BASE_RATE else "",
        factor=_decimal_text(rule.factor) if rule.kind is RuleKind.MULTIPLIER else "",
        bonus_points=rule.bonus_points,
        condition=program_pb2.RuleCondition(
            channels=sorted(_CHANNEL_TO_PROTO[ch] for ch in c.channels),  # type: ignore[misc]
            store_ids=sorted(c.store_ids),
            categories=sorted(c.categories),
            skus=sorted(c.skus),
            min_amount_minor=c.min_amount_minor,
            first_purchase_in_channel=c.first_purchase_in_channel,
            first_purchase_in_second_channel=c.first_purchase_in_second_channel,
            store_and_online_same_month=c.store_and_online_same_month,
        ),
    )
    if rule.valid_from is not None:
        spec.valid_from.CopyFrom(to_timestamp(rule.valid_from))
    if rule.valid_to is not None:
        spec.valid_to.CopyFrom(to_timestamp(rule.valid_to))
    return spec


def _rule_message(stored: StoredRule) -> program_pb2.EarningRule:
    rule = stored.rule
    return program_pb2.EarningRule(
        rule_id=rule.rule_id,
        version=rule.version,
        effective_from=to_timestamp(rule.effective_from),
        retired=rule.retired,
        spec=_spec_message(rule),
        created_at=to_timestamp(stored.created_at),
    )


async def _next_version(conn: AsyncConnection, rule_id: str, effective_from: datetime) -> StoredRule:
    """The latest version, once rule changes are serialised; refuses an effective_from not after it."""
    await ledger_api.lock_rules(conn)
    latest = await ledger_api.latest_version(conn, rule_id)
    if latest is None:
        raise NotFound("earning rule", rule_id)
    if effective_from <= latest.rule.effective_from:
        raise FailedPrecondition(
            f"effective_from must be after {latest.rule.effective_from.isoformat()}, the latest version's",
            reason="EFFECTIVE_FROM_NOT_AFTER_LATEST",
            metadata={"rule_id": rule_id, "latest_version": latest.rule.version},
        )
    return latest


def _effective_from(
    checks: Checks, stamp: Timestamp, *, present: bool, now: datetime, past_ok: bool
) -> datetime:
    moment = checks.timestamp("effective_from", stamp, present=present, required=False)
    if moment is None:
        return now
    if not past_ok and moment < now - _PAST_TOLERANCE:
        checks.fail("effective_from", "must not be in the past: versions already in force are never changed")
    return moment


async def _audit(
    conn: AsyncConnection, action: str, before: StoredRule | None, after: StoredRule, *, now: datetime
) -> None:
    """The audit row of a rule change: the version it follows and the version it adds."""
    await audit.record(
        conn,
        principal=current_principal(),
        action=action,
        subject_type="earning_rule",
        subject_id=after.rule.rule_id,
        before=None if before is None else audit.message_dict(_rule_message(before)),
        after=audit.message_dict(_rule_message(after)),
        now=now,
    )


class EarningRuleRpcs(program_pb2_grpc.ProgramServiceServicer):
    """Mixed into ProgramServicer, which sets `_rt`."""

    _rt: Runtime

    async def CreateEarningRule(
        self, request: program_pb2.CreateEarningRuleRequest, context: Context
    ) -> program_pb2.CreateEarningRuleResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        now = self._rt.now()
        effective_from = _effective_from(
            checks, request.effective_from, present=request.HasField("effective_from"), now=now, past_ok=True
        )
        rule = _read_spec(
            checks, request.spec, rule_id=new_id("rule"), effective_from=effective_from, version=1
        )
        checks.done()
        assert rule is not None
        created_by = current_principal().credential_id

        async def work(conn: AsyncConnection) -> program_pb2.CreateEarningRuleResponse:
            await ledger_api.lock_rules(conn)
            stored = await ledger_api.insert_version(conn, rule, created_by=created_by, now=self._rt.now())
            await _audit(conn, "earning_rule.create", None, stored, now=self._rt.now())
            return program_pb2.CreateEarningRuleResponse(rule=_rule_message(stored))

        return await self._rt.write(
            method="CreateEarningRule",
            request=request,
            key=key,
            response_type=program_pb2.CreateEarningRuleResponse,
            work=work,
        )

    async def UpdateEarningRule(
        self, request: program_pb2.UpdateEarningRuleRequest, context: Context
    ) -> program_pb2.UpdateEarningRuleResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        rule_id = checks.entity_id("rule_id", request.rule_id, "rule")
        now = self._rt.now()
        effective_from = _effective_from(
            checks, request.effective_from, present=request.HasField("effective_from"), now=now, past_ok=False
        )
        draft = _read_spec(checks, request.spec, rule_id=rule_id, effective_from=effective_from, version=1)
        checks.done()
        assert draft is not None
        created_by = current_principal().credential_id

        async def work(conn: AsyncConnection) -> program_pb2.UpdateEarningRuleResponse:
            latest = await _next_version(conn, rule_id, effective_from)
            rule = replace(draft, version=latest.rule.version + 1)
            stored = await ledger_api.insert_version(conn, rule, created_by=created_by, now=self._rt.now())
            await _audit(conn, "earning_rule.update", latest, stored, now=self._rt.now())
            return program_pb2.UpdateEarningRuleResponse(rule=_rule_message(stored))

        return await self._rt.write(
            method="UpdateEarningRule",
            request=request,
            key=key,
            response_type=program_pb2.UpdateEarningRuleResponse,
            work=work,
        )

    async def RetireEarningRule(
        self, request: program_pb2.RetireEarningRuleRequest, context: Context
    ) -> program_pb2.RetireEarningRuleResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        rule_id = checks.entity_id("rule_id", request.rule_id, "rule")
        effective_from = _effective_from(
            checks,
            request.effective_from,
            present=request.HasField("effective_from"),
            now=self._rt.now(),
            past_ok=False,
        )
        checks.done()
        created_by = current_principal().credential_id

        async def work(conn: AsyncConnection) -> program_pb2.RetireEarningRuleResponse:
            latest = await _next_version(conn, rule_id, effective_from)
            if latest.rule.retired:
                raise FailedPrecondition(
                    f"rule {rule_id} is retired already", reason="RULE_RETIRED", metadata={"rule_id": rule_id}
                )
            rule = replace(
                latest.rule, version=latest.rule.version + 1, effective_from=effective_from, retired=True
            )
            stored = await ledger_api.insert_version(conn, rule, created_by=created_by, now=self._rt.now())
            await _audit(conn, "earning_rule.retire", latest, stored, now=self._rt.now())
            return program_pb2.RetireEarningRuleResponse(rule=_rule_message(stored))

        return await self._rt.write(
            method="RetireEarningRule",
            request=request,
            key=key,
            response_type=program_pb2.RetireEarningRuleResponse,
            work=work,
        )

    async def ListEarningRules(
        self, request: program_pb2.ListEarningRulesRequest, context: Context
    ) -> program_pb2.ListEarningRulesResponse:
        checks = Checks()
        as_of = checks.timestamp("as_of", request.as_of, present=request.HasField("as_of"), required=False)
        if as_of is not None and request.include_history:
            checks.fail("include_history", "either as_of or include_history")
        checks.done()
        versions = await self._rt.read(ledger_api.load_versions)
        if request.include_history:
            chosen = versions
        elif as_of is not None:
            in_force = {
                (r.rule_id, r.version) for r in ledger_api.rules_as_of([v.rule for v in versions], as_of)
            }
            chosen = [v for v in versions if (v.rule.rule_id, v.rule.version) in in_force]
        else:
            latest = {v.rule.rule_id: v for v in sorted(versions, key=lambda v: v.rule.version)}
            chosen = sorted(latest.values(), key=lambda v: (v.rule.effective_from, v.rule.rule_id))
        return program_pb2.ListEarningRulesResponse(rules=[_rule_message(v) for v in chosen])
