"""Referrals: every enrolled member has a code; a new member enrolling with it and making a first
purchase gives both a bonus, once.

- The code is drawn at enrolment (`journeys.domain.new_code`, CSPRNG) and shown by GetMember.
- EnrollMember with `referral_code`: malformed is INVALID_ARGUMENT (the edge), unknown NOT_FOUND, and a
  referrer sharing an identity key with the new member (same card, phone, customer id, or e-mail up to
  `+tag` and Gmail dots) FAILED_PRECONDITION SELF_REFERRAL; nothing is enrolled then.
- The limit (`referrals_per_year_max`, per calendar year UTC of the enrolment) is counted under a lock
  on the referrer's code row, so two enrolments at once cannot both take the last place. Past it the
  enrolment succeeds with status OVER_LIMIT and no bonus is ever paid for it.
- The bonus is paid in the transaction of the new member's first purchase, on the Book the purchase
  holds (the new member's ledger is locked first, the referrer's next: a referrer always enrolled
  before its referee, so no two transactions take these two locks in opposite orders). The self-referral
  check runs again then, on the identifiers both have by that time (status SELF_REFERRAL, no bonus).
- A referrer erased before that purchase is paid nothing (the new member still is); its code is gone, so
  nobody enrols with it any more.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from loyalty.v1 import events_pb2, journeys_pb2, members_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.errors import FailedPrecondition, NotFound
from loyalty_service.events import outbox
from loyalty_service.journeys import domain, store
from loyalty_service.ledger import api as ledger_api
from loyalty_service.members import api as members_api

__all__ = ["assign_code", "enrol_with_code", "reward_first_purchase"]

_CODE_ATTEMPTS = 8
_STATUS = {
    "pending": members_pb2.REFERRAL_STATUS_PENDING,
    "over_limit": members_pb2.REFERRAL_STATUS_OVER_LIMIT,
    "rewarded": members_pb2.REFERRAL_STATUS_REWARDED,
}


async def assign_code(conn: AsyncConnection, *, member_id: str, now: datetime) -> str:
    """Draw the member's referral code (another draw on the rare clash); returns it normalised."""
    for _ in range(_CODE_ATTEMPTS):
        code = domain.new_code()
        if await store.insert_code(conn, code=code, member_id=member_id, now=now):
            return code
    raise AssertionError("referral code space exhausted")  # 2^40 codes: not a caller's mistake


async def enrol_with_code(
    conn: AsyncConnection, *, member_id: str, code: str, now: datetime
) -> members_pb2.Referral:
    """Record that `member_id` (enrolling now, identifiers already linked) was referred by `code`."""
    referrer_id = await store.lock_code(conn, code)
    if referrer_id is None:
        raise NotFound("referral code", domain.format_code(code), "no member has this referral code")
    referee_ids = await store.identifiers_of(conn, member_id)
    if domain.same_person(referee_ids, await store.identifiers_of(conn, referrer_id)):
        raise FailedPrecondition(
            "the referrer and the new member share an identifier",
            reason="SELF_REFERRAL",
            metadata={"referrer_member_id": referrer_id},
        )
    settings = await store.read_settings(conn)
    made = await store.count_referrals_since(conn, referrer_id, domain.year_start(now))
    status = "pending" if domain.under_referral_limit(made, settings.referrals_per_year_max) else "over_limit"
    await store.insert_referral(conn, member_id=member_id, referrer_id=referrer_id, status=status, now=now)
    if status == "pending":
        await members_api.set_pending_referral(conn, member_id, True)
    return members_pb2.Referral(referrer_member_id=referrer_id, status=_STATUS[status])


async def _bonus(
    conn: AsyncConnection,
    *,
    member_id: str,
    other_id: str,
    points: int,
    as_referrer: bool,
    purchase_id: str,
    book: ledger_api.Book | None,
    now: datetime,
    credential_id: str,
) -> str:
    """Credit one side's bonus (0 points: nothing) with its ReferralRewarded event; returns the entry id."""
    if points <= 0:
        return ""
    cause = ledger_api.Cause(
        channel="", source_type="referral", source_ref=other_id, reason="referral bonus", occurred_at=now
    )
    moved = await ledger_api.credit_points(
        conn,
        member_id=member_id,
        points=points,
        entry_type=ledger_api.EntryType.BONUS,
        cause=cause,
        now=now,
        credential_id=credential_id,
        book=book,
    )
    referrer, referee = (member_id, other_id) if as_referrer else (other_id, member_id)
    event = journeys_pb2.ReferralRewarded(
        referrer_member_id=referrer,
        referee_member_id=referee,
        points=points,
        as_referrer=as_referrer,
        purchase_id=purchase_id,
        entry_id=moved.entry_id,
    )
    await outbox.append(
        conn, member_id=member_id, payload=events_pb2.EventPayload(referral_rewarded=event), occurred_at=now
    )
    return moved.entry_id


async def reward_first_purchase(
    conn: AsyncConnection, *, book: ledger_api.Book, purchase_id: str, now: datetime
) -> None:
    """In the purchase's transaction, the referee's Book open: pay a pending referral, once."""
    if not await members_api.referral_may_be_pending(conn, book.member_id):
        return  # the member row this purchase read says so: no referral read
    referral = await store.lock_referral(conn, book.member_id)
    if referral is None or referral.status != "pending":
        return
    referee_ids: Sequence[tuple[str, str]] = await store.identifiers_of(conn, book.member_id)
    if domain.same_person(referee_ids, await store.identifiers_of(conn, referral.referrer_id)):
        await store.update_referral(conn, book.member_id, status="self_referral", purchase_id=purchase_id)
        await members_api.set_pending_referral(conn, book.member_id, False)
        return
    settings = await store.read_settings(conn)
    referrer_points = settings.referrer_bonus_points
    if await store.member_status(conn, referral.referrer_id) != "active":
        referrer_points = 0  # an erased referrer is paid nothing; the new member still is
    referee_entry = await _bonus(
        conn,
        member_id=book.member_id,
        other_id=referral.referrer_id,
        points=settings.referee_bonus_points,
        as_referrer=False,
        purchase_id=purchase_id,
        book=book,
        now=now,
        credential_id=book.credential_id,
    )
    referrer_entry = await _bonus(
        conn,
        member_id=referral.referrer_id,
        other_id=book.member_id,
        points=referrer_points,
        as_referrer=True,
        purchase_id=purchase_id,
        book=None,
        now=now,
        credential_id=book.credential_id,
    )
    await store.update_referral(
        conn,
        book.member_id,
        status="rewarded",
        rewarded_at=now,
        purchase_id=purchase_id,
        referrer_points=referrer_points,
        referee_points=settings.referee_bonus_points,
        referrer_entry_id=referrer_entry or None,
        referee_entry_id=referee_entry or None,
    )
    await members_api.set_pending_referral(conn, book.member_id, False)
