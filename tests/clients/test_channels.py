"""The web shop, app back end, mobile app and marketing clients against a real server, whole surface."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from loyalty_clients import (
    AppBackendClient,
    AsyncAppBackendClient,
    AsyncMarketingClient,
    AsyncMobileAppClient,
    AsyncWebShopClient,
    Channel,
    ConsentPurpose,
    CredentialKind,
    EarningRuleKind,
    EarningRuleSpec,
    EntryType,
    Identifier,
    InsufficientPoints,
    InvalidArgument,
    MobileAppClient,
    Money,
    NotFound,
    PermissionDenied,
    ProgramSettings,
    PurchaseLine,
    Unauthenticated,
)

from tests.clients.conftest import ledger_guard, make_keys, target_of, unique
from tests.support.api import Running


async def test_webshop_and_mobile_app(isolated_service: Running) -> None:
    """Goal: an online order, checkout spend, refund and history; then the member's own app view."""
    keys, target = await make_keys(isolated_service.url), target_of(isolated_service)
    async with AsyncMarketingClient(api_key=keys.backoffice, target=target) as office:
        await office.create_earning_rule(
            spec=EarningRuleSpec.base_rate(name="base", currency="EUR", points_per_unit=1),
            effective_from=datetime.now(UTC) - timedelta(days=1),
        )
    email, customer = f"{unique('ada')}@Example.com", unique("cust")
    async with AsyncWebShopClient(api_key=keys.webshop, target=target) as shop:
        member = await shop.enroll_member(
            display_name="Ada",
            identifiers=[Identifier.email(email)],
            consents={ConsentPurpose.MARKETING: True},
        )
        assert [i.value for i in member.identifiers] == [email.lower()]
        assert member.consents[0].purpose is ConsentPurpose.MARKETING
        assert member.consents[0].granted
        linked = await shop.link_identifier(
            member_id=member.member_id, identifier=Identifier.webshop_customer_id(customer)
        )
        assert linked.merged_member_id == ""
        assert len(linked.member.identifiers) == 2
        found = await shop.lookup_member(identifier=Identifier.webshop_customer_id(customer))
        assert found.member_id == member.member_id
        consents = await shop.update_consent(
            member_id=member.member_id, changes={ConsentPurpose.PROFILING: False}
        )
        assert {c.purpose for c in consents} == {ConsentPurpose.MARKETING, ConsentPurpose.PROFILING}
        token = await shop.issue_member_token(member_id=member.member_id, ttl_seconds=600)
        assert token.expires_at is not None
        assert token.token not in repr(token)
        with pytest.raises(NotFound):
            await shop.get_member(member_id="mem_01J0000000000000000000000Z")
        # The isolated server's clock stands still at the test's start: purchases happen before it.
        with ledger_guard():
            for n in range(3):
                bought = await shop.record_purchase(
                    member=Identifier.email(email),
                    order_id=f"W-{n}",
                    amount=Money.of("40.00", "EUR"),
                    occurred_at=datetime.now(UTC) - timedelta(minutes=2),
                    lines=[PurchaseLine(sku="BOOK", category="books", amount_minor=4000)],
                )
                assert bought.points == 40, bought
            spend = await shop.spend_points(
                member=member.member_id, points=30, order_id="W-9", reason="checkout"
            )
            with pytest.raises(InsufficientPoints) as refused:
                await shop.spend_points(member=member.member_id, points=500, order_id="W-10")
            assert refused.value.available == 90
            await shop.cancel_spend(member_id=member.member_id, spend_id=spend.spend_id)
            refund = await shop.record_refund(order_id="W-0", amount=Money(2000, "EUR"))
            assert refund.points_reversed == 20
            assert refund.refunded_total == Money(2000, "EUR")
            page = await shop.list_ledger_entries(member_id=member.member_id, page_size=2)
            assert len(page.entries) == 2
            assert page.next_page_token
            entries = [e async for e in shop.history(member_id=member.member_id, page_size=2)]
            assert [e.type for e in entries][:2] == [EntryType.REFUND_REVERSAL, EntryType.SPEND_CANCEL]
            assert len(entries) == 6
            assert all(e.occurred_at and e.occurred_at.tzinfo for e in entries)
            assert {e.channel for e in entries} == {Channel.WEBSHOP}
            assert (await shop.balance(member=Identifier.webshop_customer_id(customer))).available == 100

    async with AsyncMobileAppClient(member_token=token.token, target=target) as app:
        assert app.member_id == member.member_id
        assert token.token not in repr(app)
        me = await app.get_member(include_consent_history=True)
        assert me.member_id == member.member_id
        assert len(me.consent_history) == 2
        after = await app.update_consent(changes={ConsentPurpose.LOCATION: True})
        assert ConsentPurpose.LOCATION in {c.purpose for c in after}
        await app.link_identifier(identifier=Identifier.phone("+33" + "6" + str(10_000_000 + len(email))))
        with ledger_guard():
            assert (await app.balance()).available == 100
            earned = [e async for e in app.history(types=[EntryType.EARN])]
            assert len(earned) == 3
            assert len((await app.list_ledger_entries(channels=[Channel.WEBSHOP])).entries) == 6

    def blocking_app() -> int:
        with MobileAppClient(member_token=token.token, target=target) as app, ledger_guard():
            return len(list(app.history()))
        raise AssertionError("unreachable")

    assert await asyncio.to_thread(blocking_app) == 6


