"""The audit log: every back-office write leaves who/what/when/before/after, in its own transaction.

Stores, credentials (created, revoked), programme settings, earning rules (create, update, retire),
point adjustments, games and play-token rules, passports, places and challenges are listed by
ListAuditEvents, newest first, filtered by subject and time, paged with a cursor; an API key never
appears in it; a refused write leaves no audit row.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import grpc
import pytest
from loyalty.v1 import (
    audit_pb2,
    challenges_pb2,
    common_pb2,
    games_pb2,
    ledger_pb2,
    passports_pb2,
    program_pb2,
)

from loyalty_service import audit
from loyalty_service.auth.principal import Principal, PrincipalKind
from loyalty_service.kernel.ids import new_id
from loyalty_service.proto_time import to_timestamp
from tests.ledger.conftest import make_programme
from tests.support.api import Running, new_key


async def _all_events(back: Any, **filters: Any) -> list[audit_pb2.AuditEvent]:
    events: list[audit_pb2.AuditEvent] = []
    token = ""
    for _ in range(50):
        page = await back.program.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(page_size=2, page_token=token, **filters)
        )
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            return events
    raise AssertionError("paging never ended")


async def test_back_office_writes_are_audited(isolated_service: Running) -> None:
    """Goal: each back-office write is one audit row with the caller, the action and before/after."""
    programme = await make_programme(isolated_service)  # a store and a base-rate rule, by the back office
    back = programme.back
    created = await back.program.CreateCredential(
        program_pb2.CreateCredentialRequest(
            idempotency_key=new_key(), kind=program_pb2.CREDENTIAL_KIND_WEBSHOP, name="web shop"
        )
    )
    credential_id = created.credential.credential_id
    await back.program.RevokeCredential(
        program_pb2.RevokeCredentialRequest(idempotency_key=new_key(), credential_id=credential_id)
    )
    await back.program.UpdateProgramSettings(
        program_pb2.UpdateProgramSettingsRequest(
            idempotency_key=new_key(),
            settings=program_pb2.ProgramSettings(pending_days=14, expiry_months=24, offline_max_age_days=30),
        )
    )
    rules = await back.program.ListEarningRules(program_pb2.ListEarningRulesRequest())
    rule = rules.rules[0]
    later = isolated_service.service.runtime.now() + timedelta(days=1)
    spec = program_pb2.EarningRuleSpec()
    spec.CopyFrom(rule.spec)
    spec.points_per_unit = "2"
    await back.program.UpdateEarningRule(
        program_pb2.UpdateEarningRuleRequest(
            idempotency_key=new_key(), rule_id=rule.rule_id, spec=spec, effective_from=to_timestamp(later)
        )
    )
    await back.program.RetireEarningRule(
        program_pb2.RetireEarningRuleRequest(
            idempotency_key=new_key(),
            rule_id=rule.rule_id,
            effective_from=to_timestamp(later + timedelta(days=1)),
        )
    )
    member_id = await programme.member()
    await back.ledger.AdjustPoints(
        ledger_pb2.AdjustPointsRequest(
            idempotency_key=new_key(), member_id=member_id, points=50, reason="gift"
        )
    )

    events = await _all_events(back)
    assert [e.action for e in reversed(events)] == [
        "store.create",
        "earning_rule.create",
        "credential.create",
        "credential.revoke",
        "program_settings.update",
        "earning_rule.update",
        "earning_rule.retire",
        "points.adjust",
    ]
    assert all(e.principal_kind == "backoffice" for e in events)
    assert len({e.credential_id for e in events}) == 1
    assert [e.audit_id for e in events] == sorted((e.audit_id for e in events), reverse=True)
    everything = " ".join(e.before_json + e.after_json for e in events)
    assert created.api_key not in everything, "an API key is never audited"

    by_action = {e.action: e for e in events}
    revoke = by_action["credential.revoke"]
    assert json.loads(revoke.before_json).get("revoked_at") is None
    assert json.loads(revoke.after_json)["revoked_at"]
    settings = by_action["program_settings.update"]
    assert json.loads(settings.before_json)["pending_days"] == 0
    assert json.loads(settings.after_json)["pending_days"] == 14
    update = by_action["earning_rule.update"]
    assert json.loads(update.before_json)["spec"]["points_per_unit"] == "1"
    assert json.loads(update.after_json)["spec"]["points_per_unit"] == "2"
    assert by_action["earning_rule.create"].before_json == ""
    adjust = json.loads(by_action["points.adjust"].after_json)
    assert (adjust["points"], adjust["reason"]) == (50, "gift")

    rule_events = await _all_events(back, subject_type="earning_rule", subject_id=rule.rule_id)
    assert [e.action for e in rule_events] == [
        "earning_rule.retire",
        "earning_rule.update",
        "earning_rule.create",
    ]
    now = isolated_service.service.runtime.now()
    none_yet = await _all_events(back, occurred_from=to_timestamp(now + timedelta(seconds=1)))
    assert none_yet == []


async def test_refused_writes_leave_no_audit_row_and_only_back_office_reads(
    isolated_service: Running,
) -> None:
    """Goal: the audit row commits with its change (a refused store creation leaves none); access."""
    back = await isolated_service.client("backoffice")
    request = program_pb2.CreateStoreRequest(idempotency_key=new_key(), store_id="audit-1", name="One")
    await back.program.CreateStore(request)
    with pytest.raises(grpc.aio.AioRpcError):
        await back.program.CreateStore(
            program_pb2.CreateStoreRequest(idempotency_key=new_key(), store_id="audit-1", name="Again")
        )
    await back.program.CreateStore(request)  # a retry replays the answer, and records nothing twice
    events = await _all_events(back, subject_type="store")
    assert [e.subject_id for e in events] == ["audit-1"]

    web = await isolated_service.client("webshop")
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await web.program.ListAuditEvents(audit_pb2.ListAuditEventsRequest())
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await back.program.ListAuditEvents(audit_pb2.ListAuditEventsRequest(page_token="nope"))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_record_refuses_secrets(isolated_service: Running) -> None:
    """Goal: a document naming a secret (api_key, key_hash, token, ...) is a programming error."""
    principal = Principal(kind=PrincipalKind.BACKOFFICE, credential_id="cred_x")
    async with isolated_service.engine.connect() as conn:
        for document in ({"api_key": "lk_x"}, {"credential": {"key_hash": "00"}}, {"rows": [{"token": "t"}]}):
            with pytest.raises(AssertionError):
                await audit.record(
                    conn,
                    principal=principal,
                    action="credential.create",
                    subject_type="credential",
                    subject_id="cred_x",
                    before=None,
                    after=document,
                    now=isolated_service.service.runtime.now(),
                )
        await conn.rollback()


async def _refused(call: Any, request: Any, code: grpc.StatusCode) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(request)
    assert refused.value.code() == code


async def test_games_and_play_token_rules_are_audited(isolated_service: Running) -> None:
    """Goal: CreateGame, UpdateGame and CreatePlayTokenRule each add one row with the spec before/after
    (a play-token count is no secret); an update of an unknown game adds none."""
    back = await isolated_service.client("backoffice")
    now = isolated_service.service.runtime.now()
    spec = games_pb2.GameSpec(
        name="Scratch card",
        opens_at=to_timestamp(now - timedelta(hours=1)),
        cost_kind=games_pb2.PLAY_COST_KIND_FREE,
        no_prize_weight=1,
        prizes=[
            games_pb2.GamePrize(
                prize_id="tokens", name="2 plays", weight=1, grant=games_pb2.PrizeGrant(play_tokens=2)
            )
        ],
    )
    game = (
        await back.program.CreateGame(games_pb2.CreateGameRequest(idempotency_key=new_key(), spec=spec))
    ).game
    spec.name = "Scratch card XL"
    await back.program.UpdateGame(
        games_pb2.UpdateGameRequest(idempotency_key=new_key(), game_id=game.game_id, spec=spec)
    )
    await _refused(
        back.program.UpdateGame,
        games_pb2.UpdateGameRequest(idempotency_key=new_key(), game_id=new_id("game"), spec=spec),
        grpc.StatusCode.NOT_FOUND,
    )
    rule = (
        await back.program.CreatePlayTokenRule(
            games_pb2.CreatePlayTokenRuleRequest(
                idempotency_key=new_key(),
                rule=games_pb2.PlayTokenRule(
                    name="1 token per web order",
                    channels=[common_pb2.CHANNEL_WEBSHOP],
                    currency="EUR",
                    min_amount_minor=2000,
                    tokens=1,
                ),
            )
        )
    ).rule

    events = await _all_events(back, subject_type="game")
    assert [(e.action, e.subject_id) for e in events] == [
        ("game.update", game.game_id),
        ("game.create", game.game_id),
    ]
    update, create = events
    assert create.before_json == ""
    assert json.loads(create.after_json)["prizes"][0]["grant"] == {"play_tokens": "2"}
    assert json.loads(update.before_json)["name"] == "Scratch card"
    assert json.loads(update.after_json)["name"] == "Scratch card XL"
    (token_rule,) = await _all_events(back, subject_type="play_token_rule")
    assert (token_rule.action, token_rule.subject_id) == ("play_token_rule.create", rule.rule_id)
    after = json.loads(token_rule.after_json)
    assert (after["name"], after["tokens"], after["min_amount_minor"]) == ("1 token per web order", 1, "2000")


async def test_passports_are_audited(isolated_service: Running) -> None:
    """Goal: CreatePassport and UpdatePassport each add one row with the spec before/after; an update of
    an unknown passport adds none."""
    back = await isolated_service.client("backoffice")
    now = isolated_service.service.runtime.now()
    spec = passports_pb2.PassportSpec(
        name="Summer passport",
        opens_at=to_timestamp(now - timedelta(hours=1)),
        stamps=[
            passports_pb2.StampDefinition(
                stamp_id="online",
                name="Shop online",
                purchase=passports_pb2.PurchaseCondition(channels=[common_pb2.CHANNEL_WEBSHOP]),
            )
        ],
        completion=passports_pb2.PassportCompletion(points=500),
    )
    passport = (
        await back.program.CreatePassport(
            passports_pb2.CreatePassportRequest(idempotency_key=new_key(), spec=spec)
        )
    ).passport
    spec.completion.points = 800
    await back.program.UpdatePassport(
        passports_pb2.UpdatePassportRequest(
            idempotency_key=new_key(), passport_id=passport.passport_id, spec=spec
        )
    )
    await _refused(
        back.program.UpdatePassport,
        passports_pb2.UpdatePassportRequest(idempotency_key=new_key(), passport_id=new_id("psp"), spec=spec),
        grpc.StatusCode.NOT_FOUND,
    )

    events = await _all_events(back, subject_type="passport")
    assert [(e.action, e.subject_id) for e in events] == [
        ("passport.update", passport.passport_id),
        ("passport.create", passport.passport_id),
    ]
    update, create = events
    assert create.before_json == ""
    created = json.loads(create.after_json)
    assert created["spec"]["name"] == "Summer passport"
    assert created["spec"]["completion"]["points"] == "500"
    assert json.loads(update.before_json)["spec"]["completion"]["points"] == "500"
    assert json.loads(update.after_json)["spec"]["completion"]["points"] == "800"


async def test_places_and_challenges_are_audited(isolated_service: Running) -> None:
    """Goal: places (create, update, archive) and challenges (create, update) each add one row with the
    spec before/after; a challenge on an archived place and a change of a fixed field after the opening
    are refused and add none."""
    back = await isolated_service.client("backoffice")
    now = isolated_service.service.runtime.now()
    place_spec = challenges_pb2.PlaceSpec(name="Old harbour", latitude=43.29, longitude=5.36, radius_m=100)
    place = (
        await back.program.CreatePlace(
            challenges_pb2.CreatePlaceRequest(idempotency_key=new_key(), spec=place_spec)
        )
    ).place
    place_spec.radius_m = 150
    await back.program.UpdatePlace(
        challenges_pb2.UpdatePlaceRequest(idempotency_key=new_key(), place_id=place.place_id, spec=place_spec)
    )
    spec = challenges_pb2.ChallengeSpec(
        name="Harbour walk",
        opens_at=to_timestamp(now - timedelta(hours=1)),
        closes_at=to_timestamp(now + timedelta(days=7)),
        place_ids=[place.place_id],
        goal_places=1,
        grant=challenges_pb2.ChallengeGrant(points=10),
    )
    challenge = (
        await back.program.CreateChallenge(
            challenges_pb2.CreateChallengeRequest(idempotency_key=new_key(), spec=spec)
        )
    ).challenge
    spec.name = "Harbour stroll"
    await back.program.UpdateChallenge(
        challenges_pb2.UpdateChallengeRequest(
            idempotency_key=new_key(), challenge_id=challenge.challenge_id, spec=spec
        )
    )
    fixed = challenges_pb2.ChallengeSpec()
    fixed.CopyFrom(spec)
    fixed.opens_at.CopyFrom(to_timestamp(now - timedelta(minutes=30)))
    await _refused(
        back.program.UpdateChallenge,
        challenges_pb2.UpdateChallengeRequest(
            idempotency_key=new_key(), challenge_id=challenge.challenge_id, spec=fixed
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    await back.program.ArchivePlace(
        challenges_pb2.ArchivePlaceRequest(idempotency_key=new_key(), place_id=place.place_id)
    )
    await _refused(
        back.program.CreateChallenge,
        challenges_pb2.CreateChallengeRequest(idempotency_key=new_key(), spec=spec),
        grpc.StatusCode.INVALID_ARGUMENT,
    )

    places = await _all_events(back, subject_type="place")
    assert [(e.action, e.subject_id) for e in places] == [
        ("place.archive", place.place_id),
        ("place.update", place.place_id),
        ("place.create", place.place_id),
    ]
    archive, update, create = places
    assert create.before_json == ""
    assert json.loads(create.after_json)["spec"]["name"] == "Old harbour"
    assert json.loads(update.before_json)["spec"]["radius_m"] == 100
    assert json.loads(update.after_json)["spec"]["radius_m"] == 150
    assert not json.loads(archive.before_json).get("archived_at")
    assert json.loads(archive.after_json)["archived_at"]
    challenges = await _all_events(back, subject_type="challenge")
    assert [(e.action, e.subject_id) for e in challenges] == [
        ("challenge.update", challenge.challenge_id),
        ("challenge.create", challenge.challenge_id),
    ]
    assert json.loads(challenges[1].after_json)["spec"]["name"] == "Harbour walk"
    assert json.loads(challenges[0].before_json)["spec"]["name"] == "Harbour walk"
    assert json.loads(challenges[0].after_json)["spec"]["name"] == "Harbour stroll"
