"""Property: every back-office spec the clients send comes back equal when the service echoes the message
(dataclass -> generated message -> dataclass), for games, play-token rules, passports, places, challenges and
draws. The service stores and returns the spec message as sent, so a lossy conversion would show up as a spec
read back (`game.spec`) that differs from the one written."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from loyalty.v1 import challenges_pb2, common_pb2, draws_pb2, games_pb2, ledger_pb2, passports_pb2
from loyalty_clients import (
    ChallengeCondition,
    ChallengeGrant,
    ChallengeSpec,
    Channel,
    DirectEntrySource,
    DrawEntriesRef,
    DrawEntrySources,
    DrawPrize,
    DrawSpec,
    DrawStatus,
    EntryType,
    GameCondition,
    GamePrize,
    GameSpec,
    LeaderboardPeriod,
    LeaderboardScope,
    OpeningHours,
    PassportCompletion,
    PassportSpec,
    PlaceSpec,
    PlayCostKind,
    PlayTokenRule,
    PrizeGrant,
    PurchaseCondition,
    SpendEntrySource,
    StampDefinition,
    StampRef,
    VoucherCondition,
)
from loyalty_clients import _convert as convert
from loyalty_clients import _convert_challenges as challenges
from loyalty_clients import _convert_draws as draws
from loyalty_clients import _convert_games as games

texts = st.text(max_size=12)
counts = st.integers(min_value=0, max_value=2**31 - 1)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
channels = st.tuples(st.sampled_from(list(Channel))) | st.just(())
grants = st.one_of(
    st.builds(PrizeGrant, points=counts),
    st.builds(PrizeGrant, reward_id=texts),
    st.builds(PrizeGrant, stamp=st.builds(StampRef, passport_id=texts, stamp_id=texts)),
    st.builds(PrizeGrant, draw_entries=st.builds(DrawEntriesRef, draw_id=texts, entries=counts)),
    st.builds(PrizeGrant, play_tokens=counts),
)
prizes = st.builds(
    GamePrize,
    prize_id=texts,
    name=texts,
    weight=counts,
    grant=grants,
    stock=st.none() | counts,
    daily_cap=st.none() | counts,
)
game_specs = st.builds(
    GameSpec,
    name=texts,
    opens_at=moments,
    cost_kind=st.sampled_from(list(PlayCostKind)),
    prizes=st.lists(prizes, max_size=3).map(tuple),
    description=texts,
    closes_at=st.none() | moments,
    cost_amount=counts,
    plays_per_day=st.none() | counts,
    plays_total=st.none() | counts,
    no_prize_weight=counts,
    timezone=texts,
)
conditions = st.one_of(
    st.none(),
    st.builds(
        PurchaseCondition,
        channels=channels,
        store_ids=st.lists(texts, max_size=2).map(tuple),
        categories=st.lists(texts, max_size=2).map(tuple),
        min_amount_minor=counts,
        currency=texts,
    ),
    st.builds(GameCondition, game_id=texts, won_only=st.booleans()),
    st.builds(ChallengeCondition, challenge_id=texts),
    st.builds(VoucherCondition, reward_id=texts),
)
passport_specs = st.builds(
    PassportSpec,
    name=texts,
    opens_at=moments,
    stamps=st.lists(
        st.builds(StampDefinition, stamp_id=texts, name=texts, condition=conditions), max_size=3
    ).map(tuple),
    completion=st.builds(PassportCompletion, points=counts, reward_id=texts, draw_id=texts),
    description=texts,
    closes_at=st.none() | moments,
    repeatable=st.booleans(),
)
degrees = st.floats(min_value=-90, max_value=90, allow_nan=False)
place_specs = st.builds(
    PlaceSpec,
    name=texts,
    latitude=degrees,
    longitude=degrees,
    radius_m=counts,
    store_id=texts,
    time_zone=texts,
    opening_hours=st.lists(
        st.builds(OpeningHours, day_of_week=counts, opens_minute=counts, closes_minute=counts), max_size=2
    ).map(tuple),
)
challenge_specs = st.builds(
    ChallengeSpec,
    name=texts,
    opens_at=moments,
    place_ids=st.lists(texts, max_size=3).map(tuple),
    goal_places=counts,
    grant=st.builds(ChallengeGrant, points=counts, reward_id=texts, stamp=st.booleans(), draw_id=texts),
    description=texts,
    closes_at=st.none() | moments,
    requires_purchase=st.booleans(),
    repeat_period_days=counts,
)
draw_prizes = st.one_of(
    st.builds(DrawPrize, prize_id=texts, name=texts, quantity=counts, points=counts),
    st.builds(DrawPrize, prize_id=texts, name=texts, quantity=counts, reward_id=texts),
    st.builds(DrawPrize, prize_id=texts, name=texts, quantity=counts),
)
draw_specs = st.builds(
    DrawSpec,
    name=texts,
    opens_at=moments,
    closes_at=moments,
    prizes=st.lists(draw_prizes, max_size=3).map(tuple),
    sources=st.builds(
        DrawEntrySources,
        direct=st.none()
        | st.builds(
            DirectEntrySource, enabled=st.booleans(), cost_points=counts, max_entries_per_member=counts
        ),
        entries_per_passport=counts,
        entries_per_challenge=counts,
        game_entries=st.booleans(),
        spend=st.none()
        | st.builds(
            SpendEntrySource,
            channel=st.sampled_from(list(Channel)),
            currency=texts,
            spend_step_minor=counts,
            entries_per_step=counts,
        ),
    ),
    description=texts,
    beacon_source=texts,
)


@given(game_specs)
def test_game_spec_round_trip(spec: GameSpec) -> None:
    echoed = games_pb2.Game(game_id="gam_1", spec=games.game_spec_message(spec))
    assert games.game(games_pb2.Game.FromString(echoed.SerializeToString())).spec == spec


@given(
    st.builds(
        PlayTokenRule,
        name=texts,
        tokens=counts,
        currency=texts,
        channels=channels,
        min_amount_minor=counts,
        valid_from=st.none() | moments,
        valid_to=st.none() | moments,
        rule_id=texts,
    )
)
def test_play_token_rule_round_trip(rule: PlayTokenRule) -> None:
    assert games.play_token_rule(games.play_token_rule_message(rule)) == rule


@given(passport_specs)
def test_passport_spec_round_trip(spec: PassportSpec) -> None:
    echoed = passports_pb2.Passport(passport_id="psp_1", spec=games.passport_spec_message(spec))
    assert games.passport(echoed).spec == spec


@given(place_specs)
def test_place_spec_round_trip(spec: PlaceSpec) -> None:
    assert (
        challenges.place(
            challenges_pb2.Place(place_id="plc_1", spec=challenges.place_spec_message(spec))
        ).spec
        == spec
    )


@given(challenge_specs)
def test_challenge_spec_round_trip(spec: ChallengeSpec) -> None:
    echoed = challenges_pb2.Challenge(challenge_id="chl_1", spec=challenges.challenge_spec_message(spec))
    assert challenges.challenge(echoed).spec == spec


@given(draw_specs)
def test_draw_spec_round_trip(spec: DrawSpec) -> None:
    echoed = draws_pb2.Draw(draw_id="drw_1", spec=draws.draw_spec_message(spec))
    assert draws.draw(draws_pb2.Draw.FromString(echoed.SerializeToString())).spec == spec


def test_unset_answers_are_none() -> None:
    """Goal: what the service leaves unset reads as None, not as an epoch or a zero-valued object."""
    draw = draws.draw(draws_pb2.Draw(draw_id="drw_1"))
    assert (draw.status, draw.frozen_at, draw.drawn_at, draw.created_at) == (None, None, None, None)
    assert games.play(games_pb2.Play(play_id="ply_1")).grant is None
    report = draws.draw_result_report(draws_pb2.GetDrawResultResponse())
    assert (report.my_outcome, report.result.beacon) == (None, None)
    assert challenges.check_in_result(challenges_pb2.CheckInResponse()).completion is None


def test_every_enum_member_maps_to_its_generated_value_and_back() -> None:
    """Goal: the name-based enum tables cover every member both ways; a value unknown to this client (a newer
    server's) reads as None or the caller's default, never raises."""
    tables = [
        (Channel, common_pb2.Channel, "CHANNEL_"),
        (PlayCostKind, games_pb2.PlayCostKind, "PLAY_COST_KIND_"),
        (LeaderboardScope, games_pb2.LeaderboardScope, "LEADERBOARD_SCOPE_"),
        (LeaderboardPeriod, games_pb2.LeaderboardPeriod, "LEADERBOARD_PERIOD_"),
        (DrawStatus, draws_pb2.DrawStatus, "DRAW_STATUS_"),
        (EntryType, ledger_pb2.EntryType, "ENTRY_TYPE_"),
    ]
    for ours, theirs, prefix in tables:
        to_proto = convert.enum_to_proto(ours, theirs, prefix)
        assert sorted(theirs.Name(v) for v in to_proto.values()) == sorted(prefix + x.name for x in ours)
        back = convert.enum_from_proto(ours, theirs, prefix)
        assert all(back[to_proto[member]] is member for member in ours)
        assert 9999 not in back
    assert convert.channel_of(9999) is Channel.UNSPECIFIED  # type: ignore[arg-type]
    assert draws.draw(draws_pb2.Draw(status=9999)).status is None  # type: ignore[arg-type]
