"""The back office: stores, credentials, programme settings, earning rules, point adjustments.

Later features add their back-office calls here (rewards, games, passports, challenges, draws, figures).
"""

from __future__ import annotations

from datetime import datetime
from typing import Unpack

from loyalty.v1 import audit_pb2, program_pb2

from loyalty_clients import _convert as c
from loyalty_clients import _operations as ops
from loyalty_clients import _ops_challenges as challenges
from loyalty_clients import _ops_draws as draws
from loyalty_clients import _ops_events as live
from loyalty_clients import _ops_games as games
from loyalty_clients import _ops_journeys as journeys
from loyalty_clients import _ops_privacy as privacy
from loyalty_clients import _ops_rewards as rewards
from loyalty_clients import _ops_tiers as tiers
from loyalty_clients._base import ConnectionOptions
from loyalty_clients._blocking import BlockingClient, blocking, blocking_iterator, constructed_like
from loyalty_clients._models import (
    AuditPage,
    Channel,
    Credential,
    CredentialKind,
    EarningRule,
    EarningRuleSpec,
    NewCredential,
    ProgramSettings,
    Store,
)
from loyalty_clients._transport import new_idempotency_key

__all__ = ["AsyncMarketingClient", "MarketingClient"]

PROGRAM = "/loyalty.v1.ProgramService/"


def _effective(message: object, when: datetime | None) -> None:
    if when is not None:
        message.effective_from.CopyFrom(c.timestamp(when))  # type: ignore[attr-defined]


