"""One play, inside the PlayGame transaction: limits, cost, CSPRNG outcome, grant, stock, audit row, event.

Lock order: the member's ledger (serialises the member's limits and balances), then the game row FOR KEY
SHARE (plays share it; UpdateGame takes it FOR UPDATE, so a play never runs against a prize table being
replaced), then the game's limited prizes in prize-id order (serialises their stock and daily caps
across every replica). The outcome is drawn only after the locks are held, from counters read under
them, so a cap is never exceeded.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from google.protobuf import json_format
from loyalty.v1 import events_pb2, games_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.draws import api as draws_api
from loyalty_service.errors import FailedPrecondition, NotFound
from loyalty_service.events import outbox
from loyalty_service.games import leaderboard, store
from loyalty_service.games.limits import PlayCostKind, check_play, day_bounds, day_of
from loyalty_service.games.prizes import (
    NO_PRIZE,
    DrawEntriesGrant,
    PlayTokensGrant,
    PointsGrant,
    Prize,
    RewardGrant,
    StampGrant,
    choose,
    effective_table,
)
from loyalty_service.games.specs import rules_of
from loyalty_service.kernel.ids import new_id
from loyalty_service.ledger import api as ledger_api
from loyalty_service.passports import api as passports_api
from loyalty_service.proto_time import to_timestamp
from loyalty_service.rewards import api as rewards_api

__all__ = ["play_game"]


async def _pay(
    conn: AsyncConnection, play: games_pb2.Play, *, now: datetime, credential_id: str, channel: str
) -> None:
    if play.cost_kind == games_pb2.PLAY_COST_KIND_POINTS:
        await ledger_api.debit_points(
            conn,
            member_id=play.member_id,
            points=play.cost_amount,
            entry_type=ledger_api.EntryType.GAME_PLAY,
            cause=_cause(play, now, channel),
            now=now,
            credential_id=credential_id,
        )
    elif play.cost_kind == games_pb2.PLAY_COST_KIND_PLAY_TOKENS:
        await ledger_api.move_play_tokens(
            conn,
            member_id=play.member_id,
            tokens=-play.cost_amount,
            source_type="game_play",
            source_ref=play.play_id,
            now=now,
        )


def _cause(play: games_pb2.Play, now: datetime, channel: str) -> ledger_api.Cause:
    return ledger_api.Cause(
        channel=channel, source_type="game", source_ref=play.play_id, reason=play.game_id, occurred_at=now
    )


async def _grant(
    conn: AsyncConnection,
    prize: Prize,
    play: games_pb2.Play,
    *,
    now: datetime,
    credential_id: str,
    channel: str,
) -> None:
    grant = prize.grant
    if isinstance(grant, PointsGrant):
        await ledger_api.credit_points(
            conn,
            member_id=play.member_id,
            points=grant.points,
            entry_type=ledger_api.EntryType.GAME_WIN,
            cause=_cause(play, now, channel),
            now=now,
            credential_id=credential_id,
        )
    elif isinstance(grant, PlayTokensGrant):
        await ledger_api.move_play_tokens(
            conn,
            member_id=play.member_id,
            tokens=grant.tokens,
            source_type="game_win",
            source_ref=play.play_id,
            now=now,
        )
    elif isinstance(grant, RewardGrant):
        issued = await rewards_api.issue_voucher(
            conn,
            member_id=play.member_id,
            reward_id=grant.reward_id,
            source_type="game",
            source_ref=play.play_id,
            now=now,
            credential_id=credential_id,
            charge_points=False,
            channel=channel,
        )
        play.voucher_id = issued.voucher_id
    elif isinstance(grant, DrawEntriesGrant):
        ids = await draws_api.grant_entries(
            conn,
            draw_id=grant.draw_id,
            member_id=play.member_id,
            count=grant.entries,
            source_type="game",
            source_ref=play.play_id,
            now=now,
        )
        play.draw_entry_ids.extend(ids)
    else:
        assert isinstance(grant, StampGrant)
        await passports_api.award_stamp(
            conn,
            member_id=play.member_id,
            passport_id=grant.passport_id,
            stamp_id=grant.stamp_id,
            source=passports_api.StampSource(
                channel=channel, store_id="", source_type="game", source_ref=play.play_id, event_id=0
            ),
            now=now,
        )


async def play_game(
    conn: AsyncConnection, *, game_id: str, member_id: str, now: datetime, credential_id: str, channel: str
) -> games_pb2.PlayGameResponse:
    """Play once for the member; `channel` is where the caller plays (the app, or the web shop for it)."""
    await ledger_api.lock_ledger(conn, member_id)
    game = await store.get_game(conn, game_id, share=True)  # an UpdateGame waits for this play
    if game is None:
        raise NotFound("game", game_id)
    rules = rules_of(game.spec)
    today = day_of(now, rules.zone)
    start, end = day_bounds(today, rules.zone)
    plays_today, plays_total = await store.count_plays(
        conn, member_id=member_id, game_id=game_id, since=start, until=end
    )
    refusal = check_play(rules.limits, plays_today, plays_total, now, rules.window)
    if refusal is not None:
        raise FailedPrecondition(
            f"game {game_id}: {refusal.value}", reason=refusal.value, metadata={"game_id": game_id}
        )
    play = games_pb2.Play(
        play_id=new_id("play"),
        game_id=game_id,
        member_id=member_id,
        played_at=to_timestamp(now),
        cost_kind=rules.spec.cost_kind,
        cost_amount=rules.spec.cost_amount,
    )
    if rules.cost.kind is not PlayCostKind.FREE:
        await _pay(conn, play, now=now, credential_id=credential_id, channel=channel)
    await store.lock_prizes(conn, game_id, rules.limited())
    prizes = rules.prizes(await store.prize_stock(conn, game_id), await store.won_on(conn, game_id, today))
    table = effective_table(prizes, rules.spec.no_prize_weight)
    choice = choose(table, secrets.randbelow)
    play.draw, play.total_weight = choice.draw, choice.total_weight
    if choice.outcome is not NO_PRIZE:
        prize = choice.outcome
        spec_prize = next(p for p in rules.spec.prizes if p.prize_id == prize.prize_id)
        play.won, play.prize_id, play.prize_name = True, prize.prize_id, spec_prize.name
        play.grant.CopyFrom(spec_prize.grant)
        await store.record_win(conn, game_id=game_id, prize_id=prize.prize_id, day=today)
        await _grant(conn, prize, play, now=now, credential_id=credential_id, channel=channel)
        await leaderboard.add_score(conn, member_id=member_id, board=f"game:{game_id}", points=1, now=now)
    await store.insert_play(
        conn,
        member_id=member_id,
        play_id=play.play_id,
        game_id=game_id,
        played_at=now,
        day=today,
        prize_id=play.prize_id or None,
        draw=choice.draw,
        total_weight=choice.total_weight,
        prize_table=[["" if o is NO_PRIZE else o.prize_id, w] for o, w in table],
        play=json_format.MessageToDict(play, preserving_proto_field_name=True),
    )
    await outbox.append(
        conn,
        member_id=member_id,
        occurred_at=now,
        payload=events_pb2.EventPayload(game_played=games_pb2.GamePlayed(play=play)),
    )
    return games_pb2.PlayGameResponse(
        play=play,
        points_available=await ledger_api.available_points(conn, member_id),
        play_tokens=await ledger_api.play_token_balance(conn, member_id),
    )
