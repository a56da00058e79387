"""What other features may use of passports: awarding a stamp (games' stamp prizes, the processor).

`award_stamp` runs in the caller's transaction: it locks the member's passport row, inserts the stamp
(a no-op when (member, passport, cycle, stamp) already exists, or when the same purchase already earned
this stamp in any cycle: exactly once), writes `stamp_awarded`,
and on the last stamp grants the completion (points, voucher, draw entries), writes
`passport_completed` and, for a repeatable passport, opens the next cycle.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from loyalty.v1 import common_pb2, events_pb2, passports_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.common_messages import CHANNEL_TO_PROTO
from loyalty_service.draws import api as draws_api
from loyalty_service.errors import LoyaltyError
from loyalty_service.events import outbox
from loyalty_service.games import api as games_api
from loyalty_service.ledger import api as ledger_api
from loyalty_service.passports import store
from loyalty_service.passports.specs import spec_from_json, window_bounds
from loyalty_service.proto_time import to_timestamp
from loyalty_service.rewards import api as rewards_api

__all__ = ["StampSource", "award_stamp", "passport_exists", "stamp_progress"]

_log = logging.getLogger(__name__)
_ONCE_PER_SOURCE = frozenset({"purchase"})
"""Sources that earn a stamp once in all cycles: one purchase is one purchase, though two events (its
`purchase_recorded` and, for the processor's old-format path, its EARN `points_changed`) describe it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StampSource:
    """Where and why a stamp was earned."""

    channel: str
    store_id: str
    source_type: str
    source_ref: str
    event_id: int


def stamp_progress(
    definition: passports_pb2.StampDefinition, row: object | None
) -> passports_pb2.StampProgress:
    progress = passports_pb2.StampProgress(stamp_id=definition.stamp_id, name=definition.name)
    if row is not None:
        progress.earned = True
        progress.earned_at.CopyFrom(to_timestamp(row.earned_at))  # type: ignore[attr-defined]
        progress.channel = CHANNEL_TO_PROTO.get(row.channel, common_pb2.CHANNEL_UNSPECIFIED)  # type: ignore[attr-defined]
        progress.store_id = row.store_id  # type: ignore[attr-defined]
        progress.source_type = row.source_type  # type: ignore[attr-defined]
        progress.source_ref = row.source_ref  # type: ignore[attr-defined]
    return progress


async def passport_exists(conn: AsyncConnection, passport_id: str) -> bool:
    return await store.get_passport(conn, passport_id) is not None


async def award_stamp(
    conn: AsyncConnection,
    *,
    member_id: str,
    passport_id: str,
    stamp_id: str,
    source: StampSource,
    now: datetime,
) -> bool:
    """Stamp it once; False when the passport is not open, lacks the stamp, or the stamp is already held."""
    row = await store.get_passport(conn, passport_id)
    if row is None:
        return False
    spec = spec_from_json(dict(row.spec))
    opens_at, closes_at = window_bounds(spec)
    if now < opens_at or (closes_at is not None and now >= closes_at):
        return False
    definitions = {s.stamp_id: s for s in spec.stamps}
    if stamp_id not in definitions:
        return False
    # Lock order (decision 0004): the member's ledger, then the member's passport row. A play granting a
    # stamp prize already holds the ledger; the processor took it for the batch's members in id order.
    await ledger_api.lock_ledger(conn, member_id)
    cycle, completions = await store.lock_member(conn, member_id=member_id, passport_id=passport_id, now=now)
    if completions and not spec.repeatable:
        return False
    if source.source_type in _ONCE_PER_SOURCE and await store.stamped_by(
        conn,
        member_id=member_id,
        passport_id=passport_id,
        stamp_id=stamp_id,
        source_type=source.source_type,
        source_ref=source.source_ref,
    ):
        return False  # already stamped by this purchase, maybe in an earlier cycle (its other event)
    inserted = await store.insert_stamp(
        conn,
        member_id=member_id,
        passport_id=passport_id,
        cycle=cycle,
        stamp_id=stamp_id,
        earned_at=now,
        channel=source.channel,
        store_id=source.store_id,
        source_type=source.source_type,
        source_ref=source.source_ref,
        event_id=source.event_id,
    )
    if not inserted:
        return False
    held = {
        r.stamp_id: r
        for r in await store.stamps_of(conn, member_id=member_id, passport_id=passport_id, cycle=cycle)
    }
    awarded = passports_pb2.StampAwarded(
        passport_id=passport_id,
        cycle=cycle,
        stamp=stamp_progress(definitions[stamp_id], held[stamp_id]),
        stamps_earned=len(held),
        stamps_total=len(definitions),
    )
    await outbox.append(
        conn, member_id=member_id, occurred_at=now, payload=events_pb2.EventPayload(stamp_awarded=awarded)
    )
    await games_api.add_leaderboard_score(
        conn, member_id=member_id, scope="passport", subject_id=passport_id, points=1, now=now
    )
    if len(held) == len(definitions):
        await _complete(conn, member_id=member_id, passport_id=passport_id, spec=spec, cycle=cycle, now=now)
    return True


@contextlib.asynccontextmanager
async def _skipped(conn: AsyncConnection, what: str, passport_id: str, member_id: str) -> AsyncIterator[None]:
    """A grant that cannot be made (closed draw, reward out of stock) is logged, not fatal: the stamp
    and the other grants stand, and the processor never sticks on one event."""
    try:
        async with conn.begin_nested():
            yield
    except LoyaltyError as error:
        _log.warning(
            "passport completion grant skipped",
            extra={
                "fields": {
                    "what": what,
                    "passport_id": passport_id,
                    "member_id": member_id,
                    "reason": error.reason,
                }
            },
        )


async def _complete(
    conn: AsyncConnection,
    *,
    member_id: str,
    passport_id: str,
    spec: passports_pb2.PassportSpec,
    cycle: int,
    now: datetime,
) -> None:
    ref = f"{passport_id}:{cycle}"
    done = passports_pb2.PassportCompleted(
        passport_id=passport_id, cycle=cycle, points=spec.completion.points
    )
    if spec.completion.points:
        await ledger_api.credit_points(
            conn,
            member_id=member_id,
            points=spec.completion.points,
            entry_type=ledger_api.EntryType.PASSPORT_REWARD,
            cause=ledger_api.Cause(
                channel="", source_type="passport", source_ref=ref, reason=spec.name, occurred_at=now
            ),
            now=now,
            credential_id="passports",
        )
    if spec.completion.reward_id:
        async with _skipped(conn, "voucher", passport_id, member_id):
            issued = await rewards_api.issue_voucher(
                conn,
                member_id=member_id,
                reward_id=spec.completion.reward_id,
                source_type="passport",
                source_ref=ref,
                now=now,
                credential_id="passports",
                charge_points=False,
            )
            done.voucher_id = issued.voucher_id
    if spec.completion.draw_id:
        async with _skipped(conn, "draw entries", passport_id, member_id):
            entries = await draws_api.grant_entries(
                conn,
                draw_id=spec.completion.draw_id,
                member_id=member_id,
                count=1,
                source_type="passport",
                source_ref=ref,
                now=now,
            )
            done.draw_entry_ids.extend(entries)
    await store.complete_cycle(
        conn,
        member_id=member_id,
        passport_id=passport_id,
        next_cycle=cycle + 1 if spec.repeatable else cycle,
        now=now,
    )
    await outbox.append(
        conn, member_id=member_id, occurred_at=now, payload=events_pb2.EventPayload(passport_completed=done)
    )