class AsyncMarketingClient(
    live.ProgramWatching,
    ops.MemberLookup,
    ops.MemberEnrolment,
    ops.Consents,
    ops.Balances,
    ops.History,
    ops.Adjustments,
    rewards.RewardCatalogue,
    rewards.RewardBrowsing,
    rewards.VoucherLookup,
    rewards.VoucherCancelling,
    draws.DrawOffice,
    games.GameOffice,
    games.MemberPlays,
    games.PassportsForMembers,
    games.Leaderboards,
    challenges.ChallengeOffice,
    privacy.MemberDataRequests,
    tiers.MemberTiers,
    tiers.TierLadderOffice,
    journeys.JourneyOffice,
    journeys.PickupReading,
    journeys.MemberReferralCode,
):
    """Marketing and programme staff (a `backoffice` credential).

    >>> async with AsyncMarketingClient(api_key=key, target="loyalty:50051") as office:
    ...     rules = await office.list_earning_rules()
    """

    _channel = Channel.BACKOFFICE

    def __init__(self, *, api_key: str, target: str, **options: Unpack[ConnectionOptions]) -> None:
        super().__init__(target=target, secret=api_key, **options)

    async def create_store(self, *, store_id: str, name: str, idempotency_key: str | None = None) -> Store:
        """Register a store by the retailer's own code.

        >>> store = await office.create_store(store_id="paris-01", name="Paris Rivoli")
        """
        request = program_pb2.CreateStoreRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), store_id=store_id, name=name
        )
        answer = await self._transport.call(PROGRAM + "CreateStore", request, program_pb2.CreateStoreResponse)
        return c.store(answer.store)

    async def list_stores(self) -> tuple[Store, ...]:
        """Every store of the programme.

        >>> stores = await office.list_stores()
        """
        answer = await self._transport.call(
            PROGRAM + "ListStores", program_pb2.ListStoresRequest(), program_pb2.ListStoresResponse
        )
        return tuple(c.store(s) for s in answer.stores)

    async def create_credential(
        self, *, kind: CredentialKind, name: str, store_id: str = "", idempotency_key: str | None = None
    ) -> NewCredential:
        """Create an API key (shown once in `api_key`); a `pos` key needs its store.

        >>> new = await office.create_credential(kind=CredentialKind.POS, name="till 3", store_id="paris-01")
        """
        request = program_pb2.CreateCredentialRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            kind=c.CREDENTIAL_KIND_TO_PROTO[kind],
            store_id=store_id,
            name=name,
        )
        answer = await self._transport.call(
            PROGRAM + "CreateCredential", request, program_pb2.CreateCredentialResponse
        )
        return NewCredential(credential=c.credential(answer.credential), api_key=answer.api_key)

    async def list_credentials(self, *, include_revoked: bool = False) -> tuple[Credential, ...]:
        """The programme's credentials (never their keys).

        >>> credentials = await office.list_credentials(include_revoked=True)
        """
        answer = await self._transport.call(
            PROGRAM + "ListCredentials",
            program_pb2.ListCredentialsRequest(include_revoked=include_revoked),
            program_pb2.ListCredentialsResponse,
        )
        return tuple(c.credential(x) for x in answer.credentials)

    async def revoke_credential(
        self, *, credential_id: str, idempotency_key: str | None = None
    ) -> Credential:
        """Revoke a credential; its key stops working at once.

        >>> await office.revoke_credential(credential_id=new.credential.credential_id)
        """
        request = program_pb2.RevokeCredentialRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), credential_id=credential_id
        )
        answer = await self._transport.call(
            PROGRAM + "RevokeCredential", request, program_pb2.RevokeCredentialResponse
        )
        return c.credential(answer.credential)

    async def get_program_settings(self) -> ProgramSettings:
        """Return window, expiry and offline age limits.

        >>> settings = await office.get_program_settings()
        """
        answer = await self._transport.call(
            PROGRAM + "GetProgramSettings",
            program_pb2.GetProgramSettingsRequest(),
            program_pb2.GetProgramSettingsResponse,
        )
        return c.settings(answer.settings)

    async def update_program_settings(
        self, *, settings: ProgramSettings, idempotency_key: str | None = None
    ) -> ProgramSettings:
        """Replace the programme settings.

        >>> await office.update_program_settings(settings=ProgramSettings(pending_days=14, expiry_months=24))
        """
        request = program_pb2.UpdateProgramSettingsRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            settings=program_pb2.ProgramSettings(
                pending_days=settings.pending_days,
                expiry_months=settings.expiry_months,
                offline_max_age_days=settings.offline_max_age_days,
            ),
        )
        answer = await self._transport.call(
            PROGRAM + "UpdateProgramSettings", request, program_pb2.UpdateProgramSettingsResponse
        )
        return c.settings(answer.settings)

    async def create_earning_rule(
        self,
        *,
        spec: EarningRuleSpec,
        effective_from: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> EarningRule:
        """Create an earning rule or promotion (version 1), effective now unless told otherwise.

        >>> rule = await office.create_earning_rule(
        ...     spec=EarningRuleSpec.base_rate(name="base", currency="EUR", points_per_unit=1))
        """
        request = program_pb2.CreateEarningRuleRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), spec=c.rule_spec(spec)
        )
        _effective(request, effective_from)
        answer = await self._transport.call(
            PROGRAM + "CreateEarningRule", request, program_pb2.CreateEarningRuleResponse
        )
        return c.rule(answer.rule)

    async def update_earning_rule(
        self,
        *,
        rule_id: str,
        spec: EarningRuleSpec,
        effective_from: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> EarningRule:
        """A new version of a rule from `effective_from` (now by default); the past keeps the old one.

        >>> rule = await office.update_earning_rule(rule_id=rule.rule_id,
        ...     spec=EarningRuleSpec.base_rate(name="base", currency="EUR", points_per_unit=2))
        """
        request = program_pb2.UpdateEarningRuleRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), rule_id=rule_id, spec=c.rule_spec(spec)
        )
        _effective(request, effective_from)
        answer = await self._transport.call(
            PROGRAM + "UpdateEarningRule", request, program_pb2.UpdateEarningRuleResponse
        )
        return c.rule(answer.rule)

    async def retire_earning_rule(
        self, *, rule_id: str, effective_from: datetime | None = None, idempotency_key: str | None = None
    ) -> EarningRule:
        """Stop a rule from `effective_from` on (now by default).

        >>> await office.retire_earning_rule(rule_id=rule.rule_id)
        """
        request = program_pb2.RetireEarningRuleRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), rule_id=rule_id
        )
        _effective(request, effective_from)
        answer = await self._transport.call(
            PROGRAM + "RetireEarningRule", request, program_pb2.RetireEarningRuleResponse
        )
        return c.rule(answer.rule)

    async def list_earning_rules(
        self, *, as_of: datetime | None = None, include_history: bool = False
    ) -> tuple[EarningRule, ...]:
        """The latest version of every rule, the versions that held `as_of`, or every version.

        >>> rules = await office.list_earning_rules(include_history=True)
        """
        request = program_pb2.ListEarningRulesRequest(include_history=include_history)
        if as_of is not None:
            request.as_of.CopyFrom(c.timestamp(as_of))
        answer = await self._transport.call(
            PROGRAM + "ListEarningRules", request, program_pb2.ListEarningRulesResponse
        )
        return tuple(c.rule(r) for r in answer.rules)

    async def list_audit_events(
        self,
        *,
        subject_type: str = "",
        subject_id: str = "",
        occurred_from: datetime | None = None,
        occurred_to: datetime | None = None,
        page_size: int = 0,
        page_token: str = "",
    ) -> AuditPage:
        """One page of the audit log of back-office writes, newest first; filters are optional.

        >>> page = await office.list_audit_events(subject_type="earning_rule", subject_id=rule.rule_id)
        """
        request = audit_pb2.ListAuditEventsRequest(
            subject_type=subject_type, subject_id=subject_id, page_size=page_size, page_token=page_token
        )
        if occurred_from is not None:
            request.occurred_from.CopyFrom(c.timestamp(occurred_from))
        if occurred_to is not None:
            request.occurred_to.CopyFrom(c.timestamp(occurred_to))
        answer = await self._transport.call(
            PROGRAM + "ListAuditEvents", request, audit_pb2.ListAuditEventsResponse
        )
        return c.audit_page(answer)


