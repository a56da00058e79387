"""The tier-ladder RPCs of ProgramService (SetTierLadder, GetTierLadder, ListTierLadders), mixed into
`ProgramServicer` as `EarningRuleRpcs` is.

A ladder is never edited in place: SetTierLadder appends a version effective from a time (the first one
may start in the past, so offline sales not uploaded yet can use it; later ones neither in the past nor
before the latest version's). A later version keeps every tier_id of the one before, so a member's tier
and its history keep their meaning; names, thresholds, multipliers and reserved rewards may change.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from fractions import Fraction

from loyalty.v1 import tiers_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import audit
from loyalty_service.auth.principal import current_principal
from loyalty_service.errors import FailedPrecondition, NotFound
from loyalty_service.grpc_types import Context
from loyalty_service.kernel.money import is_currency_code
from loyalty_service.proto_time import to_timestamp
from loyalty_service.rewards import api as rewards_api
from loyalty_service.runtime import Runtime
from loyalty_service.tiers import store
from loyalty_service.tiers.api import BASIS_TO_PROTO, decimal_text
from loyalty_service.tiers.domain import Basis, Ladder, LadderVersion, Tier, WindowKind, ladder_as_of
from loyalty_service.validation import Checks

__all__ = ["TierProgramRpcs"]

_BASES = {v: k for k, v in BASIS_TO_PROTO.items()}
_WINDOWS = {
    tiers_pb2.TIER_WINDOW_KIND_ROLLING_MONTHS: WindowKind.ROLLING_MONTHS,
    tiers_pb2.TIER_WINDOW_KIND_CALENDAR_YEAR: WindowKind.CALENDAR_YEAR,
}
_WINDOW_TO_PROTO = {v: k for k, v in _WINDOWS.items()}
_TIER_ID = re.compile(r"^[a-z0-9_-]{1,32}$")
_DECIMAL = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,6})?$")
_TIERS_MAX = 10
_RESERVED_MAX = 100
_THRESHOLD_MAX = 10**12
_MULTIPLIER_MAX = Fraction(10)
_PAST_TOLERANCE = timedelta(minutes=5)


def _read_tier(checks: Checks, field: str, spec: tiers_pb2.TierSpec) -> Tier:
    if not _TIER_ID.match(spec.tier_id):
        checks.fail(f"{field}.tier_id", "1-32 of [a-z0-9_-]")
    name = checks.text(f"{field}.name", spec.name, max_length=64)
    if not 0 <= spec.threshold < _THRESHOLD_MAX:
        checks.fail(f"{field}.threshold", f"must be between 0 and {_THRESHOLD_MAX - 1}")
    multiplier = Fraction(1)
    if spec.multiplier:
        if not _DECIMAL.match(spec.multiplier):
            checks.fail(f"{field}.multiplier", 'a decimal number such as "1.5" (at most 6 decimals)')
        elif not 1 <= Fraction(spec.multiplier) <= _MULTIPLIER_MAX:
            checks.fail(f"{field}.multiplier", f"between 1 and {_MULTIPLIER_MAX}: a tier never earns less")
        else:
            multiplier = Fraction(spec.multiplier)
    if len(spec.reserved_reward_ids) > _RESERVED_MAX:
        checks.fail(f"{field}.reserved_reward_ids", f"at most {_RESERVED_MAX}")
    reserved = frozenset(
        checks.entity_id(f"{field}.reserved_reward_ids[{i}]", r, "rwd")
        for i, r in enumerate(spec.reserved_reward_ids[:_RESERVED_MAX])
    )
    return Tier(
        tier_id=spec.tier_id,
        name=name,
        threshold=max(0, min(spec.threshold, _THRESHOLD_MAX)),
        multiplier=multiplier,
        reserved_reward_ids=reserved,
    )


def _read_tiers(checks: Checks, specs: list[tiers_pb2.TierSpec]) -> tuple[Tier, ...]:
    if not 1 <= len(specs) <= _TIERS_MAX:
        checks.fail("spec.tiers", f"1 to {_TIERS_MAX} tiers, from the base tier up")
    tiers = tuple(_read_tier(checks, f"spec.tiers[{i}]", s) for i, s in enumerate(specs[:_TIERS_MAX]))
    seen: set[str] = set()
    for index, tier in enumerate(tiers):
        if tier.tier_id in seen:
            checks.fail(f"spec.tiers[{index}].tier_id", "used by another tier")
        seen.add(tier.tier_id)
        if index == 0 and tier.threshold != 0:
            checks.fail("spec.tiers[0].threshold", "the base tier's threshold is 0")
        if index > 0 and tier.threshold <= tiers[index - 1].threshold:
            checks.fail(f"spec.tiers[{index}].threshold", "must be above the tier below's")
    return tiers


def _read_ladder(checks: Checks, spec: tiers_pb2.TierLadderSpec) -> Ladder | None:
    basis = checks.enum("spec.basis", spec.basis, _BASES)
    window = checks.enum("spec.window_kind", spec.window_kind, _WINDOWS)
    if basis is Basis.SPEND and not is_currency_code(spec.currency):
        checks.fail("spec.currency", "an ISO 4217 code in upper case, e.g. EUR")
    elif basis is Basis.POINTS and spec.currency:
        checks.fail("spec.currency", "only for TIER_BASIS_QUALIFYING_SPEND")
    months = spec.window_months or 12
    if window is WindowKind.ROLLING_MONTHS and not 1 <= months <= 36:
        checks.fail("spec.window_months", "between 1 and 36 (0 means 12)")
    elif window is WindowKind.CALENDAR_YEAR and spec.window_months:
        checks.fail("spec.window_months", "only for TIER_WINDOW_KIND_ROLLING_MONTHS")
    tiers = _read_tiers(checks, list(spec.tiers))
    if basis is None or window is None or checks.violations:
        return None
    return Ladder(
        basis=basis,
        window_kind=window,
        window_months=months if window is WindowKind.ROLLING_MONTHS else 12,
        currency=spec.currency or None,
        tiers=tiers,
    )


def ladder_message(stored: store.StoredLadder) -> tiers_pb2.TierLadder:
    version, ladder = stored.version, stored.version.ladder
    spec = tiers_pb2.TierLadderSpec(
        basis=BASIS_TO_PROTO[ladder.basis],
        currency=ladder.currency or "",
        window_kind=_WINDOW_TO_PROTO[ladder.window_kind],
        window_months=ladder.window_months if ladder.window_kind is WindowKind.ROLLING_MONTHS else 0,
        tiers=[
            tiers_pb2.TierSpec(
                tier_id=t.tier_id,
                name=t.name,
                threshold=t.threshold,
                multiplier=decimal_text(t.multiplier),
                reserved_reward_ids=sorted(t.reserved_reward_ids),
            )
            for t in ladder.tiers
        ],
    )
    return tiers_pb2.TierLadder(
        version=version.version,
        effective_from=to_timestamp(version.effective_from),
        spec=spec,
        created_at=to_timestamp(stored.created_at),
    )


def _check_follows(latest: store.StoredLadder, ladder: Ladder, effective_from: datetime) -> None:
    before = latest.version
    if effective_from <= before.effective_from:
        raise FailedPrecondition(
            f"effective_from must be after {before.effective_from.isoformat()}, the latest version's",
            reason="EFFECTIVE_FROM_NOT_AFTER_LATEST",
            metadata={"latest_version": before.version},
        )
    missing = sorted({t.tier_id for t in before.ladder.tiers} - {t.tier_id for t in ladder.tiers})
    if missing:
        raise FailedPrecondition(
            f"a new version keeps every tier; missing: {', '.join(missing)}",
            reason="TIER_REMOVED",
            metadata={"tier_ids": ",".join(missing), "latest_version": before.version},
        )


class TierProgramRpcs:
    """Mixed into ProgramServicer, which sets `_rt`."""

    _rt: Runtime

    async def SetTierLadder(
        self, request: tiers_pb2.SetTierLadderRequest, context: Context
    ) -> tiers_pb2.SetTierLadderResponse:
        checks = Checks()
        key = checks.idempotency_key(request.idempotency_key)
        if not request.HasField("spec"):
            checks.fail("spec", "required")
        ladder = _read_ladder(checks, request.spec)
        moment = checks.timestamp(
            "effective_from",
            request.effective_from,
            present=request.HasField("effective_from"),
            required=False,
        )
        checks.done()
        assert ladder is not None
        created_by = current_principal().credential_id

        async def work(conn: AsyncConnection) -> tiers_pb2.SetTierLadderResponse:
            now = self._rt.now()
            effective_from = moment or now
            await store.lock_ladders(conn)
            stored = await store.load_ladders(conn)
            latest = stored[-1] if stored else None
            reserved = [r for tier in ladder.tiers for r in tier.reserved_reward_ids]
            unknown = await rewards_api.unknown_reward_ids(conn, reserved)
            if unknown:
                raise NotFound("reward", unknown[0], f"no reward {unknown[0]} to reserve")
            if latest is not None:
                if moment is not None and moment < now - _PAST_TOLERANCE:
                    raise FailedPrecondition(
                        "effective_from must not be in the past: versions already in force are never changed",
                        reason="EFFECTIVE_FROM_IN_PAST",
                        metadata={"latest_version": latest.version.version},
                    )
                _check_follows(latest, ladder, effective_from)
            number = 1 if latest is None else latest.version.version + 1
            added = await store.insert_ladder(
                conn, LadderVersion(number, effective_from, ladder), created_by=created_by, now=now
            )
            message = ladder_message(added)
            await audit.record(
                conn,
                principal=current_principal(),
                action="tier_ladder.set",
                subject_type="tier_ladder",
                subject_id=str(number),
                before=None if latest is None else audit.message_dict(ladder_message(latest)),
                after=audit.message_dict(message),
                now=now,
            )
            return tiers_pb2.SetTierLadderResponse(ladder=message)

        return await self._rt.write(
            method="SetTierLadder",
            request=request,
            key=key,
            response_type=tiers_pb2.SetTierLadderResponse,
            work=work,
        )

    async def GetTierLadder(
        self, request: tiers_pb2.GetTierLadderRequest, context: Context
    ) -> tiers_pb2.GetTierLadderResponse:
        checks = Checks()
        as_of = checks.timestamp("as_of", request.as_of, present=request.HasField("as_of"), required=False)
        checks.done()
        at = as_of or self._rt.now()
        stored = await self._rt.read(store.load_ladders)
        chosen = ladder_as_of([s.version for s in stored], at)
        if chosen is None:
            raise NotFound("tier ladder", at.isoformat(), "no tier ladder is in force then")
        found = next(s for s in stored if s.version.version == chosen.version)
        return tiers_pb2.GetTierLadderResponse(ladder=ladder_message(found))

    async def ListTierLadders(
        self, request: tiers_pb2.ListTierLaddersRequest, context: Context
    ) -> tiers_pb2.ListTierLaddersResponse:
        stored = await self._rt.read(store.load_ladders)
        return tiers_pb2.ListTierLaddersResponse(ladders=[ladder_message(s) for s in stored])
