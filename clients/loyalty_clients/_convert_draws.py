"""Draws, entries and verifiable results: generated messages <-> the client's dataclasses, both directions
(a result back to the export JSON is in `_ops_draws.py`)."""

from __future__ import annotations

from loyalty.v1 import draws_pb2

from loyalty_clients import _challenge_draw_models as cd
from loyalty_clients._convert import CHANNEL_TO_PROTO, channel_of, enum_from_proto, timestamp, utc, when

_DRAW_STATUSES = enum_from_proto(cd.DrawStatus, draws_pb2.DrawStatus, "DRAW_STATUS_")


def _prize_message(x: cd.DrawPrize) -> draws_pb2.DrawPrize:
    message = draws_pb2.DrawPrize(prize_id=x.prize_id, name=x.name, quantity=x.quantity)
    if x.points is not None:
        message.points = x.points
    elif x.reward_id is not None:
        message.reward_id = x.reward_id
    return message


def _prize(x: draws_pb2.DrawPrize) -> cd.DrawPrize:
    return cd.DrawPrize(
        prize_id=x.prize_id,
        name=x.name,
        quantity=x.quantity,
        points=x.points if x.HasField("points") else None,
        reward_id=x.reward_id if x.HasField("reward_id") else None,
    )


def _sources_message(x: cd.DrawEntrySources) -> draws_pb2.DrawEntrySources:
    message = draws_pb2.DrawEntrySources(
        entries_per_passport=x.entries_per_passport,
        entries_per_challenge=x.entries_per_challenge,
        game_entries=x.game_entries,
    )
    if (direct := x.direct) is not None:
        message.direct.CopyFrom(
            draws_pb2.DirectEntrySource(
                enabled=direct.enabled,
                cost_points=direct.cost_points,
                max_entries_per_member=direct.max_entries_per_member,
            )
        )
    if (spend := x.spend) is not None:
        message.spend.CopyFrom(
            draws_pb2.SpendEntrySource(
                channel=CHANNEL_TO_PROTO[spend.channel],
                currency=spend.currency,
                spend_step_minor=spend.spend_step_minor,
                entries_per_step=spend.entries_per_step,
            )
        )
    return message


def _sources(x: draws_pb2.DrawEntrySources) -> cd.DrawEntrySources:
    direct = spend = None
    if x.HasField("direct"):
        direct = cd.DirectEntrySource(
            enabled=x.direct.enabled,
            cost_points=x.direct.cost_points,
            max_entries_per_member=x.direct.max_entries_per_member,
        )
    if x.HasField("spend"):
        spend = cd.SpendEntrySource(
            channel=channel_of(x.spend.channel),
            currency=x.spend.currency,
            spend_step_minor=x.spend.spend_step_minor,
            entries_per_step=x.spend.entries_per_step,
        )
    return cd.DrawEntrySources(
        direct=direct,
        entries_per_passport=x.entries_per_passport,
        entries_per_challenge=x.entries_per_challenge,
        game_entries=x.game_entries,
        spend=spend,
    )


def draw_spec_message(x: cd.DrawSpec) -> draws_pb2.DrawSpec:
    return draws_pb2.DrawSpec(
        name=x.name,
        description=x.description,
        opens_at=timestamp(x.opens_at),
        closes_at=timestamp(x.closes_at),
        prizes=[_prize_message(p) for p in x.prizes],
        sources=_sources_message(x.sources),
        beacon_source=x.beacon_source,
    )


def draw_spec(x: draws_pb2.DrawSpec) -> cd.DrawSpec:
    return cd.DrawSpec(
        name=x.name,
        description=x.description,
        opens_at=utc(x.opens_at),
        closes_at=utc(x.closes_at),
        prizes=tuple(_prize(p) for p in x.prizes),
        sources=_sources(x.sources),
        beacon_source=x.beacon_source,
    )


def draw(x: draws_pb2.Draw) -> cd.Draw:
    return cd.Draw(
        draw_id=x.draw_id,
        spec=draw_spec(x.spec),
        status=_DRAW_STATUSES.get(x.status),
        commitment=x.commitment,
        entry_count=x.entry_count,
        entries_digest=x.entries_digest,
        frozen_at=when(x, "frozen_at"),
        drawn_at=when(x, "drawn_at"),
        created_at=when(x, "created_at"),
    )


def draw_details(x: draws_pb2.GetDrawResponse) -> cd.DrawDetails:
    return cd.DrawDetails(draw=draw(x.draw), my_entry_count=x.my_entry_count)


def entered_draw(x: draws_pb2.EnterDrawResponse) -> cd.EnteredDraw:
    return cd.EnteredDraw(
        entry_ids=tuple(x.entry_ids), points_spent=x.points_spent, direct_entries=x.direct_entries
    )


def _winner(x: draws_pb2.DrawWinner) -> cd.DrawWinner:
    return cd.DrawWinner(slot=x.slot, prize_id=x.prize_id, entry_id=x.entry_id, member_ref=x.member_ref)


def draw_result(x: draws_pb2.DrawResult) -> cd.DrawResult:
    return cd.DrawResult(
        draw_id=x.draw_id,
        commitment=x.commitment,
        seed=x.seed,
        beacon=x.beacon if x.HasField("beacon") else None,
        entries=tuple(
            cd.DrawEntry(position=e.position, entry_id=e.entry_id, member_ref=e.member_ref) for e in x.entries
        ),
        entries_digest=x.entries_digest,
        slots=tuple(cd.DrawSlot(slot=s.slot, prize_id=s.prize_id) for s in x.slots),
        winners=tuple(_winner(w) for w in x.winners),
        entry_count=x.entry_count,
        drawn_at=when(x, "drawn_at"),
    )


def _outcome(x: draws_pb2.MemberDrawOutcome) -> cd.MemberDrawOutcome:
    return cd.MemberDrawOutcome(
        member_ref=x.member_ref, entry_count=x.entry_count, won=x.won, wins=tuple(_winner(w) for w in x.wins)
    )


def draw_result_report(x: draws_pb2.GetDrawResultResponse) -> cd.DrawResultReport:
    return cd.DrawResultReport(
        result=draw_result(x.result), my_outcome=_outcome(x.my_outcome) if x.HasField("my_outcome") else None
    )
