"""Rewards and vouchers: the models, and the mixins the channel clients are made of.

- `VoucherLookup` (every credential): look a voucher up by code; `VoucherAcceptance` (tills, web shop): use
  it once.
- `RewardBrowsing` (every credential): offers, a member's vouchers; `Redemptions` (tills, web shop, app back
  end): redeem for a member; `VoucherCancelling` (web shop, app back end, back office): cancel an unused one.
- `MemberRewards` (mobile app, member token): the same for the token's own member.
- `RewardCatalogue` (marketing): create, update, archive and list every reward.

A second use raises `VoucherAlreadyUsed` (`used_at`, `store_id`); a mistyped code `InvalidArgument`; an
unknown one `NotFound`; too many misses `ResourceExhausted` with `retry_after`.
"""

from __future__ import annotations

from loyalty.v1 import rewards_pb2

from loyalty_clients import _convert as c
from loyalty_clients._base import ClientBase
from loyalty_clients._models import Channel, MemberRef
from loyalty_clients._rewards_models import (
    Redemption,
    Reward,
    RewardOffer,
    RewardSpec,
    Voucher,
    VoucherAlreadyUsed,
    VoucherCancellation,
    VoucherState,
    definition,
    reward,
    state_to_proto,
    voucher,
)
from loyalty_clients._transport import Transport, new_idempotency_key

__all__ = [
    "MemberRewards",
    "Redemption",
    "Redemptions",
    "Reward",
    "RewardBrowsing",
    "RewardCatalogue",
    "RewardOffer",
    "RewardSpec",
    "Voucher",
    "VoucherAcceptance",
    "VoucherAlreadyUsed",
    "VoucherCancellation",
    "VoucherCancelling",
    "VoucherLookup",
    "VoucherState",
]

REWARDS = "/loyalty.v1.RewardService/"
PROGRAM = "/loyalty.v1.ProgramService/"


# --- shared implementations --------------------------------------------------------------------------


async def list_offers(t: Transport, member: MemberRef | None) -> tuple[RewardOffer, ...]:
    request = rewards_pb2.ListRewardsRequest()
    if member is not None:
        request.member.CopyFrom(c.member_ref(member))
    answer = await t.call(REWARDS + "ListRewards", request, rewards_pb2.ListRewardsResponse)
    return tuple(
        RewardOffer(
            reward=reward(o.reward),
            affordable=o.affordable,
            redeemable=o.redeemable,
            held=o.held,
            required_tier_id=o.required_tier_id,
            required_tier_name=o.required_tier_name,
        )
        for o in answer.offers
    )


async def redeem(
    t: Transport, member: MemberRef, reward_id: str, channel: Channel, store_id: str, key: str | None
) -> Redemption:
    request = rewards_pb2.RedeemRewardRequest(
        idempotency_key=key or new_idempotency_key(),
        member=c.member_ref(member),
        reward_id=reward_id,
        channel=c.CHANNEL_TO_PROTO[channel],
        store_id=store_id if channel is Channel.POS else "",
    )
    answer = await t.call(REWARDS + "RedeemReward", request, rewards_pb2.RedeemRewardResponse)
    return Redemption(voucher=voucher(answer.voucher), available_points=answer.available_points)


async def list_member_vouchers(
    t: Transport, member: MemberRef, state: VoucherState | None
) -> tuple[Voucher, ...]:
    request = rewards_pb2.ListVouchersRequest(member=c.member_ref(member))
    if state is not None:
        request.state = state_to_proto(state)
    answer = await t.call(REWARDS + "ListVouchers", request, rewards_pb2.ListVouchersResponse)
    return tuple(voucher(v) for v in answer.vouchers)


async def cancel(t: Transport, code: str, key: str | None) -> VoucherCancellation:
    request = rewards_pb2.CancelVoucherRequest(idempotency_key=key or new_idempotency_key(), code=code)
    answer = await t.call(REWARDS + "CancelVoucher", request, rewards_pb2.CancelVoucherResponse)
    return VoucherCancellation(
        voucher=voucher(answer.voucher),
        points_returned=answer.points_returned,
        available_points=answer.available_points,
    )


async def get(t: Transport, code: str) -> Voucher:
    request = rewards_pb2.GetVoucherRequest(code=code)
    answer = await t.call(REWARDS + "GetVoucher", request, rewards_pb2.GetVoucherResponse)
    return voucher(answer.voucher)


# --- mixins -----------------------------------------------------------------------------------------


class VoucherLookup(ClientBase):
    async def get_voucher(self, *, code: str) -> Voucher:
        """A voucher by its code (scanned or typed; dashes and case do not matter).

        >>> v = await till.get_voucher(code="7KQ4-M9XD-2RWH-TB5P")
        """
        return await get(self._transport, code)


class VoucherAcceptance(VoucherLookup):
    async def use_voucher(
        self, *, code: str, order_id: str = "", idempotency_key: str | None = None
    ) -> Voucher:
        """Accept the voucher once, here (this client's channel and store); VoucherAlreadyUsed after.

        >>> used = await till.use_voucher(code="7KQ4-M9XD-2RWH-TB5P", order_id="R-1")
        """
        request = rewards_pb2.UseVoucherRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            code=code,
            channel=c.CHANNEL_TO_PROTO[self._channel],
            store_id=self._store_id if self._channel is Channel.POS else "",
            order_id=order_id,
        )
        answer = await self._transport.call(REWARDS + "UseVoucher", request, rewards_pb2.UseVoucherResponse)
        return voucher(answer.voucher)


