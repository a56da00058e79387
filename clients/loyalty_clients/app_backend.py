"""The mobile app's back end: it enrols members and issues the member tokens the app calls with, and acts for
a member it names: rewards and vouchers, games, passports, draw entries, leaderboard settings, export/erase.
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

__all__ = ["AppBackendClient", "AsyncAppBackendClient"]


class AsyncAppBackendClient(
    ops.MemberLookup,
    ops.MemberEnrolment,
    ops.Consents,
    ops.MemberTokens,
    ops.Balances,
    ops.History,
    live.MemberWatching,
    rewards.VoucherLookup,
    rewards.Redemptions,
    rewards.VoucherCancelling,
    draws.DrawEntryForMembers,
    games.GamesForMembers,
    games.MemberPlays,
    games.PassportsForMembers,
    games.Leaderboards,
    privacy.MemberDataRequests,
    tiers.MemberTiers,
    journeys.ReferralEnrolment,
    journeys.MemberReferralCode,
):
    """The app back end (an `app_backend` credential).

    >>> async with AsyncAppBackendClient(api_key=key, target="loyalty:50051") as backend:
    ...     token = await backend.issue_member_token(member_id=member.member_id)
    """

    _channel = Channel.APP

    def __init__(
        self,
        *,
        api_key: str,
        target: str,
        **options: Unpack[ConnectionOptions],
    ) -> None:
        super().__init__(target=target, secret=api_key, **options)


class AppBackendClient(BlockingClient[AsyncAppBackendClient]):
    """The blocking app back-end client; same arguments and methods as `AsyncAppBackendClient`.

    >>> with AppBackendClient(api_key=key, target="loyalty:50051") as backend:
    ...     token = backend.issue_member_token(member_id=member.member_id)
    """

    @constructed_like(AsyncAppBackendClient)
    def __init__(self, client: AsyncAppBackendClient) -> None:
        super().__init__(client)

    lookup_member = blocking(AsyncAppBackendClient.lookup_member)
    get_member = blocking(AsyncAppBackendClient.get_member)
    member_tier = blocking(AsyncAppBackendClient.member_tier)
    enroll_referred_member = blocking(AsyncAppBackendClient.enroll_referred_member)
    referral_code = blocking(AsyncAppBackendClient.referral_code)
    enroll_member = blocking(AsyncAppBackendClient.enroll_member)
    link_identifier = blocking(AsyncAppBackendClient.link_identifier)
    update_consent = blocking(AsyncAppBackendClient.update_consent)
    issue_member_token = blocking(AsyncAppBackendClient.issue_member_token)
    balance = blocking(AsyncAppBackendClient.balance)
    list_ledger_entries = blocking(AsyncAppBackendClient.list_ledger_entries)
    history = blocking_iterator(AsyncAppBackendClient.history)
    watch_member = blocking_iterator(AsyncAppBackendClient.watch_member)
    list_rewards = blocking(AsyncAppBackendClient.list_rewards)
    redeem_reward = blocking(AsyncAppBackendClient.redeem_reward)
    list_vouchers = blocking(AsyncAppBackendClient.list_vouchers)
    get_voucher = blocking(AsyncAppBackendClient.get_voucher)
    cancel_voucher = blocking(AsyncAppBackendClient.cancel_voucher)
    list_draws = blocking(AsyncAppBackendClient.list_draws)
    get_draw = blocking(AsyncAppBackendClient.get_draw)
    enter_draw = blocking(AsyncAppBackendClient.enter_draw)
    draw_result = blocking(AsyncAppBackendClient.draw_result)
    games = blocking(AsyncAppBackendClient.games)
    play = blocking(AsyncAppBackendClient.play)
    plays = blocking(AsyncAppBackendClient.plays)
    passports = blocking(AsyncAppBackendClient.passports)
    passport = blocking(AsyncAppBackendClient.passport)
    leaderboard = blocking(AsyncAppBackendClient.leaderboard)
    leaderboard_settings = blocking(AsyncAppBackendClient.leaderboard_settings)
    export_member_data = blocking(AsyncAppBackendClient.export_member_data)
    erase_member = blocking(AsyncAppBackendClient.erase_member)
