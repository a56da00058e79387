"""Status tiers in the clients: the ladder (back office) and a member's tier (every channel).

- `TierLadderOffice` (MarketingClient): `set_tier_ladder` appends a version effective from a time,
  `get_tier_ladder` (as of a time), `list_tier_ladders` (every version).
- `MemberTiers` (POS, web shop, app back end, back office): `member_tier(member_id=...)`.
- `MyTier` (mobile app, member token): `my_tier()`.

A member's tier is None while no ladder is in force. Redeeming a reward reserved for a higher tier raises
`TierRequired` (FAILED_PRECONDITION, reason TIER_REQUIRED).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from loyalty.v1 import members_pb2, tiers_pb2

from loyalty_clients import _convert as c
from loyalty_clients._base import ClientBase
from loyalty_clients._errors import FailedPrecondition, _by_reason
from loyalty_clients._status import RpcStatus
from loyalty_clients._transport import Transport, new_idempotency_key

__all__ = [
    "MemberTiers",
    "MyTier",
    "TierBasis",
    "TierDefinition",
    "TierLadder",
    "TierLadderOffice",
    "TierLadderSpec",
    "TierRequired",
    "TierStatus",
    "TierWindow",
]

PROGRAM = "/loyalty.v1.ProgramService/"
MEMBERS = "/loyalty.v1.MemberService/"


@_by_reason("TIER_REQUIRED")
class TierRequired(FailedPrecondition):
    """The reward is reserved for a higher status tier (`required_tier_id`)."""

    def __init__(self, status: RpcStatus) -> None:
        super().__init__(status)
        self.reward_id = status.metadata.get("reward_id", "")
        self.required_tier_id = status.metadata.get("required_tier_id", "")


class TierBasis(enum.StrEnum):
    QUALIFYING_POINTS = "qualifying_points"
    """Points earned by purchases (without the tier bonus), net of refunds."""
    QUALIFYING_SPEND = "qualifying_spend"
    """Purchase amounts in the ladder's currency (minor units), net of refunds."""


class TierWindow(enum.StrEnum):
    ROLLING_MONTHS = "rolling_months"
    CALENDAR_YEAR = "calendar_year"


