"""The web shop back end: members, online orders, refunds, spending at checkout, history, member tokens, and
for a member it names: rewards and vouchers, games, passports, draw entries, leaderboard settings,
export/erase.
"""

from __future__ import annotations

from typing import Unpack

from loyalty_clients import _operations as ops
from loyalty_clients import _ops_draws as draws
from loyalty_clients import _ops_events as live
from loyalty_clients import _ops_games as games
from loyalty_clients import _ops_journeys as journeys
from loyalty_clients import _ops_privacy as privacy
from loyalty_clients import _ops_rewards as rewards
from loyalty_clients import _ops_tiers as tiers
from loyalty_clients._base import ConnectionOptions
from loyalty_clients._blocking import BlockingClient, blocking, blocking_iterator, constructed_like
from loyalty_clients._models import Channel

__all__ = ["AsyncWebShopClient", "WebShopClient"]

DEFAULT_WEBSHOP_STORE_ID = "webshop"


class AsyncWebShopClient(
    live.MemberWatching,
    ops.MemberLookup,
    ops.MemberEnrolment,
    ops.Consents,
    ops.MemberTokens,
    ops.Balances,
    ops.History,
    ops.Purchases,
    ops.LedgerWrites,
    rewards.VoucherAcceptance,
    rewards.Redemptions,
    rewards.VoucherCancelling,
    draws.DrawEntryForMembers,
    games.GamesForMembers,
    games.MemberPlays,
    games.PassportsForMembers,
    games.Leaderboards,
    privacy.MemberDataRequests,
    tiers.MemberTiers,
    journeys.ClickAndCollectOrders,
    journeys.PickupReading,
    journeys.ReferralEnrolment,
    journeys.MemberReferralCode,
):
    """The web shop (a `webshop` credential). `store_id` names the shop in orders (one per site).

    >>> async with AsyncWebShopClient(api_key=key, target="loyalty:50051") as shop:
    ...     spend = await shop.spend_points(member="mem_01J...", points=500, order_id="W-1002")
    """

    _channel = Channel.WEBSHOP

    def __init__(
        self,
        *,
        api_key: str,
        target: str,
        store_id: str = DEFAULT_WEBSHOP_STORE_ID,
        **options: Unpack[ConnectionOptions],
    ) -> None:
        super().__init__(target=target, secret=api_key, store_id=store_id, **options)


class WebShopClient(BlockingClient[AsyncWebShopClient]):
    """The blocking web shop client; same arguments and methods as `AsyncWebShopClient`.

    >>> with WebShopClient(api_key=key, target="loyalty:50051") as shop:
    ...     shop.balance(member=Identifier.email("ada@example.com"))
    """

    @constructed_like(AsyncWebShopClient)
    def __init__(self, client: AsyncWebShopClient) -> None:
        super().__init__(client)

    lookup_member = blocking(AsyncWebShopClient.lookup_member)
    get_member = blocking(AsyncWebShopClient.get_member)
    member_tier = blocking(AsyncWebShopClient.member_tier)
    record_click_and_collect_order = blocking(AsyncWebShopClient.record_click_and_collect_order)
    get_pickup = blocking(AsyncWebShopClient.get_pickup)
    enroll_referred_member = blocking(AsyncWebShopClient.enroll_referred_member)
    referral_code = blocking(AsyncWebShopClient.referral_code)
    enroll_member = blocking(AsyncWebShopClient.enroll_member)
    link_identifier = blocking(AsyncWebShopClient.link_identifier)
    update_consent = blocking(AsyncWebShopClient.update_consent)
    issue_member_token = blocking(AsyncWebShopClient.issue_member_token)
    balance = blocking(AsyncWebShopClient.balance)
    list_ledger_entries = blocking(AsyncWebShopClient.list_ledger_entries)
    history = blocking_iterator(AsyncWebShopClient.history)
    watch_member = blocking_iterator(AsyncWebShopClient.watch_member)
    record_purchase = blocking(AsyncWebShopClient.record_purchase)
    record_refund = blocking(AsyncWebShopClient.record_refund)
    spend_points = blocking(AsyncWebShopClient.spend_points)
    cancel_spend = blocking(AsyncWebShopClient.cancel_spend)
    list_rewards = blocking(AsyncWebShopClient.list_rewards)
    redeem_reward = blocking(AsyncWebShopClient.redeem_reward)
    list_vouchers = blocking(AsyncWebShopClient.list_vouchers)
    get_voucher = blocking(AsyncWebShopClient.get_voucher)
    use_voucher = blocking(AsyncWebShopClient.use_voucher)
    cancel_voucher = blocking(AsyncWebShopClient.cancel_voucher)
    list_draws = blocking(AsyncWebShopClient.list_draws)
    get_draw = blocking(AsyncWebShopClient.get_draw)
    enter_draw = blocking(AsyncWebShopClient.enter_draw)
    draw_result = blocking(AsyncWebShopClient.draw_result)
    games = blocking(AsyncWebShopClient.games)
    play = blocking(AsyncWebShopClient.play)
    plays = blocking(AsyncWebShopClient.plays)
    passports = blocking(AsyncWebShopClient.passports)
    passport = blocking(AsyncWebShopClient.passport)
    leaderboard = blocking(AsyncWebShopClient.leaderboard)
    leaderboard_settings = blocking(AsyncWebShopClient.leaderboard_settings)
    export_member_data = blocking(AsyncWebShopClient.export_member_data)
    erase_member = blocking(AsyncWebShopClient.erase_member)
