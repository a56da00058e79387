"""The mobile app, acting as one member with a short-lived member token.

Every call is about the token's own member, so no method takes a member id. Later features add their
calls here as methods of `AsyncMobileAppClient` (and one `blocking(...)` line each in `MobileAppClient`):
a live `watch()` async iterator, games, passports, challenges and check-ins, draws, data export/erase.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import Unpack

from loyalty_clients import _operations as ops
from loyalty_clients import _ops_challenges as challenges
from loyalty_clients import _ops_draws as draws
from loyalty_clients import _ops_events as live
from loyalty_clients import _ops_games as games
from loyalty_clients import _ops_journeys as journeys
from loyalty_clients import _ops_privacy as privacy
from loyalty_clients import _ops_rewards as rewards
from loyalty_clients import _ops_tiers as tiers
from loyalty_clients._base import ClientBase, ConnectionOptions
from loyalty_clients._blocking import BlockingClient, blocking, blocking_iterator, constructed_like
from loyalty_clients._models import (
    Balance,
    Channel,
    Consent,
    ConsentPurpose,
    EntryType,
    Identifier,
    LedgerEntry,
    LedgerPage,
    LinkResult,
    Member,
)

__all__ = ["AsyncMobileAppClient", "MobileAppClient", "member_id_of_token"]


def member_id_of_token(member_token: str) -> str:
    """The member a token speaks for, read from its claims (not verified here: the service verifies).

    >>> member_id_of_token(token.token)
    'mem_01J...'
    """
    parts = member_token.split(".")
    if len(parts) != 3:
        raise ValueError("not a member token")
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return str(claims["sub"])
    except (ValueError, KeyError, TypeError):
        raise ValueError("not a member token") from None


class AsyncMobileAppClient(
    challenges.MemberChallenges,
    rewards.MemberRewards,
    draws.MemberDraws,
    games.MemberGames,
    privacy.MemberPrivacy,
    live.MemberWatching,
    tiers.MyTier,
    journeys.MyReferralCode,
    ClientBase,
):
    """The member's app. Get the token from the app back end (`issue_member_token`).

    >>> async with AsyncMobileAppClient(member_token=token, target="loyalty:50051") as app:
    ...     balance = await app.balance()
    """

    _channel = Channel.APP

    def __init__(self, *, member_token: str, target: str, **options: Unpack[ConnectionOptions]) -> None:
        super().__init__(target=target, secret=member_token, **options)
        self.member_id = member_id_of_token(member_token)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self.target!r}, member_id={self.member_id!r})"

    def watch(
        self, *, from_sequence: int = 0, max_reconnects: int | None = None
    ) -> AsyncIterator[live.WatchItem]:
        """The live view: the balance, then each of the member's events as it commits, on any replica;
        reconnects by itself and resumes after the last sequence received, so nothing is missed or repeated.

        >>> async for item in app.watch():
        ...     print(item)
        """
        return self.watch_member(
            member_id=self.member_id, from_sequence=from_sequence, max_reconnects=max_reconnects
        )

    async def get_member(self, *, include_consent_history: bool = False) -> Member:
        """The member's own profile, identifiers and consents.

        >>> me = await app.get_member()
        """
        return await ops.get_member(self._transport, self.member_id, include_consent_history)

    async def balance(self) -> Balance:
        """The member's live balance.

        >>> balance = await app.balance()
        """
        return await ops.get_balance(self._transport, self.member_id)

    async def list_ledger_entries(
        self,
        *,
        page_size: int = 50,
        page_token: str = "",
        types: Iterable[EntryType] = (),
        channels: Iterable[Channel] = (),
        occurred_from: datetime | None = None,
        occurred_to: datetime | None = None,
    ) -> LedgerPage:
        """One page of the member's history, newest first.

        >>> page = await app.list_ledger_entries(page_size=20)
        """
        return await ops.list_ledger_entries(
            self._transport,
            self.member_id,
            page_size=page_size,
            page_token=page_token,
            types=types,
            channels=channels,
            occurred_from=occurred_from,
            occurred_to=occurred_to,
        )

    def history(
        self,
        *,
        page_size: int = 100,
        types: Iterable[EntryType] = (),
        channels: Iterable[Channel] = (),
        occurred_from: datetime | None = None,
        occurred_to: datetime | None = None,
    ) -> AsyncIterator[LedgerEntry]:
        """The member's whole history, newest first, page by page.

        >>> async for entry in app.history(types=[EntryType.EARN]): ...
        """
        return ops.iterate_history(
            self._transport,
            self.member_id,
            page_size=page_size,
            types=types,
            channels=channels,
            occurred_from=occurred_from,
            occurred_to=occurred_to,
        )

    async def update_consent(
        self, *, changes: Mapping[ConsentPurpose, bool], idempotency_key: str | None = None
    ) -> tuple[Consent, ...]:
        """Grant or withdraw the member's consents.

        >>> await app.update_consent(changes={ConsentPurpose.LOCATION: True})
        """
        return await ops.update_consent(self._transport, self.member_id, changes, idempotency_key)

    async def link_identifier(
        self, *, identifier: Identifier, idempotency_key: str | None = None
    ) -> LinkResult:
        """Add an identifier to the member (e.g. the card they just got in store).

        >>> await app.link_identifier(identifier=Identifier.card("4000123456"))
        """
        return await ops.link_identifier(self._transport, self.member_id, identifier, idempotency_key)


class MobileAppClient(BlockingClient[AsyncMobileAppClient]):
    """The blocking app client; same arguments and methods as `AsyncMobileAppClient`.

    >>> with MobileAppClient(member_token=token, target="loyalty:50051") as app:
    ...     print(app.balance().available)
    """

    @constructed_like(AsyncMobileAppClient)
    def __init__(self, client: AsyncMobileAppClient) -> None:
        super().__init__(client)

    @property
    def member_id(self) -> str:
        return self._async.member_id

    get_member = blocking(AsyncMobileAppClient.get_member)
    my_tier = blocking(AsyncMobileAppClient.my_tier)
    my_referral_code = blocking(AsyncMobileAppClient.my_referral_code)
    balance = blocking(AsyncMobileAppClient.balance)
    export_my_data = blocking(AsyncMobileAppClient.export_my_data)
    erase_me = blocking(AsyncMobileAppClient.erase_me)
    list_ledger_entries = blocking(AsyncMobileAppClient.list_ledger_entries)
    history = blocking_iterator(AsyncMobileAppClient.history)
    watch = blocking_iterator(AsyncMobileAppClient.watch)
    watch_member = blocking_iterator(AsyncMobileAppClient.watch_member)
    update_consent = blocking(AsyncMobileAppClient.update_consent)
    link_identifier = blocking(AsyncMobileAppClient.link_identifier)
    list_rewards = blocking(AsyncMobileAppClient.list_rewards)
    redeem_reward = blocking(AsyncMobileAppClient.redeem_reward)
    games = blocking(AsyncMobileAppClient.games)
    play = blocking(AsyncMobileAppClient.play)
    plays = blocking(AsyncMobileAppClient.plays)
    passports = blocking(AsyncMobileAppClient.passports)
    passport = blocking(AsyncMobileAppClient.passport)
    leaderboard = blocking(AsyncMobileAppClient.leaderboard)
    leaderboard_settings = blocking(AsyncMobileAppClient.leaderboard_settings)
    list_vouchers = blocking(AsyncMobileAppClient.list_vouchers)
    get_voucher = blocking(AsyncMobileAppClient.get_voucher)
    cancel_voucher = blocking(AsyncMobileAppClient.cancel_voucher)
    list_draws = blocking(AsyncMobileAppClient.list_draws)
    get_draw = blocking(AsyncMobileAppClient.get_draw)
    enter_draw = blocking(AsyncMobileAppClient.enter_draw)
    draw_result = blocking(AsyncMobileAppClient.draw_result)
    nearby_challenges = blocking(AsyncMobileAppClient.nearby_challenges)
    check_in = blocking(AsyncMobileAppClient.check_in)
    challenge_progress = blocking(AsyncMobileAppClient.challenge_progress)