_BASIS = c.enum_to_proto(TierBasis, tiers_pb2.TierBasis, "TIER_BASIS_")
_BASIS_FROM = {v: k for k, v in _BASIS.items()}
_WINDOW = c.enum_to_proto(TierWindow, tiers_pb2.TierWindowKind, "TIER_WINDOW_KIND_")
_WINDOW_FROM = {v: k for k, v in _WINDOW.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class TierDefinition:
    tier_id: str
    """Stable across versions: 1-32 of [a-z0-9_-]."""
    name: str
    threshold: int
    """Qualifying value needed (points, or minor units of the ladder's currency); 0 for the base tier."""
    multiplier: Decimal = Decimal(1)
    """Earning multiplier, applied as the rule "tier"."""
    reserved_reward_ids: tuple[str, ...] = ()
    """Rewards only this tier and the ones above may redeem."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TierLadderSpec:
    basis: TierBasis
    window: TierWindow
    tiers: tuple[TierDefinition, ...]
    """From the base tier (threshold 0) up."""
    window_months: int = 12
    """Rolling windows only."""
    currency: str = ""
    """Spend basis only."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TierLadder:
    version: int
    effective_from: datetime
    spec: TierLadderSpec
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TierStatus:
    tier_id: str
    tier_name: str
    held_until: datetime | None
    """The tier is held at least until then; None for the base tier."""
    basis: TierBasis
    currency: str
    qualifying_value: int
    window_start: datetime
    multiplier: Decimal
    next_tier_id: str
    """Empty at the top."""
    next_tier_name: str
    next_threshold: int
    remaining: int
    """What is still missing to reach the next tier (0 at the top)."""


def _spec_message(spec: TierLadderSpec) -> tiers_pb2.TierLadderSpec:
    rolling = spec.window is TierWindow.ROLLING_MONTHS
    return tiers_pb2.TierLadderSpec(
        basis=_BASIS[spec.basis],
        currency=spec.currency,
        window_kind=_WINDOW[spec.window],
        window_months=spec.window_months if rolling else 0,
        tiers=[
            tiers_pb2.TierSpec(
                tier_id=t.tier_id,
                name=t.name,
                threshold=t.threshold,
                multiplier=format(t.multiplier, "f"),
                reserved_reward_ids=list(t.reserved_reward_ids),
            )
            for t in spec.tiers
        ],
    )


def _ladder(x: tiers_pb2.TierLadder) -> TierLadder:
    spec = x.spec
    return TierLadder(
        version=x.version,
        effective_from=x.effective_from.ToDatetime(tzinfo=UTC),
        created_at=x.created_at.ToDatetime(tzinfo=UTC),
        spec=TierLadderSpec(
            basis=_BASIS_FROM[spec.basis],
            window=_WINDOW_FROM[spec.window_kind],
            window_months=spec.window_months or 12,
            currency=spec.currency,
            tiers=tuple(
                TierDefinition(
                    tier_id=t.tier_id,
                    name=t.name,
                    threshold=t.threshold,
                    multiplier=Decimal(t.multiplier or "1"),
                    reserved_reward_ids=tuple(t.reserved_reward_ids),
                )
                for t in spec.tiers
            ),
        ),
    )


def _status(x: tiers_pb2.TierStatus) -> TierStatus:
    return TierStatus(
        tier_id=x.tier_id,
        tier_name=x.tier_name,
        held_until=c.when(x, "held_until"),
        basis=_BASIS_FROM[x.basis],
        currency=x.currency,
        qualifying_value=x.qualifying_value,
        window_start=x.window_start.ToDatetime(tzinfo=UTC),
        multiplier=Decimal(x.multiplier or "1"),
        next_tier_id=x.next_tier_id,
        next_tier_name=x.next_tier_name,
        next_threshold=x.next_threshold,
        remaining=x.remaining,
    )


async def member_tier(t: Transport, member_id: str) -> TierStatus | None:
    answer = await t.call(
        MEMBERS + "GetMember",
        members_pb2.GetMemberRequest(member_id=member_id),
        members_pb2.GetMemberResponse,
    )
    return _status(answer.tier) if answer.HasField("tier") else None


class TierLadderOffice(ClientBase):
    async def set_tier_ladder(
        self,
        *,
        spec: TierLadderSpec,
        effective_from: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> TierLadder:
        """Append a ladder version (default: effective now); a later version keeps every tier_id.

        >>> ladder = await office.set_tier_ladder(spec=TierLadderSpec(
        ...     basis=TierBasis.QUALIFYING_POINTS, window=TierWindow.CALENDAR_YEAR,
        ...     tiers=(TierDefinition(tier_id="member", name="Member", threshold=0),
        ...            TierDefinition(tier_id="silver", name="Silver", threshold=1000,
        ...                           multiplier=Decimal("1.5")))))
        """
        request = tiers_pb2.SetTierLadderRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), spec=_spec_message(spec)
        )
        if effective_from is not None:
            request.effective_from.CopyFrom(c.timestamp(effective_from))
        answer = await self._transport.call(
            PROGRAM + "SetTierLadder", request, tiers_pb2.SetTierLadderResponse
        )
        return _ladder(answer.ladder)

    async def get_tier_ladder(self, *, as_of: datetime | None = None) -> TierLadder:
        """The version in force now (or at `as_of`); raises NotFound when none is.

        >>> ladder = await office.get_tier_ladder()
        """
        request = tiers_pb2.GetTierLadderRequest()
        if as_of is not None:
            request.as_of.CopyFrom(c.timestamp(as_of))
        answer = await self._transport.call(
            PROGRAM + "GetTierLadder", request, tiers_pb2.GetTierLadderResponse
        )
        return _ladder(answer.ladder)

    async def list_tier_ladders(self) -> tuple[TierLadder, ...]:
        """Every ladder version, oldest first.

        >>> versions = await office.list_tier_ladders()
        """
        answer = await self._transport.call(
            PROGRAM + "ListTierLadders", tiers_pb2.ListTierLaddersRequest(), tiers_pb2.ListTierLaddersResponse
        )
        return tuple(_ladder(x) for x in answer.ladders)


class MemberTiers(ClientBase):
    async def member_tier(self, *, member_id: str) -> TierStatus | None:
        """The member's tier, progress to the next one and the date it is held until (None: no ladder).

        >>> tier = await client.member_tier(member_id="mem_01J...")
        """
        return await member_tier(self._transport, member_id)


class MyTier(ClientBase):
    member_id: str

    async def my_tier(self) -> TierStatus | None:
        """The member's own tier and progress (None: no ladder).

        >>> tier = await app.my_tier()
        """
        return await member_tier(self._transport, self.member_id)
