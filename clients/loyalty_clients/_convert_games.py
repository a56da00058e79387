"""Games, plays, play-token rules, leaderboards and passports: generated messages <-> the client's
dataclasses, both directions (challenges and draws: `_convert_challenges.py`, `_convert_draws.py`)."""

from __future__ import annotations

from loyalty.v1 import games_pb2, passports_pb2

from loyalty_clients import _games_models as g
from loyalty_clients._convert import (
    CHANNEL_FROM_PROTO,
    channels,
    channels_of,
    enum_from_proto,
    enum_to_proto,
    optional_timestamp,
    timestamp,
    utc,
    when,
)

COST_KIND_TO_PROTO = enum_to_proto(g.PlayCostKind, games_pb2.PlayCostKind, "PLAY_COST_KIND_")
_COST_KINDS = enum_from_proto(g.PlayCostKind, games_pb2.PlayCostKind, "PLAY_COST_KIND_")
SCOPE_TO_PROTO = enum_to_proto(g.LeaderboardScope, games_pb2.LeaderboardScope, "LEADERBOARD_SCOPE_")
PERIOD_TO_PROTO = enum_to_proto(g.LeaderboardPeriod, games_pb2.LeaderboardPeriod, "LEADERBOARD_PERIOD_")


# --- games ----------------------------------------------------------------------------------------


def grant_message(x: g.PrizeGrant) -> games_pb2.PrizeGrant:
    message = games_pb2.PrizeGrant()
    if x.points is not None:
        message.points = x.points
    elif x.reward_id is not None:
        message.reward_id = x.reward_id
    elif x.stamp is not None:
        message.stamp.CopyFrom(games_pb2.StampRef(passport_id=x.stamp.passport_id, stamp_id=x.stamp.stamp_id))
    elif x.draw_entries is not None:
        message.draw_entries.CopyFrom(
            games_pb2.DrawEntriesRef(draw_id=x.draw_entries.draw_id, entries=x.draw_entries.entries)
        )
    elif x.play_tokens is not None:
        message.play_tokens = x.play_tokens
    return message


def grant(x: games_pb2.PrizeGrant) -> g.PrizeGrant | None:
    match x.WhichOneof("grant"):
        case "points":
            return g.PrizeGrant(points=x.points)
        case "reward_id":
            return g.PrizeGrant(reward_id=x.reward_id)
        case "stamp":
            return g.PrizeGrant(stamp=g.StampRef(passport_id=x.stamp.passport_id, stamp_id=x.stamp.stamp_id))
        case "draw_entries":
            ref = g.DrawEntriesRef(draw_id=x.draw_entries.draw_id, entries=x.draw_entries.entries)
            return g.PrizeGrant(draw_entries=ref)
        case "play_tokens":
            return g.PrizeGrant(play_tokens=x.play_tokens)
    return None


def _prize_message(x: g.GamePrize) -> games_pb2.GamePrize:
    return games_pb2.GamePrize(
        prize_id=x.prize_id,
        name=x.name,
        weight=x.weight,
        stock=x.stock,
        daily_cap=x.daily_cap,
        grant=grant_message(x.grant),
    )


def _prize(x: games_pb2.GamePrize) -> g.GamePrize:
    return g.GamePrize(
        prize_id=x.prize_id,
        name=x.name,
        weight=x.weight,
        stock=x.stock if x.HasField("stock") else None,
        daily_cap=x.daily_cap if x.HasField("daily_cap") else None,
        grant=grant(x.grant) or g.PrizeGrant(),
    )


def game_spec_message(x: g.GameSpec) -> games_pb2.GameSpec:
    return games_pb2.GameSpec(
        name=x.name,
        description=x.description,
        opens_at=timestamp(x.opens_at),
        closes_at=optional_timestamp(x.closes_at),
        cost_kind=COST_KIND_TO_PROTO[x.cost_kind],
        cost_amount=x.cost_amount,
        plays_per_day=x.plays_per_day,
        plays_total=x.plays_total,
        no_prize_weight=x.no_prize_weight,
        timezone=x.timezone,
        prizes=[_prize_message(p) for p in x.prizes],
    )


