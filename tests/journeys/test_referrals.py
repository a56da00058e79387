"""Referral stories through gRPC: codes shown by GetMember; a referral pays both sides once at the new
member's first purchase; self-referral, unknown and malformed codes, and the yearly limit."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import grpc
import pytest
from loyalty.v1 import common_pb2, members_pb2
from sqlalchemy import text

from loyalty_service.journeys import domain
from tests.journeys.conftest import event_types, journey_settings, now_of
from tests.ledger.conftest import make_programme, reason, violations
from tests.support.api import Running, new_key


def _email(value: str) -> common_pb2.Identifier:
    return common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_EMAIL, value=value)


async def _enrol(running: Running, email: str, code: str = "") -> members_pb2.EnrollMemberResponse:
    web = await running.client("webshop")
    answer: members_pb2.EnrollMemberResponse = await web.members.EnrollMember(
        members_pb2.EnrollMemberRequest(
            idempotency_key=new_key(), display_name="Friend", identifiers=[_email(email)], referral_code=code
        )
    )
    return answer


async def test_a_referral_pays_both_sides_once_and_the_guards_hold(isolated_service: Running) -> None:
    """Goal: the referrer's code (shown by GetMember) enrols a friend; the friend's first purchase pays
    both bonuses once; a self-referral is refused and enrols nobody; past the yearly limit the enrolment
    stands without a bonus; unknown and malformed codes are refused."""
    running = isolated_service
    programme = await make_programme(running)
    await journey_settings(
        running, referrer_bonus_points=200, referee_bonus_points=100, referrals_per_year_max=1
    )
    referrer = (await _enrol(running, "jane.doe@gmail.com")).member
    assert domain.parse_code(referrer.referral_code) is not None
    shown = await programme.back.members.GetMember(members_pb2.GetMemberRequest(member_id=referrer.member_id))
    assert shown.member.referral_code == referrer.referral_code

    friend = await _enrol(running, "friend@example.com", referrer.referral_code.lower().replace("-", " "))
    assert friend.referral.status == members_pb2.REFERRAL_STATUS_PENDING
    assert friend.referral.referrer_member_id == referrer.member_id
    assert friend.member.referral_code not in ("", referrer.referral_code)

    with pytest.raises(grpc.aio.AioRpcError) as self_referral:
        await _enrol(running, "janedoe+promo@googlemail.com", referrer.referral_code)
    assert self_referral.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(self_referral.value) == "SELF_REFERRAL"
    web = await running.client("webshop")
    with pytest.raises(grpc.aio.AioRpcError) as nobody:
        await web.members.LookupMember(
            members_pb2.LookupMemberRequest(identifier=_email("janedoe+promo@googlemail.com"))
        )
    assert nobody.value.code() is grpc.StatusCode.NOT_FOUND

    over = await _enrol(running, "second@example.com", referrer.referral_code)
    assert over.referral.status == members_pb2.REFERRAL_STATUS_OVER_LIMIT
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await _enrol(running, "third@example.com", "ZZZZ-ZZZZ")
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await _enrol(running, "fourth@example.com", "abc!")
    assert malformed.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "referral_code" in violations(malformed.value)

    at = now_of(running) - timedelta(minutes=5)
    first = await programme.buy(friend.member.member_id, 1000, occurred_at=at)
    assert first.balance.available == 10 + 100
    assert (await programme.balance(referrer.member_id)).available == 200
    second = await programme.buy(friend.member.member_id, 1000, occurred_at=at + timedelta(minutes=1))
    assert second.balance.available == 10 + 100 + 10
    await programme.buy(over.member.member_id, 1000, occurred_at=at)
    assert (await programme.balance(over.member.member_id)).available == 10
    assert (await programme.balance(referrer.member_id)).available == 200
    assert "referral_rewarded" in await event_types(running, referrer.member_id)
    assert "referral_rewarded" in await event_types(running, friend.member.member_id)

    exported = await programme.back.members.ExportMemberData(
        members_pb2.ExportMemberDataRequest(member_id=referrer.member_id)
    )
    journeys = json.loads(exported.document)["features"]["journeys"]
    assert journeys["referral_code"] == referrer.referral_code
    assert [r["status"] for r in journeys["referrals_made"]] == ["rewarded", "over_limit"]

    await programme.back.members.EraseMember(
        members_pb2.EraseMemberRequest(idempotency_key=new_key(), member_id=referrer.member_id)
    )
    erased = await programme.back.members.GetMember(
        members_pb2.GetMemberRequest(member_id=referrer.member_id)
    )
    assert erased.member.referral_code == ""
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await _enrol(running, "fifth@example.com", referrer.referral_code)
    assert gone.value.code() is grpc.StatusCode.NOT_FOUND


async def test_an_erased_referrer_is_not_paid_but_the_new_member_is(isolated_service: Running) -> None:
    """Goal: a referrer erased before the new member's first purchase gets nothing; the new member gets
    its bonus; the referral is rewarded once."""
    running = isolated_service
    programme = await make_programme(running)
    await journey_settings(running, referrer_bonus_points=200, referee_bonus_points=100)
    referrer = (await _enrol(running, "gone@example.com")).member
    friend = await _enrol(running, "stays@example.com", referrer.referral_code)
    await programme.back.members.EraseMember(
        members_pb2.EraseMemberRequest(idempotency_key=new_key(), member_id=referrer.member_id)
    )
    at = now_of(running) - timedelta(minutes=1)
    first = await programme.buy(friend.member.member_id, 1000, occurred_at=at)
    assert first.balance.available == 10 + 100
    assert "referral_rewarded" not in await event_types(running, referrer.member_id)
    exported = await programme.back.members.ExportMemberData(
        members_pb2.ExportMemberDataRequest(member_id=friend.member.member_id)
    )
    referred_by = json.loads(exported.document)["features"]["journeys"]["referred_by"]
    assert (referred_by["status"], referred_by["referrer_points"], referred_by["referee_points"]) == (
        "rewarded",
        0,
        100,
    )


async def test_concurrent_enrolments_respect_the_yearly_limit(isolated_service: Running) -> None:
    """Goal: enrolments with one code at once never exceed the referrer's yearly limit (the code row lock)."""
    running = isolated_service
    await journey_settings(running, referrer_bonus_points=10, referrals_per_year_max=2)
    referrer = (await _enrol(running, "popular@example.com")).member
    answers = await asyncio.gather(
        *(_enrol(running, f"friend{i}@example.com", referrer.referral_code) for i in range(6))
    )
    statuses = sorted(a.referral.status for a in answers)
    assert statuses.count(members_pb2.REFERRAL_STATUS_PENDING) == 2
    assert statuses.count(members_pb2.REFERRAL_STATUS_OVER_LIMIT) == 4