class RewardBrowsing(ClientBase):
    async def list_rewards(self, *, member: MemberRef | None = None) -> tuple[RewardOffer, ...]:
        """The rewards on offer; with a member, whether they can afford and still redeem each.

        >>> offers = await shop.list_rewards(member=Identifier.email("ada@example.com"))
        """
        return await list_offers(self._transport, member)

    async def list_vouchers(
        self, *, member: MemberRef, state: VoucherState | None = None
    ) -> tuple[Voucher, ...]:
        """A member's vouchers, of one state or all.

        >>> unused = await shop.list_vouchers(member="mem_01J...", state=VoucherState.ISSUED)
        """
        return await list_member_vouchers(self._transport, member, state)


class Redemptions(RewardBrowsing):
    async def redeem_reward(
        self, *, member: MemberRef, reward_id: str, idempotency_key: str | None = None
    ) -> Redemption:
        """Spend the reward's points on a voucher (one transaction; never oversold).

        >>> redemption = await shop.redeem_reward(member="mem_01J...", reward_id="rwd_01J...")
        """
        return await redeem(
            self._transport, member, reward_id, self._channel, self._store_id, idempotency_key
        )


class VoucherCancelling(ClientBase):
    async def cancel_voucher(self, *, code: str, idempotency_key: str | None = None) -> VoucherCancellation:
        """Cancel an unused voucher: its points and its unit of stock come back.

        >>> cancelled = await shop.cancel_voucher(code="7KQ4-M9XD-2RWH-TB5P")
        """
        return await cancel(self._transport, code, idempotency_key)


class MemberRewards(ClientBase):
    member_id: str

    async def list_rewards(self) -> tuple[RewardOffer, ...]:
        """The rewards on offer, and whether the member can afford and still redeem each.

        >>> offers = await app.list_rewards()
        """
        return await list_offers(self._transport, self.member_id)

    async def redeem_reward(self, *, reward_id: str, idempotency_key: str | None = None) -> Redemption:
        """Spend the reward's points on a voucher.

        >>> redemption = await app.redeem_reward(reward_id="rwd_01J...")
        """
        return await redeem(self._transport, self.member_id, reward_id, Channel.APP, "", idempotency_key)

    async def list_vouchers(self, *, state: VoucherState | None = None) -> tuple[Voucher, ...]:
        """The member's vouchers, of one state or all.

        >>> unused = await app.list_vouchers(state=VoucherState.ISSUED)
        """
        return await list_member_vouchers(self._transport, self.member_id, state)

    async def get_voucher(self, *, code: str) -> Voucher:
        """One of the member's vouchers by its code.

        >>> v = await app.get_voucher(code="7KQ4-M9XD-2RWH-TB5P")
        """
        return await get(self._transport, code)

    async def cancel_voucher(self, *, code: str, idempotency_key: str | None = None) -> VoucherCancellation:
        """Cancel an unused voucher of the member: its points come back.

        >>> cancelled = await app.cancel_voucher(code="7KQ4-M9XD-2RWH-TB5P")
        """
        return await cancel(self._transport, code, idempotency_key)


class RewardCatalogue(ClientBase):
    async def create_reward(self, spec: RewardSpec, *, idempotency_key: str | None = None) -> Reward:
        """Add a reward to the catalogue.

        >>> reward = await office.create_reward(RewardSpec(name="Tote bag", points_cost=500,
        ...                                                channels=(Channel.POS,), free_product_sku="TOTE"))
        """
        request = rewards_pb2.CreateRewardRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), reward=definition(spec)
        )
        answer = await self._transport.call(
            PROGRAM + "CreateReward", request, rewards_pb2.CreateRewardResponse
        )
        return reward(answer.reward)

    async def update_reward(
        self, reward_id: str, spec: RewardSpec, *, idempotency_key: str | None = None
    ) -> Reward:
        """Replace the definition; `spec.stock` is the change of stock (+ adds, - removes).

        >>> reward = await office.update_reward(reward.reward_id, replace(spec, stock=10))
        """
        request = rewards_pb2.UpdateRewardRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            reward_id=reward_id,
            reward=definition(spec),
        )
        answer = await self._transport.call(
            PROGRAM + "UpdateReward", request, rewards_pb2.UpdateRewardResponse
        )
        return reward(answer.reward)

    async def archive_reward(self, reward_id: str, *, idempotency_key: str | None = None) -> Reward:
        """Take a reward off offer.

        >>> await office.archive_reward(reward.reward_id)
        """
        request = rewards_pb2.ArchiveRewardRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), reward_id=reward_id
        )
        answer = await self._transport.call(
            PROGRAM + "ArchiveReward", request, rewards_pb2.ArchiveRewardResponse
        )
        return reward(answer.reward)

    async def list_reward_catalogue(self, *, include_archived: bool = False) -> tuple[Reward, ...]:
        """Every reward with its stock.

        >>> catalogue = await office.list_reward_catalogue(include_archived=True)
        """
        request = rewards_pb2.ListRewardCatalogueRequest(include_archived=include_archived)
        answer = await self._transport.call(
            PROGRAM + "ListRewardCatalogue", request, rewards_pb2.ListRewardCatalogueResponse
        )
        return tuple(reward(r) for r in answer.rewards)
