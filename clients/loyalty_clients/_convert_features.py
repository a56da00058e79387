"""Where the generated messages of games, passports, leaderboards, challenges and draws meet the client's
dataclasses, both directions (the ledger's and members' conversions are in `_convert.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.v1 import challenges_pb2, common_pb2, draws_pb2, games_pb2, passports_pb2

from loyalty_clients import _challenge_draw_models as cd
from loyalty_clients import _games_models as g
from loyalty_clients._convert import CHANNEL_TO_PROTO, timestamp, when
from loyalty_clients._models import Channel

_CHANNELS = {v: k for k, v in CHANNEL_TO_PROTO.items()}
COST_KIND_TO_PROTO = {
    g.PlayCostKind.POINTS: games_pb2.PLAY_COST_KIND_POINTS,
    g.PlayCostKind.PLAY_TOKENS: games_pb2.PLAY_COST_KIND_PLAY_TOKENS,
    g.PlayCostKind.FREE: games_pb2.PLAY_COST_KIND_FREE,
}
_COST_KINDS = {v: k for k, v in COST_KIND_TO_PROTO.items()}
SCOPE_TO_PROTO = {
    g.LeaderboardScope.GAME: games_pb2.LEADERBOARD_SCOPE_GAME,
    g.LeaderboardScope.PASSPORT: games_pb2.LEADERBOARD_SCOPE_PASSPORT,
    g.LeaderboardScope.CHALLENGE: games_pb2.LEADERBOARD_SCOPE_CHALLENGE,
}
PERIOD_TO_PROTO = {
    g.LeaderboardPeriod.WEEK: games_pb2.LEADERBOARD_PERIOD_WEEK,
    g.LeaderboardPeriod.MONTH: games_pb2.LEADERBOARD_PERIOD_MONTH,
    g.LeaderboardPeriod.ALL_TIME: games_pb2.LEADERBOARD_PERIOD_ALL_TIME,
}
_DRAW_STATUSES = {
    draws_pb2.DRAW_STATUS_SCHEDULED: cd.DrawStatus.SCHEDULED,
    draws_pb2.DRAW_STATUS_OPEN: cd.DrawStatus.OPEN,
    draws_pb2.DRAW_STATUS_CLOSED: cd.DrawStatus.CLOSED,
    draws_pb2.DRAW_STATUS_DRAWN: cd.DrawStatus.DRAWN,
}


def _channels(values: Iterable[Channel]) -> list[common_pb2.Channel.ValueType]:
    return [CHANNEL_TO_PROTO[x] for x in values]


def _from_channels(values: Iterable[common_pb2.Channel.ValueType]) -> tuple[Channel, ...]:
    return tuple(_CHANNELS.get(x, Channel.UNSPECIFIED) for x in values)


def _stamp(value: datetime | None) -> Timestamp | None:
    return None if value is None else timestamp(value)


def _at(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


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


def game_spec_message(x: g.GameSpec) -> games_pb2.GameSpec:
    message = games_pb2.GameSpec(
        name=x.name,
        description=x.description,
        opens_at=timestamp(x.opens_at),
        closes_at=_stamp(x.closes_at),
        cost_kind=COST_KIND_TO_PROTO[x.cost_kind],
        cost_amount=x.cost_amount,
        plays_per_day=x.plays_per_day,
        plays_total=x.plays_total,
        no_prize_weight=x.no_prize_weight,
        timezone=x.timezone,
    )
    for prize in x.prizes:
        message.prizes.append(
            games_pb2.GamePrize(
                prize_id=prize.prize_id,
                name=prize.name,
                weight=prize.weight,
                stock=prize.stock,
                daily_cap=prize.daily_cap,
                grant=grant_message(prize.grant),
            )
        )
    return message


def game_spec(x: games_pb2.GameSpec) -> g.GameSpec:
    return g.GameSpec(
        name=x.name,
        description=x.description,
        opens_at=_at(x.opens_at),
        closes_at=when(x, "closes_at"),
        cost_kind=_COST_KINDS.get(x.cost_kind, g.PlayCostKind.FREE),
        cost_amount=x.cost_amount,
        plays_per_day=x.plays_per_day if x.HasField("plays_per_day") else None,
        plays_total=x.plays_total if x.HasField("plays_total") else None,
        no_prize_weight=x.no_prize_weight,
        timezone=x.timezone,
        prizes=tuple(
            g.GamePrize(
                prize_id=p.prize_id,
                name=p.name,
                weight=p.weight,
                stock=p.stock if p.HasField("stock") else None,
                daily_cap=p.daily_cap if p.HasField("daily_cap") else None,
                grant=grant(p.grant) or g.PrizeGrant(),
            )
            for p in x.prizes
        ),
    )


def game(x: games_pb2.Game) -> g.Game:
    return g.Game(
        game_id=x.game_id,
        spec=game_spec(x.spec),
        odds=tuple(
            g.PrizeOdds(
                prize_id=o.prize_id,
                name=o.name,
                parts_per_million=o.parts_per_million,
                available=o.available,
                stock_remaining=o.stock_remaining if o.HasField("stock_remaining") else None,
            )
            for o in x.odds
        ),
        no_prize_parts_per_million=x.no_prize_parts_per_million,
        created_at=when(x, "created_at"),
        updated_at=when(x, "updated_at"),
    )


def game_list(x: games_pb2.ListGamesResponse) -> g.GameList:
    return g.GameList(
        games=tuple(
            g.GameOffer(
                game=game(o.game),
                can_play=o.can_play,
                refusal=o.refusal,
                plays_left=o.plays_left if o.HasField("plays_left") else None,
            )
            for o in x.games
        ),
        play_tokens=x.play_tokens,
    )


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


def play_token_rule_message(x: g.PlayTokenRule) -> games_pb2.PlayTokenRule:
    return games_pb2.PlayTokenRule(
        rule_id=x.rule_id,
        name=x.name,
        channels=_channels(x.channels),
        currency=x.currency,
        min_amount_minor=x.min_amount_minor,
        tokens=x.tokens,
        valid_from=_stamp(x.valid_from),
        valid_to=_stamp(x.valid_to),
    )


def play_token_rule(x: games_pb2.PlayTokenRule) -> g.PlayTokenRule:
    return g.PlayTokenRule(
        rule_id=x.rule_id,
        name=x.name,
        channels=_from_channels(x.channels),
        currency=x.currency,
        min_amount_minor=x.min_amount_minor,
        tokens=x.tokens,
        valid_from=when(x, "valid_from"),
        valid_to=when(x, "valid_to"),
    )


# --- passports ------------------------------------------------------------------------------------


def _stamp_definition_message(x: g.StampDefinition) -> passports_pb2.StampDefinition:
    message = passports_pb2.StampDefinition(stamp_id=x.stamp_id, name=x.name)
    match x.condition:
        case g.PurchaseCondition() as p:
            message.purchase.CopyFrom(
                passports_pb2.PurchaseCondition(
                    channels=_channels(p.channels),
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
                channels=_from_channels(p.channels),
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
        closes_at=_stamp(x.closes_at),
        stamps=[_stamp_definition_message(s) for s in x.stamps],
        completion=passports_pb2.PassportCompletion(
            points=x.completion.points, reward_id=x.completion.reward_id, draw_id=x.completion.draw_id
        ),
        repeatable=x.repeatable,
    )


def passport(x: passports_pb2.Passport) -> g.Passport:
    s = x.spec
    spec = g.PassportSpec(
        name=s.name,
        description=s.description,
        opens_at=_at(s.opens_at),
        closes_at=when(s, "closes_at"),
        stamps=tuple(
            g.StampDefinition(stamp_id=d.stamp_id, name=d.name, condition=_stamp_condition(d))
            for d in s.stamps
        ),
        completion=g.PassportCompletion(
            points=s.completion.points, reward_id=s.completion.reward_id, draw_id=s.completion.draw_id
        ),
        repeatable=s.repeatable,
    )
    return g.Passport(
        passport_id=x.passport_id,
        spec=spec,
        created_at=when(x, "created_at"),
        updated_at=when(x, "updated_at"),
    )


def passport_progress(x: passports_pb2.PassportProgress) -> g.PassportProgress:
    return g.PassportProgress(
        passport=passport(x.passport),
        cycle=x.cycle,
        stamps=tuple(
            g.StampProgress(
                stamp_id=s.stamp_id,
                name=s.name,
                earned=s.earned,
                earned_at=when(s, "earned_at"),
                channel=_CHANNELS.get(s.channel) if s.earned else None,
                store_id=s.store_id,
                source_type=s.source_type,
                source_ref=s.source_ref,
            )
            for s in x.stamps
        ),
        completions=x.completions,
    )


# --- challenges -----------------------------------------------------------------------------------


def place_spec_message(x: cd.PlaceSpec) -> challenges_pb2.PlaceSpec:
    return challenges_pb2.PlaceSpec(
        name=x.name,
        latitude=x.latitude,
        longitude=x.longitude,
        radius_m=x.radius_m,
        store_id=x.store_id,
        time_zone=x.time_zone,
        opening_hours=[
            challenges_pb2.OpeningHours(
                day_of_week=h.day_of_week, opens_minute=h.opens_minute, closes_minute=h.closes_minute
            )
            for h in x.opening_hours
        ],
    )


def place(x: challenges_pb2.Place) -> cd.Place:
    s = x.spec
    spec = cd.PlaceSpec(
        name=s.name,
        latitude=s.latitude,
        longitude=s.longitude,
        radius_m=s.radius_m,
        store_id=s.store_id,
        time_zone=s.time_zone,
        opening_hours=tuple(
            cd.OpeningHours(
                day_of_week=h.day_of_week, opens_minute=h.opens_minute, closes_minute=h.closes_minute
            )
            for h in s.opening_hours
        ),
    )
    return cd.Place(
        place_id=x.place_id,
        spec=spec,
        created_at=when(x, "created_at"),
        updated_at=when(x, "updated_at"),
        archived_at=when(x, "archived_at"),
    )


def place_page(x: challenges_pb2.ListPlacesResponse) -> cd.PlacePage:
    return cd.PlacePage(places=tuple(place(p) for p in x.places), next_page_token=x.next_page_token)


def challenge_spec_message(x: cd.ChallengeSpec) -> challenges_pb2.ChallengeSpec:
    return challenges_pb2.ChallengeSpec(
        name=x.name,
        description=x.description,
        opens_at=timestamp(x.opens_at),
        closes_at=_stamp(x.closes_at),
        place_ids=x.place_ids,
        goal_places=x.goal_places,
        requires_purchase=x.requires_purchase,
        repeat_period_days=x.repeat_period_days,
        grant=challenges_pb2.ChallengeGrant(
            points=x.grant.points, reward_id=x.grant.reward_id, stamp=x.grant.stamp, draw_id=x.grant.draw_id
        ),
    )


def challenge(x: challenges_pb2.Challenge) -> cd.Challenge:
    s = x.spec
    spec = cd.ChallengeSpec(
        name=s.name,
        description=s.description,
        opens_at=_at(s.opens_at),
        closes_at=when(s, "closes_at"),
        place_ids=tuple(s.place_ids),
        goal_places=s.goal_places,
        requires_purchase=s.requires_purchase,
        repeat_period_days=s.repeat_period_days,
        grant=cd.ChallengeGrant(
            points=s.grant.points, reward_id=s.grant.reward_id, stamp=s.grant.stamp, draw_id=s.grant.draw_id
        ),
    )
    return cd.Challenge(
        challenge_id=x.challenge_id,
        spec=spec,
        created_at=when(x, "created_at"),
        updated_at=when(x, "updated_at"),
    )


def challenge_progress(x: challenges_pb2.ChallengeProgress) -> cd.ChallengeProgress:
    return cd.ChallengeProgress(
        challenge_id=x.challenge_id,
        period=x.period,
        period_starts_at=when(x, "period_starts_at"),
        period_ends_at=when(x, "period_ends_at"),
        visited_place_ids=tuple(x.visited_place_ids),
        goal_places=x.goal_places,
        completed_at=when(x, "completed_at"),
    )


def _progress_of(x: object) -> cd.ChallengeProgress | None:
    return challenge_progress(x.progress) if x.HasField("progress") else None  # type: ignore[attr-defined]


def nearby_challenge(x: challenges_pb2.NearbyChallenge) -> cd.NearbyChallenge:
    return cd.NearbyChallenge(
        challenge=challenge(x.challenge),
        places=tuple(
            cd.NearbyPlace(
                place_id=p.place_id,
                name=p.name,
                latitude=p.latitude,
                longitude=p.longitude,
                radius_m=p.radius_m,
                distance_m=p.distance_m,
                visited=p.visited,
                open_now=p.open_now,
            )
            for p in x.places
        ),
        progress=_progress_of(x),
    )


def check_in_result(x: challenges_pb2.CheckInResponse) -> cd.CheckInResult:
    completion = None
    if x.HasField("completion"):
        c = x.completion
        completion = cd.ChallengeCompletion(
            challenge_id=c.challenge_id,
            period=c.period,
            completed_at=when(c, "completed_at"),
            points=c.points,
            ledger_entry_id=c.ledger_entry_id,
            voucher_id=c.voucher_id,
            draw_entry_ids=tuple(c.draw_entry_ids),
            stamp=c.stamp,
            skipped=tuple(c.skipped),
        )
    return cd.CheckInResult(
        checkin_id=x.checkin_id,
        distance_band=x.distance_band,
        accuracy_band=x.accuracy_band,
        progress=_progress_of(x),
        completion=completion,
    )


def challenge_standing(x: challenges_pb2.GetChallengeProgressResponse) -> cd.ChallengeStanding:
    return cd.ChallengeStanding(
        challenge=challenge(x.challenge) if x.HasField("challenge") else None, progress=_progress_of(x)
    )


# --- draws ----------------------------------------------------------------------------------------


def _draw_prize_message(x: cd.DrawPrize) -> draws_pb2.DrawPrize:
    message = draws_pb2.DrawPrize(prize_id=x.prize_id, name=x.name, quantity=x.quantity)
    if x.points is not None:
        message.points = x.points
    elif x.reward_id is not None:
        message.reward_id = x.reward_id
    return message


def draw_spec_message(x: cd.DrawSpec) -> draws_pb2.DrawSpec:
    sources = draws_pb2.DrawEntrySources(
        entries_per_passport=x.sources.entries_per_passport,
        entries_per_challenge=x.sources.entries_per_challenge,
        game_entries=x.sources.game_entries,
    )
    if (direct := x.sources.direct) is not None:
        sources.direct.CopyFrom(
            draws_pb2.DirectEntrySource(
                enabled=direct.enabled,
                cost_points=direct.cost_points,
                max_entries_per_member=direct.max_entries_per_member,
            )
        )
    if (spend := x.sources.spend) is not None:
        sources.spend.CopyFrom(
            draws_pb2.SpendEntrySource(
                channel=CHANNEL_TO_PROTO[spend.channel],
                currency=spend.currency,
                spend_step_minor=spend.spend_step_minor,
                entries_per_step=spend.entries_per_step,
            )
        )
    return draws_pb2.DrawSpec(
        name=x.name,
        description=x.description,
        opens_at=timestamp(x.opens_at),
        closes_at=timestamp(x.closes_at),
        prizes=[_draw_prize_message(p) for p in x.prizes],
        sources=sources,
        beacon_source=x.beacon_source,
    )


def _draw_spec(x: draws_pb2.DrawSpec) -> cd.DrawSpec:
    s = x.sources
    direct = spend = None
    if s.HasField("direct"):
        direct = cd.DirectEntrySource(
            enabled=s.direct.enabled,
            cost_points=s.direct.cost_points,
            max_entries_per_member=s.direct.max_entries_per_member,
        )
    if s.HasField("spend"):
        spend = cd.SpendEntrySource(
            channel=_CHANNELS.get(s.spend.channel, Channel.UNSPECIFIED),
            currency=s.spend.currency,
            spend_step_minor=s.spend.spend_step_minor,
            entries_per_step=s.spend.entries_per_step,
        )
    return cd.DrawSpec(
        name=x.name,
        description=x.description,
        opens_at=_at(x.opens_at),
        closes_at=_at(x.closes_at),
        prizes=tuple(
            cd.DrawPrize(
                prize_id=p.prize_id,
                name=p.name,
                quantity=p.quantity,
                points=p.points if p.HasField("points") else None,
                reward_id=p.reward_id if p.HasField("reward_id") else None,
            )
            for p in x.prizes
        ),
        sources=cd.DrawEntrySources(
            direct=direct,
            entries_per_passport=s.entries_per_passport,
            entries_per_challenge=s.entries_per_challenge,
            game_entries=s.game_entries,
            spend=spend,
        ),
        beacon_source=x.beacon_source,
    )


def draw(x: draws_pb2.Draw) -> cd.Draw:
    return cd.Draw(
        draw_id=x.draw_id,
        spec=_draw_spec(x.spec),
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


def draw_result_report(x: draws_pb2.GetDrawResultResponse) -> cd.DrawResultReport:
    outcome = None
    if x.HasField("my_outcome"):
        o = x.my_outcome
        outcome = cd.MemberDrawOutcome(
            member_ref=o.member_ref,
            entry_count=o.entry_count,
            won=o.won,
            wins=tuple(_winner(w) for w in o.wins),
        )
    return cd.DrawResultReport(result=draw_result(x.result), my_outcome=outcome)
