"""Draws as protobuf messages, both directions: validating a DrawSpec, and rendering draws and results."""

from __future__ import annotations

import re
from datetime import datetime

from loyalty.v1 import common_pb2, draws_pb2

from loyalty_service.common_messages import CHANNEL_TO_PROTO, CHANNELS
from loyalty_service.draws import domain
from loyalty_service.draws.rules import (
    ENTRIES_PER_CALL_MAX,
    DirectSource,
    DrawSpec,
    DrawState,
    Prize,
    Sources,
    SpendSource,
    draw_state,
)
from loyalty_service.draws.store import DrawRow
from loyalty_service.proto_time import to_timestamp
from loyalty_service.validation import Checks

__all__ = ["draw_message", "read_spec", "result_message", "spec_message"]

_PRIZE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PRIZES_MAX = 100
_QUANTITY_MAX = 10_000
_POINTS_MAX = 10_000_000
_CHANNELS = {value: channel.value for value, channel in CHANNELS.items()}
_STATUS = {
    DrawState.SCHEDULED: draws_pb2.DRAW_STATUS_SCHEDULED,
    DrawState.OPEN: draws_pb2.DRAW_STATUS_OPEN,
    DrawState.CLOSED: draws_pb2.DRAW_STATUS_CLOSED,
    DrawState.DRAWN: draws_pb2.DRAW_STATUS_DRAWN,
}


def _read_prizes(checks: Checks, prizes: list[draws_pb2.DrawPrize]) -> tuple[Prize, ...]:
    checks.count("spec.prizes", len(prizes), minimum=1, maximum=_PRIZES_MAX)
    seen: set[str] = set()
    result: list[Prize] = []
    for i, prize in enumerate(prizes):
        field = f"spec.prizes[{i}]"
        if not _PRIZE_ID.match(prize.prize_id):
            checks.fail(f"{field}.prize_id", "1-64 of A-Z a-z 0-9 _ . -")
        elif prize.prize_id in seen:
            checks.fail(f"{field}.prize_id", "each prize once (give it a quantity)")
        seen.add(prize.prize_id)
        name = checks.text(f"{field}.name", prize.name, max_length=128)
        checks.count(f"{field}.quantity", prize.quantity, minimum=1, maximum=_QUANTITY_MAX)
        kind = prize.WhichOneof("kind")
        if kind == "reward_id":
            checks.entity_id(f"{field}.reward_id", prize.reward_id, "rwd")
        elif kind == "points":
            checks.count(f"{field}.points", prize.points, minimum=1, maximum=_POINTS_MAX)
        else:
            checks.fail(f"{field}.kind", "required: reward_id or points")
        result.append(
            Prize(
                prize_id=prize.prize_id,
                name=name,
                quantity=prize.quantity,
                reward_id=prize.reward_id if kind == "reward_id" else None,
                points=prize.points if kind == "points" else 0,
            )
        )
    return tuple(result)


def _read_sources(checks: Checks, sources: draws_pb2.DrawEntrySources, present: bool) -> Sources:
    direct = sources.direct
    checks.count("spec.sources.direct.cost_points", direct.cost_points, minimum=0, maximum=_POINTS_MAX)
    maximum = direct.max_entries_per_member or 1
    checks.count(
        "spec.sources.direct.max_entries_per_member", maximum, minimum=1, maximum=ENTRIES_PER_CALL_MAX
    )
    for name in ("entries_per_passport", "entries_per_challenge"):
        checks.count(f"spec.sources.{name}", getattr(sources, name), minimum=0, maximum=1000)
    spend: SpendSource | None = None
    if sources.HasField("spend"):
        wanted = sources.spend
        channel = _CHANNELS.get(wanted.channel, "") if wanted.channel else ""
        if wanted.channel and not channel:
            checks.fail("spec.sources.spend.channel", "unknown channel")
        if not _CURRENCY.match(wanted.currency):
            checks.fail("spec.sources.spend.currency", "an ISO 4217 code such as EUR")
        checks.count(
            "spec.sources.spend.spend_step_minor", wanted.spend_step_minor, minimum=1, maximum=10**12
        )
        checks.count("spec.sources.spend.entries_per_step", wanted.entries_per_step, minimum=1, maximum=1000)
        spend = SpendSource(
            channel=channel,
            currency=wanted.currency,
            spend_step_minor=wanted.spend_step_minor,
            entries_per_step=wanted.entries_per_step,
        )
    result = Sources(
        direct=DirectSource(
            enabled=direct.enabled, cost_points=direct.cost_points, max_entries_per_member=maximum
        ),
        entries_per_passport=sources.entries_per_passport,
        entries_per_challenge=sources.entries_per_challenge,
        game_entries=sources.game_entries,
        spend=spend,
    )
    if not present or result == Sources(direct=DirectSource(max_entries_per_member=maximum)):
        checks.fail("spec.sources", "at least one entry source")
    return result


