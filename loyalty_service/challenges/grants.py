"""What completing a challenge grants, once, in the check-in's transaction.

Points through the ledger (a CHALLENGE_REWARD entry), a voucher through rewards (not charged), draw
entries through draws, and the stamp as the `challenge_completed` event that passports consume (no direct
call: that event is the coupling). A voucher or draw grant that cannot be made now (out of stock, draw
closed, ...) is skipped and named in the completion, inside a savepoint, so the visit still counts and
the member still gets the rest; a ledger failure fails the check-in.
"""

from __future__ import annotations

from datetime import datetime

from loyalty.v1 import challenges_pb2, events_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.challenges.rules import ChallengeSpec
from loyalty_service.draws import api as draws_api
from loyalty_service.errors import LoyaltyError
from loyalty_service.events import outbox
from loyalty_service.ledger import api as ledger_api
from loyalty_service.proto_time import to_timestamp
from loyalty_service.rewards import api as rewards_api

__all__ = ["grant_completion"]


async def grant_completion(
    conn: AsyncConnection,
    *,
    member_id: str,
    challenge_id: str,
    spec: ChallengeSpec,
    period: int,
    now: datetime,
    credential_id: str,
) -> challenges_pb2.ChallengeCompletion:
    """Grant the challenge's rewards and write the `challenge_completed` event; returns the completion."""
    source_ref = f"{challenge_id}:{period}"
    grant = spec.grant
    completion = challenges_pb2.ChallengeCompletion(
        challenge_id=challenge_id, period=period, completed_at=to_timestamp(now), stamp=grant.stamp
    )
    if grant.points:
        cause = ledger_api.Cause(
            channel="app",
            source_type="challenge",
            source_ref=source_ref,
            reason=f"challenge {spec.name}"[:256],
            occurred_at=now,
        )
        moved = await ledger_api.credit_points(
            conn,
            member_id=member_id,
            points=grant.points,
            entry_type=ledger_api.EntryType.CHALLENGE_REWARD,
            cause=cause,
            now=now,
            credential_id=credential_id,
        )
        completion.points, completion.ledger_entry_id = grant.points, moved.entry_id
    if grant.reward_id:
        try:
            async with conn.begin_nested():
                voucher = await rewards_api.issue_voucher(
                    conn,
                    member_id=member_id,
                    reward_id=grant.reward_id,
                    source_type="challenge",
                    source_ref=source_ref,
                    now=now,
                    credential_id=credential_id,
                    charge_points=False,
                    channel="app",
                )
            completion.voucher_id = voucher.voucher_id
        except LoyaltyError as error:
            completion.skipped.append(f"voucher: {error.reason}")
    if grant.draw_id:
        try:
            async with conn.begin_nested():
                ids = await draws_api.grant_entries(
                    conn,
                    draw_id=grant.draw_id,
                    member_id=member_id,
                    count=1,
                    source_type="challenge",
                    source_ref=source_ref,
                    now=now,
                )
            completion.draw_entry_ids.extend(ids)
        except LoyaltyError as error:
            completion.skipped.append(f"draw: {error.reason}")
    completed = challenges_pb2.ChallengeCompleted(completion=completion)
    await outbox.append(
        conn,
        member_id=member_id,
        occurred_at=now,
        payload=events_pb2.EventPayload(challenge_completed=completed),
    )
    return completion
