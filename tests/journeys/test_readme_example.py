"""The README's "Omnichannel journeys" example, run for real with the blocking clients and a server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from loyalty_clients import (
    EarningRuleSpec,
    Identifier,
    JourneySettings,
    MarketingClient,
    Money,
    PickupRefused,
    PosClient,
    RuleCondition,
    WebShopClient,
)

from tests.clients.conftest import make_keys
from tests.support.processes import ServerProcess


async def test_readme_journeys_example(
    server_processes: Callable[[int], Awaitable[tuple[str, list[ServerProcess]]]],
) -> None:
    """Goal: the README example works as written (with a base rate and a referrer added)."""
    url, (server,) = await server_processes(1)
    keys = await make_keys(url)

    def example() -> None:
        with MarketingClient(api_key=keys.backoffice, target=server.address) as office:
            office.update_journey_settings(
                JourneySettings(
                    pickup_deadline_days=7,
                    pickup_bonus_points=50,
                    referrer_bonus_points=500,
                    referee_bonus_points=200,
                )
            )
            office.create_earning_rule(
                spec=EarningRuleSpec.base_rate(name="base", currency="EUR", points_per_unit=1),
                effective_from=datetime(2000, 1, 1, tzinfo=UTC),
            )
            office.create_earning_rule(
                spec=EarningRuleSpec.bonus(
                    name="Welcome to the store",
                    bonus_points=100,
                    condition=RuleCondition(first_purchase_in_second_channel=True),
                )
            )
        with WebShopClient(api_key=keys.webshop, target=server.address) as shop:
            referrer = shop.enroll_member(identifiers=[Identifier.email("al@example.com")])
            code = referrer.referral_code.lower().replace("-", " ")
            friend = shop.enroll_referred_member(
                referral_code=code, identifiers=[Identifier.email("bo@example.com")]
            )
            order = shop.record_click_and_collect_order(
                member=friend.member.member_id,
                order_id="W-2001",
                amount=Money(4200, "EUR"),
                pickup_store_id=keys.store_id,
            )
            assert order.purchase.balance is not None
            assert (order.purchase.balance.pending, order.purchase.balance.available) == (42, 200)
            assert order.pickup_deadline is not None
            assert shop.referral_code(member_id=referrer.member_id) == referrer.referral_code
        with PosClient(store_id=keys.store_id, api_key=keys.pos, target=server.address) as till:
            done = till.confirm_pickup(order_id="W-2001")
            assert (done.points_released, done.bonus_points) == (42, 50)
            with pytest.raises(PickupRefused) as refused:
                till.confirm_pickup(order_id="W-2001")
            assert refused.value.reason == "ALREADY_COLLECTED"

    await asyncio.to_thread(example)
