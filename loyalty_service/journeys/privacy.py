"""The journeys' member data in ExportMemberData and EraseMember (members.export_registry), and in the
merge of a provisional member (members.merge_registry).

Exported: the member's referral code, the referral it enrolled with, the referrals it made, its
click-and-collect orders and the cross-channel bonuses it was paid. Erased: the referral code (it is
a handle on the person; the referral rows keep only member ids, which stay as pseudonyms like the ledger).

Merged: the provisional member's click-and-collect orders and cross-channel claims follow its purchases
(ledger.api.merge_member moves those); a claim the target already holds for the same rule and period wins,
so a merge never lets a period pay twice. Provisional members have no referral code nor referral.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from sqlalchemy import and_, delete, exists, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db.tables_journeys import pickups, referral_codes, rule_claims
from loyalty_service.journeys import domain, store
from loyalty_service.members import export_registry, merge_registry

__all__: list[str] = []


async def _export(conn: AsyncConnection, member_id: str) -> object:
    code = await store.code_of(conn, member_id)
    referred_by = await store.lock_referral(conn, member_id, lock=False)
    return {
        "referral_code": None if code is None else domain.format_code(code),
        "referred_by": None if referred_by is None else asdict(referred_by),
        "referrals_made": [asdict(row) for row in await store.referrals_made(conn, member_id)],
        "pickups": [asdict(row) for row in await store.pickups_of(conn, member_id)],
        "cross_channel_bonuses": await store.claims_of(conn, member_id),
    }


async def _erase(conn: AsyncConnection, member_id: str) -> None:
    await conn.execute(delete(referral_codes).where(referral_codes.c.member_id == member_id))


async def _move(conn: AsyncConnection, *, source: str, target: str, now: datetime) -> None:
    held = rule_claims.alias("held")
    await conn.execute(
        delete(rule_claims).where(
            rule_claims.c.member_id == source,
            exists().where(
                and_(
                    held.c.member_id == target,
                    held.c.rule_id == rule_claims.c.rule_id,
                    held.c.period == rule_claims.c.period,
                )
            ),
        )
    )
    for table in (rule_claims, pickups):
        await conn.execute(update(table).where(table.c.member_id == source).values(member_id=target))


export_registry.register("journeys", export=_export, erase=_erase)
merge_registry.register("journeys", _move)
