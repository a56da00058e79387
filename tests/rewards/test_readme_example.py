"""The README's "Rewards and vouchers" example, run for real through the typed clients."""

from __future__ import annotations

import pytest
from loyalty_clients import (
    AsyncMarketingClient,
    AsyncPosClient,
    AsyncWebShopClient,
    Channel,
    Money,
    RewardSpec,
    VoucherAlreadyUsed,
)

from tests.rewards.conftest import give_points
from tests.support.api import Running


async def test_web_shop_redeems_and_a_till_uses_the_voucher(service: Running) -> None:
    """Goal: the README example works: redeem on the web shop, use once at a till, refused twice."""
    target = f"127.0.0.1:{service.port}"
    store_id = "st-readme-" + str(service.port)
    pos_key = await service.key("pos", store_id=store_id)
    web_key, back_key = await service.key("webshop"), await service.key("backoffice")
    member = await service.enroll()
    await give_points(await service.client("backoffice"), member.member_id, 1200)

    async with AsyncMarketingClient(api_key=back_key, target=target) as office:
        mug = await office.create_reward(
            RewardSpec(
                name="5 EUR off",
                points_cost=500,
                channels=(Channel.POS, Channel.WEBSHOP),
                stock=100,
                amount_off=Money(500, "EUR"),
            )
        )
    async with AsyncWebShopClient(api_key=web_key, target=target) as shop:
        redemption = await shop.redeem_reward(member=member.member_id, reward_id=mug.reward_id)
    assert redemption.available_points == 700
    async with AsyncPosClient(api_key=pos_key, target=target, store_id=store_id) as till:
        voucher = await till.get_voucher(code=redemption.voucher.code)
        used = await till.use_voucher(code=voucher.code, order_id="R-2041")
        with pytest.raises(VoucherAlreadyUsed) as again:
            await till.use_voucher(code=voucher.code, order_id="R-2042")
    assert used.state == "used"
    assert again.value.store_id == store_id
