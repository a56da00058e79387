"""Status tiers through the typed clients only, against a real server: marketing sets the ladder, a till
sells, every channel reads the member's tier, and a reserved reward raises TierRequired below its tier."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from loyalty_clients import (
    AsyncAppBackendClient,
    AsyncMarketingClient,
    AsyncMobileAppClient,
    AsyncPosClient,
    AsyncWebShopClient,
    Channel,
    EarningRuleSpec,
    Money,
    NotFound,
    RewardSpec,
    TierBasis,
    TierDefinition,
    TierLadderSpec,
    TierRequired,
    TierWindow,
)

from tests.clients.conftest import make_keys, unique
from tests.support.api import Running


async def test_ladder_tiers_and_reserved_rewards_through_the_clients(isolated_service: Running) -> None:
    """Goal: the clients' tier calls give typed results: ladder versions, a member's tier and progress in
    every channel, the mobile app's own tier, TierRequired, and a reward offer marked with its tier."""
    clock = isolated_service.clock
    assert clock is not None
    keys = await make_keys(isolated_service.url)
    target = f"127.0.0.1:{isolated_service.port}"
    office = AsyncMarketingClient(api_key=keys.backoffice, target=target)
    till = AsyncPosClient(store_id=keys.store_id, api_key=keys.pos, target=target)
    shop = AsyncWebShopClient(api_key=keys.webshop, target=target)
    backend = AsyncAppBackendClient(api_key=keys.app_backend, target=target)
    try:
        with pytest.raises(NotFound):
            await office.get_tier_ladder()
        await office.create_earning_rule(
            spec=EarningRuleSpec.base_rate(name="base", currency="EUR", points_per_unit=1),
            effective_from=clock.now() - timedelta(days=1),
        )
        reward = await office.create_reward(
            RewardSpec(
                name="Lounge pass",
                points_cost=10,
                channels=(Channel.POS, Channel.WEBSHOP, Channel.APP),
                amount_off=Money(amount_minor=500, currency="EUR"),
            )
        )
        spec = TierLadderSpec(
            basis=TierBasis.QUALIFYING_SPEND,
            currency="EUR",
            window=TierWindow.ROLLING_MONTHS,
            window_months=12,
            tiers=(
                TierDefinition(tier_id="member", name="Member", threshold=0),
                TierDefinition(
                    tier_id="gold",
                    name="Gold",
                    threshold=50_000,
                    multiplier=Decimal("2"),
                    reserved_reward_ids=(reward.reward_id,),
                ),
            ),
        )
        ladder = await office.set_tier_ladder(spec=spec)
        assert (ladder.version, ladder.spec) == (1, spec)
        assert await office.get_tier_ladder() == ladder
        assert await office.list_tier_ladders() == (ladder,)

        member = await shop.enroll_member(display_name="Tiered")
        tier = await till.member_tier(member_id=member.member_id)
        assert tier is not None
        assert (tier.tier_id, tier.next_tier_id, tier.remaining, tier.held_until) == (
            "member",
            "gold",
            50_000,
            None,
        )
        await office.adjust_points(member_id=member.member_id, points=100, reason="welcome")
        offers = await shop.list_rewards(member=member.member_id)
        offer = next(o for o in offers if o.reward.reward_id == reward.reward_id)
        assert (offer.required_tier_id, offer.required_tier_name, offer.redeemable) == ("gold", "Gold", False)
        with pytest.raises(TierRequired) as refused:
            await shop.redeem_reward(member=member.member_id, reward_id=reward.reward_id)
        assert refused.value.required_tier_id == "gold"

        await till.record_purchase(
            member=member.member_id,
            order_id=unique("o"),
            amount=Money(amount_minor=60_000, currency="EUR"),
            occurred_at=clock.now(),
        )
        for reader in (till, shop, backend, office):
            seen = await reader.member_tier(member_id=member.member_id)
            assert seen is not None
            assert (seen.tier_id, seen.multiplier, seen.basis) == (
                "gold",
                Decimal("2"),
                TierBasis.QUALIFYING_SPEND,
            )
            assert (seen.qualifying_value, seen.next_tier_id, seen.remaining) == (60_000, "", 0)
            assert seen.held_until is not None
        token = await backend.issue_member_token(member_id=member.member_id, ttl_seconds=600)
        async with AsyncMobileAppClient(member_token=token.token, target=target) as app:
            mine = await app.my_tier()
            assert mine is not None
            assert mine.tier_name == "Gold"
            redeemed = await app.redeem_reward(reward_id=reward.reward_id)
            assert redeemed.voucher.reward_id == reward.reward_id
    finally:
        for client in (office, till, shop, backend):
            await client.close()