class MarketingClient(BlockingClient[AsyncMarketingClient]):
    """The blocking back-office client; same arguments and methods as `AsyncMarketingClient`.

    >>> with MarketingClient(api_key=key, target="loyalty:50051") as office:
    ...     office.create_store(store_id="lyon-02", name="Lyon Part-Dieu")
    """

    @constructed_like(AsyncMarketingClient)
    def __init__(self, client: AsyncMarketingClient) -> None:
        super().__init__(client)

    lookup_member = blocking(AsyncMarketingClient.lookup_member)
    get_member = blocking(AsyncMarketingClient.get_member)
    member_tier = blocking(AsyncMarketingClient.member_tier)
    set_tier_ladder = blocking(AsyncMarketingClient.set_tier_ladder)
    get_tier_ladder = blocking(AsyncMarketingClient.get_tier_ladder)
    list_tier_ladders = blocking(AsyncMarketingClient.list_tier_ladders)
    journey_settings = blocking(AsyncMarketingClient.journey_settings)
    update_journey_settings = blocking(AsyncMarketingClient.update_journey_settings)
    get_pickup = blocking(AsyncMarketingClient.get_pickup)
    referral_code = blocking(AsyncMarketingClient.referral_code)
    enroll_member = blocking(AsyncMarketingClient.enroll_member)
    link_identifier = blocking(AsyncMarketingClient.link_identifier)
    update_consent = blocking(AsyncMarketingClient.update_consent)
    balance = blocking(AsyncMarketingClient.balance)
    list_ledger_entries = blocking(AsyncMarketingClient.list_ledger_entries)
    history = blocking_iterator(AsyncMarketingClient.history)
    watch_program = blocking_iterator(AsyncMarketingClient.watch_program)
    program_stats = blocking(AsyncMarketingClient.program_stats)
    adjust_points = blocking(AsyncMarketingClient.adjust_points)
    create_store = blocking(AsyncMarketingClient.create_store)
    list_stores = blocking(AsyncMarketingClient.list_stores)
    create_credential = blocking(AsyncMarketingClient.create_credential)
    list_credentials = blocking(AsyncMarketingClient.list_credentials)
    revoke_credential = blocking(AsyncMarketingClient.revoke_credential)
    get_program_settings = blocking(AsyncMarketingClient.get_program_settings)
    update_program_settings = blocking(AsyncMarketingClient.update_program_settings)
    create_earning_rule = blocking(AsyncMarketingClient.create_earning_rule)
    create_game = blocking(AsyncMarketingClient.create_game)
    update_game = blocking(AsyncMarketingClient.update_game)
    list_all_games = blocking(AsyncMarketingClient.list_all_games)
    create_play_token_rule = blocking(AsyncMarketingClient.create_play_token_rule)
    create_passport = blocking(AsyncMarketingClient.create_passport)
    update_passport = blocking(AsyncMarketingClient.update_passport)
    list_all_passports = blocking(AsyncMarketingClient.list_all_passports)
    update_earning_rule = blocking(AsyncMarketingClient.update_earning_rule)
    retire_earning_rule = blocking(AsyncMarketingClient.retire_earning_rule)
    list_earning_rules = blocking(AsyncMarketingClient.list_earning_rules)
    create_reward = blocking(AsyncMarketingClient.create_reward)
    update_reward = blocking(AsyncMarketingClient.update_reward)
    archive_reward = blocking(AsyncMarketingClient.archive_reward)
    list_reward_catalogue = blocking(AsyncMarketingClient.list_reward_catalogue)
    create_draw = blocking(AsyncMarketingClient.create_draw)
    update_draw = blocking(AsyncMarketingClient.update_draw)
    list_all_draws = blocking(AsyncMarketingClient.list_all_draws)
    list_draws = blocking(AsyncMarketingClient.list_draws)
    get_draw = blocking(AsyncMarketingClient.get_draw)
    run_draw = blocking(AsyncMarketingClient.run_draw)
    draw_result = blocking(AsyncMarketingClient.draw_result)
    export_draw_result = blocking(AsyncMarketingClient.export_draw_result)
    create_place = blocking(AsyncMarketingClient.create_place)
    update_place = blocking(AsyncMarketingClient.update_place)
    archive_place = blocking(AsyncMarketingClient.archive_place)
    list_places = blocking(AsyncMarketingClient.list_places)
    create_challenge = blocking(AsyncMarketingClient.create_challenge)
    update_challenge = blocking(AsyncMarketingClient.update_challenge)
    list_challenges = blocking(AsyncMarketingClient.list_challenges)
    list_audit_events = blocking(AsyncMarketingClient.list_audit_events)
    list_rewards = blocking(AsyncMarketingClient.list_rewards)
    list_vouchers = blocking(AsyncMarketingClient.list_vouchers)
    get_voucher = blocking(AsyncMarketingClient.get_voucher)
    cancel_voucher = blocking(AsyncMarketingClient.cancel_voucher)
    plays = blocking(AsyncMarketingClient.plays)
    passports = blocking(AsyncMarketingClient.passports)
    passport = blocking(AsyncMarketingClient.passport)
    leaderboard = blocking(AsyncMarketingClient.leaderboard)
    export_member_data = blocking(AsyncMarketingClient.export_member_data)
    erase_member = blocking(AsyncMarketingClient.erase_member)