def game_spec(x: games_pb2.GameSpec) -> g.GameSpec:
    return g.GameSpec(
        name=x.name,
        description=x.description,
        opens_at=utc(x.opens_at),
        closes_at=when(x, "closes_at"),
        cost_kind=_COST_KINDS.get(x.cost_kind, g.PlayCostKind.FREE),
        cost_amount=x.cost_amount,
        plays_per_day=x.plays_per_day if x.HasField("plays_per_day") else None,
        plays_total=x.plays_total if x.HasField("plays_total") else None,
        no_prize_weight=x.no_prize_weight,
        timezone=x.timezone,
        prizes=tuple(_prize(p) for p in x.prizes),
    )


def _odds(x: games_pb2.PrizeOdds) -> g.PrizeOdds:
    return g.PrizeOdds(
        prize_id=x.prize_id,
        name=x.name,
        parts_per_million=x.parts_per_million,
        available=x.available,
        stock_remaining=x.stock_remaining if x.HasField("stock_remaining") else None,
    )


def game(x: games_pb2.Game) -> g.Game:
    return g.Game(
        game_id=x.game_id,
        spec=game_spec(x.spec),
        odds=tuple(_odds(o) for o in x.odds),
        no_prize_parts_per_million=x.no_prize_parts_per_million,
        created_at=when(x, "created_at"),
        updated_at=when(x, "updated_at"),
    )


def _offer(x: games_pb2.MemberGame) -> g.GameOffer:
    return g.GameOffer(
        game=game(x.game),
        can_play=x.can_play,
        refusal=x.refusal,
        plays_left=x.plays_left if x.HasField("plays_left") else None,
    )


def game_list(x: games_pb2.ListGamesResponse) -> g.GameList:
    return g.GameList(games=tuple(_offer(o) for o in x.games), play_tokens=x.play_tokens)


def play(x: games_pb2.Play) -> g.Play:
    return g.Play(
        play_id=x.play_id,
        game_id=x.game_id,
        member_id=x.member_id,
        played_at=when(x, "played_at"),
        won=x.won,
        prize_id=x.prize_id,
        prize_name=x.prize_name,
        grant=grant(x.grant) if x.HasField("grant") else None,
        draw=x.draw,
        total_weight=x.total_weight,
        cost_kind=_COST_KINDS.get(x.cost_kind),
        cost_amount=x.cost_amount,
        voucher_id=x.voucher_id,
        draw_entry_ids=tuple(x.draw_entry_ids),
    )


def play_result(x: games_pb2.PlayGameResponse) -> g.PlayResult:
    return g.PlayResult(play=play(x.play), points_available=x.points_available, play_tokens=x.play_tokens)


def play_token_rule_message(x: g.PlayTokenRule) -> games_pb2.PlayTokenRule:
    return games_pb2.PlayTokenRule(
        rule_id=x.rule_id,
        name=x.name,
        channels=channels(x.channels),
        currency=x.currency,
        min_amount_minor=x.min_amount_minor,
        tokens=x.tokens,
        valid_from=optional_timestamp(x.valid_from),
        valid_to=optional_timestamp(x.valid_to),
    )


def play_token_rule(x: games_pb2.PlayTokenRule) -> g.PlayTokenRule:
    return g.PlayTokenRule(
        rule_id=x.rule_id,
        name=x.name,
        channels=channels_of(x.channels),
        currency=x.currency,
        min_amount_minor=x.min_amount_minor,
        tokens=x.tokens,
        valid_from=when(x, "valid_from"),
        valid_to=when(x, "valid_to"),
    )


# --- leaderboards ---------------------------------------------------------------------------------


def _row(x: games_pb2.LeaderboardRow) -> g.LeaderboardRow:
    return g.LeaderboardRow(rank=x.rank, display_name=x.display_name, score=x.score, is_me=x.is_me)


def leaderboard(x: games_pb2.GetLeaderboardResponse) -> g.Leaderboard:
    return g.Leaderboard(
        top=tuple(_row(r) for r in x.top),
        me=_row(x.me) if x.HasField("me") else None,
        period_key=x.period_key,
    )


