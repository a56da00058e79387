"""RewardService: the catalogue as members see it, redemptions, and vouchers in every channel.

Validate at the edge, then one transaction per RPC (`Runtime.write` for changes). Code lookups
(GetVoucher, UseVoucher, CancelVoucher) that miss count against the caller in `MissGuard`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from loyalty.v1 import rewards_pb2, rewards_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import metrics
from loyalty_service.auth.principal import Principal, PrincipalKind, current_principal
from loyalty_service.common_messages import channel_of
from loyalty_service.errors import InvalidArgument, NotFound
from loyalty_service.grpc_types import Context
from loyalty_service.ledger import api as ledger_api
from loyalty_service.members import api as members_api
from loyalty_service.rewards import catalogue, requests, store, vouchers
from loyalty_service.rewards.api import issue_voucher
from loyalty_service.rewards.guard import MissGuard
from loyalty_service.rewards.messages import VOUCHER_STATES, voucher_message
from loyalty_service.runtime import Runtime
from loyalty_service.tiers import api as tiers_api
from loyalty_service.validation import Checks

__all__ = ["RewardServicer"]

T = TypeVar("T")


def _require_own(principal: Principal, member_id: str) -> None:
    """A member token sees another member's voucher as unknown (NOT_FOUND, a miss), revealing nothing."""
    if principal.kind is PrincipalKind.MEMBER and principal.member_id != member_id:
        raise NotFound("voucher", "code", "no voucher has this code")