async def _pending_flags(running: Running, *member_ids: str) -> list[bool]:
    async with running.engine.connect() as conn:
        rows = dict(
            (
                await conn.execute(
                    text("select member_id, pending_referral from members where member_id = any(:ids)"),
                    {"ids": list(member_ids)},
                )
            ).all()
        )
    return [bool(rows[m]) for m in member_ids]


async def test_the_member_row_says_while_a_referral_is_pending(isolated_service: Running) -> None:
    """Goal: `members.pending_referral` (what lets a purchase skip the referral read) is set exactly while
    the member's referral is pending: set at an enrolment with a code under the limit, not over it,
    cleared when the first purchase pays it or finds a self-referral; and a purchase whose member row
    says "pending" with no referral behind it (a stale flag) still records normally."""
    running = isolated_service
    programme = await make_programme(running)
    await journey_settings(
        running, referrer_bonus_points=200, referee_bonus_points=100, referrals_per_year_max=2
    )
    referrer = (await _enrol(running, "ref@example.com")).member
    friend = (await _enrol(running, "friend1@example.com", referrer.referral_code)).member
    sneaky = (await _enrol(running, "sneaky@example.com", referrer.referral_code)).member
    over = (await _enrol(running, "friend3@example.com", referrer.referral_code)).member
    assert await _pending_flags(
        running, referrer.member_id, friend.member_id, sneaky.member_id, over.member_id
    ) == [
        False,
        True,
        True,
        False,
    ]
    # Linked to the referrer's email after enrolling: the first purchase finds a self-referral.
    web = await running.client("webshop")
    await web.members.LinkIdentifier(
        members_pb2.LinkIdentifierRequest(
            idempotency_key=new_key(), member_id=sneaky.member_id, identifier=_email("ref+x@example.com")
        )
    )
    at = now_of(running) - timedelta(minutes=1)
    assert (await programme.buy(friend.member_id, 1000, occurred_at=at)).balance.available == 110
    await programme.buy(sneaky.member_id, 1000, occurred_at=at)
    assert await _pending_flags(running, friend.member_id, sneaky.member_id) == [False, False]
    async with running.engine.begin() as conn:
        await conn.execute(
            text("update members set pending_referral = true where member_id = :m"), {"m": over.member_id}
        )
    assert (await programme.buy(over.member_id, 1000, occurred_at=at)).balance.available == 10
    assert (await programme.balance(referrer.member_id)).available == 200