def leaderboard_settings(x: games_pb2.LeaderboardSettings) -> g.LeaderboardSettings:
    return g.LeaderboardSettings(display_name=x.display_name, opted_out=x.opted_out, pseudonym=x.pseudonym)


# --- passports ------------------------------------------------------------------------------------


def _stamp_definition_message(x: g.StampDefinition) -> passports_pb2.StampDefinition:
    message = passports_pb2.StampDefinition(stamp_id=x.stamp_id, name=x.name)
    match x.condition:
        case g.PurchaseCondition() as p:
            message.purchase.CopyFrom(
                passports_pb2.PurchaseCondition(
                    channels=channels(p.channels),
                    store_ids=p.store_ids,
                    categories=p.categories,
                    min_amount_minor=p.min_amount_minor,
                    currency=p.currency,
                )
            )
        case g.GameCondition() as gc:
            message.game.CopyFrom(passports_pb2.GameCondition(game_id=gc.game_id, won_only=gc.won_only))
        case g.ChallengeCondition() as cc:
            message.challenge.CopyFrom(passports_pb2.ChallengeCondition(challenge_id=cc.challenge_id))
        case g.VoucherCondition() as vc:
            message.voucher_used.CopyFrom(passports_pb2.VoucherCondition(reward_id=vc.reward_id))
    return message


def _stamp_condition(x: passports_pb2.StampDefinition) -> g.StampCondition | None:
    match x.WhichOneof("condition"):
        case "purchase":
            p = x.purchase
            return g.PurchaseCondition(
                channels=channels_of(p.channels),
                store_ids=tuple(p.store_ids),
                categories=tuple(p.categories),
                min_amount_minor=p.min_amount_minor,
                currency=p.currency,
            )
        case "game":
            return g.GameCondition(game_id=x.game.game_id, won_only=x.game.won_only)
        case "challenge":
            return g.ChallengeCondition(challenge_id=x.challenge.challenge_id)
        case "voucher_used":
            return g.VoucherCondition(reward_id=x.voucher_used.reward_id)
    return None


def passport_spec_message(x: g.PassportSpec) -> passports_pb2.PassportSpec:
    return passports_pb2.PassportSpec(
        name=x.name,
        description=x.description,
        opens_at=timestamp(x.opens_at),
        closes_at=optional_timestamp(x.closes_at),
        stamps=[_stamp_definition_message(s) for s in x.stamps],
        completion=passports_pb2.PassportCompletion(
            points=x.completion.points, reward_id=x.completion.reward_id, draw_id=x.completion.draw_id
        ),
        repeatable=x.repeatable,
    )


def passport_spec(x: passports_pb2.PassportSpec) -> g.PassportSpec:
    return g.PassportSpec(
        name=x.name,
        description=x.description,
        opens_at=utc(x.opens_at),
        closes_at=when(x, "closes_at"),
        stamps=tuple(
            g.StampDefinition(stamp_id=d.stamp_id, name=d.name, condition=_stamp_condition(d))
            for d in x.stamps
        ),
        completion=g.PassportCompletion(
            points=x.completion.points, reward_id=x.completion.reward_id, draw_id=x.completion.draw_id
        ),
        repeatable=x.repeatable,
    )


def passport(x: passports_pb2.Passport) -> g.Passport:
    return g.Passport(
        passport_id=x.passport_id,
        spec=passport_spec(x.spec),
        created_at=when(x, "created_at"),
        updated_at=when(x, "updated_at"),
    )


def _stamp_progress(x: passports_pb2.StampProgress) -> g.StampProgress:
    return g.StampProgress(
        stamp_id=x.stamp_id,
        name=x.name,
        earned=x.earned,
        earned_at=when(x, "earned_at"),
        channel=CHANNEL_FROM_PROTO.get(x.channel) if x.earned else None,
        store_id=x.store_id,
        source_type=x.source_type,
        source_ref=x.source_ref,
    )


def passport_progress(x: passports_pb2.PassportProgress) -> g.PassportProgress:
    return g.PassportProgress(
        passport=passport(x.passport),
        cycle=x.cycle,
        stamps=tuple(_stamp_progress(s) for s in x.stamps),
        completions=x.completions,
    )