class RewardServicer(rewards_pb2_grpc.RewardServiceServicer):
    def __init__(self, runtime: Runtime, *, guard: MissGuard | None = None) -> None:
        self._rt = runtime
        self._guard = guard or MissGuard()

    async def _looking_up(self, principal: Principal, text: str, lookup: Callable[[str], Awaitable[T]]) -> T:
        """Run a lookup by code; unknown or mistyped codes count as misses of the caller."""
        self._guard.check(principal.credential_id)
        try:
            return await lookup(requests.read_code(text))
        except InvalidArgument:
            self._guard.record_miss(principal.credential_id)
            raise
        except NotFound as error:
            if error.resource_type == "voucher":
                self._guard.record_miss(principal.credential_id)
            raise

    async def ListRewards(
        self, request: rewards_pb2.ListRewardsRequest, context: Context
    ) -> rewards_pb2.ListRewardsResponse:
        principal = current_principal()
        checks = Checks()
        key = None
        if request.HasField("member"):
            key = requests.read_member_ref(checks, "member", request.member)
        elif principal.kind is PrincipalKind.MEMBER:
            key = members_api.MemberKey(member_id=principal.member_id)
        checks.done()

        async def work(conn: AsyncConnection) -> rewards_pb2.ListRewardsResponse:
            member_id = None
            if key is not None:
                member_id = await members_api.require_member(conn, key)
                principal.require_member(member_id)
            offers = await catalogue.member_offers(conn, member_id=member_id, now=self._rt.now())
            # Rewards reserved for a status tier: marked, and not redeemable below it (tiers.api).
            required = await tiers_api.reward_requirements(
                conn, member_id=member_id, reward_ids=[o.reward.reward_id for o in offers], now=self._rt.now()
            )
            for offer in offers:
                if (requirement := required.get(offer.reward.reward_id)) is not None:
                    offer.required_tier_id = requirement.tier_id
                    offer.required_tier_name = requirement.tier_name
                    offer.redeemable = offer.redeemable and requirement.allowed
            return rewards_pb2.ListRewardsResponse(offers=offers)

        return await self._rt.read(work)

    async def RedeemReward(
        self, request: rewards_pb2.RedeemRewardRequest, context: Context
    ) -> rewards_pb2.RedeemRewardResponse:
        principal = current_principal()
        checks = Checks()
        checks.idempotency_key(request.idempotency_key)
        key = requests.read_member_ref(checks, "member", request.member)
        reward_id = checks.entity_id("reward_id", request.reward_id, "rwd")
        channel, store_id = requests.read_usage_channel(checks, request.channel, request.store_id)
        checks.done()
        assert key is not None
        assert channel is not None
        requests.authorize_channel(principal, channel, store_id)

        async def work(conn: AsyncConnection) -> rewards_pb2.RedeemRewardResponse:
            member_id = await members_api.require_member(conn, key)
            principal.require_member(member_id)
            # The ledger lock first, as a tier review takes it: the tier read below holds until commit.
            await ledger_api.lock_ledger(conn, member_id)
            await tiers_api.require_reward_tier(  # TIER_REQUIRED for a reward reserved to a higher tier
                conn, member_id=member_id, reward_id=reward_id, now=self._rt.now()
            )
            issued = await issue_voucher(
                conn,
                member_id=member_id,
                reward_id=reward_id,
                source_type="redemption",
                source_ref=request.idempotency_key,
                now=self._rt.now(),
                credential_id=principal.credential_id,
                charge_points=True,
                channel=channel.value,
                store_id=store_id,
            )
            return rewards_pb2.RedeemRewardResponse(
                voucher=issued.message, available_points=issued.available_points or 0
            )

        response, replayed = await self._rt.write_outcome(
            method="RedeemReward",
            request=request,
            key=request.idempotency_key,
            response_type=rewards_pb2.RedeemRewardResponse,
            work=work,
        )
        if not replayed:
            metrics.REDEMPTIONS.labels(channel.value).inc()
        return response

    async def GetVoucher(
        self, request: rewards_pb2.GetVoucherRequest, context: Context
    ) -> rewards_pb2.GetVoucherResponse:
        principal = current_principal()

        async def lookup(code: str) -> rewards_pb2.GetVoucherResponse:
            async def work(conn: AsyncConnection) -> rewards_pb2.GetVoucherResponse:
                found = await vouchers.find_voucher(conn, code)
                _require_own(principal, found.voucher.member_id)
                return rewards_pb2.GetVoucherResponse(voucher=voucher_message(found.voucher, found.reward))

            return await self._rt.read(work)

        return await self._looking_up(principal, request.code, lookup)

    async def ListVouchers(
        self, request: rewards_pb2.ListVouchersRequest, context: Context
    ) -> rewards_pb2.ListVouchersResponse:
        principal = current_principal()
        checks = Checks()
        key = requests.read_member_ref(checks, "member", request.member)
        state = None
        if request.state:
            state = checks.enum("state", request.state, VOUCHER_STATES)
        checks.done()
        assert key is not None

        async def work(conn: AsyncConnection) -> rewards_pb2.ListVouchersResponse:
            member_id = await members_api.require_member(conn, key, allow_closed=True)
            principal.require_member(member_id)
            rows = await store.list_vouchers(conn, member_id=member_id, state=state)
            rewards = {r.reward_id: r for r in await store.list_rewards(conn, include_archived=True)}
            return rewards_pb2.ListVouchersResponse(
                vouchers=[voucher_message(v, rewards[v.reward_id]) for v in rows]
            )

        return await self._rt.read(work)

    async def UseVoucher(
        self, request: rewards_pb2.UseVoucherRequest, context: Context
    ) -> rewards_pb2.UseVoucherResponse:
        principal = current_principal()
        checks = Checks()
        checks.idempotency_key(request.idempotency_key)
        channel, store_id = requests.read_usage_channel(checks, request.channel, request.store_id)
        order_id = checks.code("order_id", request.order_id, required=False)
        checks.done()
        assert channel is not None
        requests.authorize_channel(principal, channel, store_id)

        async def lookup(code: str) -> rewards_pb2.UseVoucherResponse:
            async def work(conn: AsyncConnection) -> rewards_pb2.UseVoucherResponse:
                voucher = await vouchers.use_voucher(
                    conn, code=code, channel=channel, store_id=store_id, order_id=order_id, now=self._rt.now()
                )
                return rewards_pb2.UseVoucherResponse(voucher=voucher)

            return await self._rt.write(
                method="UseVoucher",
                request=request,
                key=request.idempotency_key,
                response_type=rewards_pb2.UseVoucherResponse,
                work=work,
            )

        return await self._looking_up(principal, request.code, lookup)

    async def CancelVoucher(
        self, request: rewards_pb2.CancelVoucherRequest, context: Context
    ) -> rewards_pb2.CancelVoucherResponse:
        principal = current_principal()
        checks = Checks()
        checks.idempotency_key(request.idempotency_key)
        checks.done()
        channel = channel_of(principal)

        async def lookup(code: str) -> rewards_pb2.CancelVoucherResponse:
            async def work(conn: AsyncConnection) -> rewards_pb2.CancelVoucherResponse:
                owner = await store.member_of_code(conn, code)
                if owner is not None:
                    _require_own(principal, owner[0])
                voucher, points, available = await vouchers.cancel_voucher(
                    conn,
                    code=code,
                    channel=channel,
                    now=self._rt.now(),
                    credential_id=principal.credential_id,
                )
                return rewards_pb2.CancelVoucherResponse(
                    voucher=voucher, points_returned=points, available_points=available
                )

            return await self._rt.write(
                method="CancelVoucher",
                request=request,
                key=request.idempotency_key,
                response_type=rewards_pb2.CancelVoucherResponse,
                work=work,
            )

        return await self._looking_up(principal, request.code, lookup)