async def test_app_backend_issues_tokens(service: Running) -> None:
    """Goal: the app back end enrols and issues member tokens; a bad key is Unauthenticated."""
    keys, target = await make_keys(service.url), target_of(service)
    async with AsyncAppBackendClient(api_key=keys.app_backend, target=target) as backend:
        member = await backend.enroll_member(display_name="Bo")
        token = await backend.issue_member_token(member_id=member.member_id)
        async with AsyncMobileAppClient(member_token=token.token, target=target) as app:
            assert (await app.get_member()).display_name == "Bo"
    with pytest.raises(Unauthenticated):
        await asyncio.to_thread(
            lambda: AppBackendClient(api_key="lk_wrong", target=target).get_member(member_id=member.member_id)
        )
    # A till key used where only the web shop or the app back end may call: the service refuses it.
    async with AsyncWebShopClient(api_key=keys.pos, target=target) as wrong:
        with pytest.raises(PermissionDenied):
            await wrong.issue_member_token(member_id=member.member_id)


async def test_marketing_surface(isolated_service: Running) -> None:
    """Goal: stores, credentials, settings, rule versions and adjustments from the back office."""
    keys, target = await make_keys(isolated_service.url), target_of(isolated_service)
    async with AsyncMarketingClient(api_key=keys.backoffice, target=target) as office:
        store = await office.create_store(store_id=unique("lyon"), name="Lyon")
        assert store.store_id in {s.store_id for s in await office.list_stores()}
        new = await office.create_credential(kind=CredentialKind.POS, name="till 9", store_id=store.store_id)
        assert new.api_key not in repr(new)
        assert new.credential.kind is CredentialKind.POS
        revoked = await office.revoke_credential(credential_id=new.credential.credential_id)
        assert revoked.revoked_at is not None
        listed = await office.list_credentials(include_revoked=True)
        assert new.credential.credential_id in {c.credential_id for c in listed}
        settings = await office.update_program_settings(
            settings=ProgramSettings(pending_days=0, expiry_months=24)
        )
        assert settings.expiry_months == 24
        assert (await office.get_program_settings()) == settings
        start = datetime.now(UTC) - timedelta(hours=1)
        rule = await office.create_earning_rule(
            spec=EarningRuleSpec.multiplier(name="x2", factor=2, valid_from=start), effective_from=start
        )
        assert rule.version == 1
        assert rule.spec.kind is EarningRuleKind.MULTIPLIER
        updated = await office.update_earning_rule(
            rule_id=rule.rule_id,
            spec=EarningRuleSpec.multiplier(name="x3", factor="3"),
            effective_from=datetime.now(UTC) + timedelta(minutes=1),
        )
        assert updated.version == 2
        assert str(updated.spec.factor) == "3"
        retired = await office.retire_earning_rule(
            rule_id=rule.rule_id, effective_from=datetime.now(UTC) + timedelta(minutes=2)
        )
        assert retired.retired
        history = await office.list_earning_rules(include_history=True)
        assert [r.version for r in history if r.rule_id == rule.rule_id] == [1, 2, 3]
        with pytest.raises(InvalidArgument) as bad:
            await office.create_store(store_id="no spaces", name="x")
        assert [v.field for v in bad.value.field_violations] == ["store_id"]
        member = await office.enroll_member(display_name="Cy")
        with ledger_guard():
            adjusted = await office.adjust_points(member_id=member.member_id, points=250, reason="goodwill")
            assert adjusted.balance is not None
            assert adjusted.balance.available == 250
            entries = [e async for e in office.history(member_id=member.member_id)]
            assert [(e.type, e.points, e.reason) for e in entries] == [(EntryType.ADJUST, 250, "goodwill")]
