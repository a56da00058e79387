"""Tier data and the member's other journeys: a merged card counts, export shows it, erasure removes it."""

from __future__ import annotations

import json
import secrets

from loyalty.v1 import common_pb2, ledger_pb2, members_pb2, tiers_pb2
from sqlalchemy import text

from loyalty_service.proto_time import to_timestamp
from tests.ledger.conftest import make_programme
from tests.support.api import Running, new_key
from tests.tiers.test_stories import ladder_spec, set_ladder, tier_events, tier_of


async def test_a_merged_cards_purchases_count_and_export_and_erase_cover_tiers(
    isolated_service: Running,
) -> None:
    """Goal: linking a card whose provisional member bought enough upgrades the real member at once; the
    export lists status, history and contributions under features.tiers; erasure deletes them."""
    running, programme = isolated_service, await make_programme(isolated_service)
    clock = running.clock
    assert clock is not None
    await set_ladder(programme, ladder_spec())
    card = "TIR" + secrets.token_hex(5).upper()
    bought = await programme.till.ledger.RecordPurchase(
        ledger_pb2.RecordPurchaseRequest(
            idempotency_key=new_key(),
            member=common_pb2.MemberRef(
                identifier=common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_CARD, value=card)
            ),
            channel=common_pb2.CHANNEL_POS,
            store_id=programme.store_id,
            order_id="o-" + new_key(),
            amount=common_pb2.Money(amount_minor=15_000, currency=programme.currency),
            occurred_at=to_timestamp(clock.now()),
        )
    )
    assert bought.provisional_member_created
    real = await programme.member()
    await programme.web.members.LinkIdentifier(
        members_pb2.LinkIdentifierRequest(
            idempotency_key=new_key(),
            member_id=real,
            identifier=common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_CARD, value=card),
        )
    )
    status = await tier_of(programme, real)
    assert (status.tier_id, status.qualifying_value) == ("silver", 150)
    (upgrade,) = await tier_events(running, real, 1)
    assert (upgrade.to_tier_id, upgrade.reason) == ("silver", tiers_pb2.TIER_CHANGE_REASON_UPGRADE)

    exported = await programme.back.members.ExportMemberData(
        members_pb2.ExportMemberDataRequest(member_id=real)
    )
    tiers = json.loads(exported.document)["features"]["tiers"]
    assert tiers["status"]["tier_id"] == "silver"
    assert [h["tier_id"] for h in tiers["history"]] == ["silver"]
    assert [c["points"] for c in tiers["contributions"]] == [150]

    await programme.back.members.EraseMember(
        members_pb2.EraseMemberRequest(idempotency_key=new_key(), member_id=real)
    )
    async with running.engine.connect() as conn:
        for table in ("tier_status", "tier_history", "tier_contributions"):
            count = (
                await conn.execute(text(f"SELECT count(*) FROM {table} WHERE member_id = :m"), {"m": real})
            ).scalar()
            assert count == 0, table
