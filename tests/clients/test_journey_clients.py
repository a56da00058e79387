"""The journey operations of the typed clients against a real server: marketing sets the journey settings
and a cross-channel rule, the web shop enrols a referred member and records a click-and-collect order,
the till confirms the pickup, the app shows the referral code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from loyalty_clients import (
    AsyncAppBackendClient,
    AsyncMarketingClient,
    AsyncMobileAppClient,
    AsyncPosClient,
    AsyncWebShopClient,
    EarningRuleSpec,
    Identifier,
    JourneySettings,
    Money,
    NotFound,
    PickupRefused,
    PickupStatus,
    ReferralStatus,
    RuleCondition,
    SelfReferral,
)

from tests.clients.conftest import make_keys, target_of
from tests.support.api import Running


async def test_journey_clients_end_to_end(isolated_service: Running) -> None:
    """Goal: every journey client method works against the server and maps refusals to typed errors."""
    running = isolated_service
    keys = await make_keys(running.url)
    target = target_of(running)
    office = AsyncMarketingClient(api_key=keys.backoffice, target=target)
    shop = AsyncWebShopClient(api_key=keys.webshop, target=target)
    till = AsyncPosClient(api_key=keys.pos, store_id=keys.store_id, target=target)
    backend = AsyncAppBackendClient(api_key=keys.app_backend, target=target)
    try:
        wanted = JourneySettings(
            pickup_deadline_days=5, pickup_bonus_points=15, referrer_bonus_points=50, referee_bonus_points=20
        )
        assert await office.update_journey_settings(wanted) == wanted
        assert await office.journey_settings() == wanted
        await office.create_earning_rule(
            spec=EarningRuleSpec.base_rate(name="base", currency="EUR", points_per_unit=1),
            effective_from=datetime(2000, 1, 1, tzinfo=UTC),
        )
        rule = await office.create_earning_rule(
            spec=EarningRuleSpec.bonus(
                name="second channel",
                bonus_points=100,
                condition=RuleCondition(first_purchase_in_second_channel=True),
            ),
            effective_from=datetime(2000, 1, 1, tzinfo=UTC),
        )
        assert rule.spec.condition.first_purchase_in_second_channel

        referrer = await shop.enroll_member(identifiers=[Identifier.email("ann@example.com")])
        assert referrer.referral_code
        assert await office.referral_code(member_id=referrer.member_id) == referrer.referral_code
        with pytest.raises(SelfReferral):
            await shop.enroll_referred_member(
                referral_code=referrer.referral_code, identifiers=[Identifier.email("ann+2@example.com")]
            )
        with pytest.raises(NotFound):
            await backend.enroll_referred_member(referral_code="ZZZZ-ZZZZ")
        friend = await shop.enroll_referred_member(
            referral_code=referrer.referral_code, identifiers=[Identifier.email("bob@example.com")]
        )
        assert friend.referral_status is ReferralStatus.PENDING
        assert friend.referrer_member_id == referrer.member_id

        at = running.service.runtime.now() - timedelta(minutes=1)
        order = await shop.record_click_and_collect_order(
            member=friend.member.member_id,
            order_id="CC-1",
            amount=Money(4000, "EUR"),
            pickup_store_id=keys.store_id,
            occurred_at=at,
        )
        assert order.pickup_deadline == at + timedelta(days=5)
        assert order.purchase.balance is not None
        assert (order.purchase.balance.available, order.purchase.balance.pending) == (20, 40)
        waiting = await till.get_pickup(order_id="CC-1")
        assert waiting.status is PickupStatus.AWAITING
        done = await till.confirm_pickup(order_id="CC-1")
        assert (done.points_released, done.bonus_points) == (40, 15)
        assert done.balance is not None
        assert done.balance.available == 20 + 40 + 15
        with pytest.raises(PickupRefused) as again:
            await till.confirm_pickup(order_id="CC-1")
        assert again.value.reason == "ALREADY_COLLECTED"
        assert (await office.get_pickup(order_id="CC-1")).status is PickupStatus.COLLECTED

        in_store = await till.record_purchase(
            member=friend.member.member_id, order_id="T-1", amount=Money(1000, "EUR")
        )
        assert {a.name: a.points for a in in_store.applied_rules}["second channel"] == 100
        assert (await office.balance(member=referrer.member_id)).available == 50

        token = await backend.issue_member_token(member_id=friend.member.member_id)
        async with AsyncMobileAppClient(member_token=token.token, target=target) as app:
            assert await app.my_referral_code() == friend.member.referral_code
    finally:
        for client in (office, shop, till, backend):
            await client.close()