def read_spec(checks: Checks, spec: draws_pb2.DrawSpec, *, present: bool, now: datetime) -> DrawSpec | None:
    """The validated spec, or None with the violations in `checks`; a new window must not have closed."""
    if not present:
        checks.fail("spec", "required")
        return None
    name = checks.text("spec.name", spec.name, max_length=128)
    description = checks.text("spec.description", spec.description, required=False, max_length=2000)
    opens_at, closes_at = checks.window(
        spec, "opens_at", "closes_at", prefix="spec.", start_required=True, end_required=True
    )
    if opens_at is not None and closes_at is not None and opens_at < closes_at <= now:
        checks.fail("spec.closes_at", "must be in the future")
    prizes = _read_prizes(checks, list(spec.prizes))
    sources = _read_sources(checks, spec.sources, spec.HasField("sources"))
    beacon_source = checks.text("spec.beacon_source", spec.beacon_source, required=False)
    if checks.violations or opens_at is None or closes_at is None:
        return None
    return DrawSpec(
        name=name,
        description=description,
        opens_at=opens_at,
        closes_at=closes_at,
        prizes=prizes,
        sources=sources,
        beacon_source=beacon_source,
    )


def spec_message(spec: DrawSpec) -> draws_pb2.DrawSpec:
    message = draws_pb2.DrawSpec(
        name=spec.name,
        description=spec.description,
        opens_at=to_timestamp(spec.opens_at),
        closes_at=to_timestamp(spec.closes_at),
        beacon_source=spec.beacon_source,
    )
    for prize in spec.prizes:
        line = message.prizes.add(prize_id=prize.prize_id, name=prize.name, quantity=prize.quantity)
        if prize.reward_id is not None:
            line.reward_id = prize.reward_id
        else:
            line.points = prize.points
    sources, direct = message.sources, spec.sources.direct
    sources.direct.CopyFrom(
        draws_pb2.DirectEntrySource(
            enabled=direct.enabled,
            cost_points=direct.cost_points,
            max_entries_per_member=direct.max_entries_per_member,
        )
    )
    sources.entries_per_passport = spec.sources.entries_per_passport
    sources.entries_per_challenge = spec.sources.entries_per_challenge
    sources.game_entries = spec.sources.game_entries
    spend = spec.sources.spend
    if spend is not None:
        sources.spend.CopyFrom(
            draws_pb2.SpendEntrySource(
                channel=CHANNEL_TO_PROTO.get(spend.channel, common_pb2.CHANNEL_UNSPECIFIED),
                currency=spend.currency,
                spend_step_minor=spend.spend_step_minor,
                entries_per_step=spend.entries_per_step,
            )
        )
    return message


def draw_message(draw: DrawRow, *, now: datetime) -> draws_pb2.Draw:
    """The public view of a draw: never the seed before the run."""
    state = draw_state(
        now, opens_at=draw.spec.opens_at, closes_at=draw.spec.closes_at, drawn=draw.drawn_at is not None
    )
    message = draws_pb2.Draw(
        draw_id=draw.draw_id,
        spec=spec_message(draw.spec),
        status=_STATUS[state],
        commitment=draw.commitment,
        created_at=to_timestamp(draw.created_at),
    )
    if draw.frozen_at is not None:
        message.entry_count = draw.entry_count or 0
        message.entries_digest = draw.entries_digest or ""
        message.frozen_at.CopyFrom(to_timestamp(draw.frozen_at))
    if draw.drawn_at is not None:
        message.drawn_at.CopyFrom(to_timestamp(draw.drawn_at))
    return message


def result_message(
    result: domain.DrawResult, *, drawn_at: datetime, include_entries: bool
) -> draws_pb2.DrawResult:
    message = draws_pb2.DrawResult(
        draw_id=result.draw_id,
        commitment=result.commitment,
        seed=result.seed.hex(),
        entries_digest=result.entries_digest,
        entry_count=len(result.entries),
        drawn_at=to_timestamp(drawn_at),
        slots=[draws_pb2.DrawSlot(slot=s.slot, prize_id=s.prize_id) for s in result.slots],
        winners=[
            draws_pb2.DrawWinner(
                slot=w.slot, prize_id=w.prize_id, entry_id=w.entry_id, member_ref=w.member_ref
            )
            for w in result.winners
        ],
    )
    if result.beacon is not None:
        message.beacon = result.beacon
    if include_entries:
        message.entries.extend(
            draws_pb2.DrawEntry(position=e.position, entry_id=e.entry_id, member_ref=e.member_ref)
            for e in result.entries
        )
    return message
