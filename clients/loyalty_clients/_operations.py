"""One implementation per RPC, composed into the channel clients as small mixins.

A client class lists the mixins its channel may call (the service's access table), so it exposes
exactly what its credential is allowed to do. Writes take `idempotency_key=None`: a fresh key is made
once per logical call and reused by every retry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime

from loyalty.v1 import ledger_pb2, members_pb2

from loyalty_clients import _convert as c
from loyalty_clients._base import ClientBase
from loyalty_clients._models import (
    AdjustResult,
    Balance,
    CancelSpendResult,
    Channel,
    Consent,
    ConsentPurpose,
    EntryType,
    Identifier,
    LedgerEntry,
    LedgerPage,
    LinkResult,
    Member,
    MemberRef,
    MemberToken,
    Money,
    PurchaseLine,
    PurchaseResult,
    RefundResult,
    SpendResult,
)
from loyalty_clients._transport import Transport, new_idempotency_key

MEMBERS = "/loyalty.v1.MemberService/"
LEDGER = "/loyalty.v1.LedgerService/"
MAX_HISTORY_PAGES = 10_000


# --- shared implementations (also used by clients whose signatures differ, e.g. the mobile app) -----


async def get_member(t: Transport, member_id: str, include_consent_history: bool) -> Member:
    request = members_pb2.GetMemberRequest(
        member_id=member_id, include_consent_history=include_consent_history
    )
    answer = await t.call(MEMBERS + "GetMember", request, members_pb2.GetMemberResponse)
    return c.member(answer.member)


async def link_identifier(
    t: Transport, member_id: str, identifier: Identifier, idempotency_key: str | None
) -> LinkResult:
    request = members_pb2.LinkIdentifierRequest(
        idempotency_key=idempotency_key or new_idempotency_key(),
        member_id=member_id,
        identifier=c.identifier(identifier),
    )
    answer = await t.call(MEMBERS + "LinkIdentifier", request, members_pb2.LinkIdentifierResponse)
    return LinkResult(
        member=c.member(answer.member),
        merged_member_id=answer.merged_member_id,
        merged_points=answer.merged_points,
    )


async def update_consent(
    t: Transport, member_id: str, changes: Mapping[ConsentPurpose, bool], idempotency_key: str | None
) -> tuple[Consent, ...]:
    request = members_pb2.UpdateConsentRequest(
        idempotency_key=idempotency_key or new_idempotency_key(),
        member_id=member_id,
        changes=c.consent_changes(dict(changes)),
    )
    answer = await t.call(MEMBERS + "UpdateConsent", request, members_pb2.UpdateConsentResponse)
    return c.consents(answer.consents)


async def get_balance(t: Transport, member: MemberRef) -> Balance:
    request = ledger_pb2.GetBalanceRequest(member=c.member_ref(member))
    answer = await t.call(LEDGER + "GetBalance", request, ledger_pb2.GetBalanceResponse)
    return c.balance(answer.balance)


async def list_ledger_entries(
    t: Transport,
    member_id: str,
    *,
    page_size: int,
    page_token: str,
    types: Iterable[EntryType],
    channels: Iterable[Channel],
    occurred_from: datetime | None,
    occurred_to: datetime | None,
) -> LedgerPage:
    request = ledger_pb2.ListLedgerEntriesRequest(
        member_id=member_id,
        page_size=page_size,
        page_token=page_token,
        types=[c.ENTRY_TYPE_TO_PROTO[x] for x in types],
        channels=c.channels(channels),
    )
    if occurred_from is not None:
        request.occurred_from.CopyFrom(c.timestamp(occurred_from))
    if occurred_to is not None:
        request.occurred_to.CopyFrom(c.timestamp(occurred_to))
    answer = await t.call(LEDGER + "ListLedgerEntries", request, ledger_pb2.ListLedgerEntriesResponse)
    return LedgerPage(
        entries=tuple(c.entry(e) for e in answer.entries), next_page_token=answer.next_page_token
    )


async def iterate_history(
    t: Transport,
    member_id: str,
    *,
    page_size: int,
    types: Iterable[EntryType],
    channels: Iterable[Channel],
    occurred_from: datetime | None,
    occurred_to: datetime | None,
) -> AsyncIterator[LedgerEntry]:
    types, channels, token = tuple(types), tuple(channels), ""
    for _ in range(MAX_HISTORY_PAGES):
        page = await list_ledger_entries(
            t,
            member_id,
            page_size=page_size,
            page_token=token,
            types=types,
            channels=channels,
            occurred_from=occurred_from,
            occurred_to=occurred_to,
        )
        for entry in page.entries:
            yield entry
        if not page.next_page_token or page.next_page_token == token:
            return
        token = page.next_page_token


def purchase_request(
    *,
    channel: Channel,
    store_id: str,
    member: MemberRef,
    order_id: str,
    amount: Money,
    occurred_at: datetime | None,
    lines: Iterable[PurchaseLine],
    idempotency_key: str | None,
) -> ledger_pb2.RecordPurchaseRequest:
    """The purchase with its key and time, built once: retries and offline uploads resend it as is."""
    return ledger_pb2.RecordPurchaseRequest(
        idempotency_key=idempotency_key or new_idempotency_key(),
        member=c.member_ref(member),
        channel=c.CHANNEL_TO_PROTO[channel],
        store_id=store_id,
        order_id=order_id,
        amount=c.money(amount),
        occurred_at=c.timestamp(occurred_at or datetime.now(UTC)),
        lines=c.lines(list(lines)),
    )


async def send_purchase(t: Transport, request: ledger_pb2.RecordPurchaseRequest) -> PurchaseResult:
    answer = await t.call(LEDGER + "RecordPurchase", request, ledger_pb2.RecordPurchaseResponse)
    return c.purchase(answer, idempotency_key=request.idempotency_key)


# --- mixins ----------------------------------------------------------------------------------------


class MemberLookup(ClientBase):
    async def get_member(self, *, member_id: str, include_consent_history: bool = False) -> Member:
        """A member with identifiers and consents.

        >>> member = await client.get_member(member_id="mem_01J...")
        """
        return await get_member(self._transport, member_id, include_consent_history)

    async def lookup_member(self, *, identifier: Identifier) -> Member:
        """Find a member by any identifier; raises NotFound when nobody has it.

        >>> member = await client.lookup_member(identifier=Identifier.card("4000123456"))
        """
        request = members_pb2.LookupMemberRequest(identifier=c.identifier(identifier))
        answer = await self._transport.call(
            MEMBERS + "LookupMember", request, members_pb2.LookupMemberResponse
        )
        return c.member(answer.member)


class MemberEnrolment(ClientBase):
    async def enroll_member(
        self,
        *,
        display_name: str = "",
        identifiers: Iterable[Identifier] = (),
        consents: Mapping[ConsentPurpose, bool] | None = None,
        idempotency_key: str | None = None,
    ) -> Member:
        """Enrol a new member; an identifier already linked elsewhere raises AlreadyExists.

        >>> member = await client.enroll_member(display_name="Ada",
        ...                                      identifiers=[Identifier.email("ada@example.com")])
        """
        request = members_pb2.EnrollMemberRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            display_name=display_name,
            identifiers=[c.identifier(i) for i in identifiers],
            consents=c.consent_changes(dict(consents or {})),
        )
        answer = await self._transport.call(
            MEMBERS + "EnrollMember", request, members_pb2.EnrollMemberResponse
        )
        return c.member(answer.member)

    async def link_identifier(
        self, *, member_id: str, identifier: Identifier, idempotency_key: str | None = None
    ) -> LinkResult:
        """Link an identifier; a card held by a provisional member merges its points in.

        >>> result = await client.link_identifier(member_id=member.member_id,
        ...                                        identifier=Identifier.card("4000123456"))
        """
        return await link_identifier(self._transport, member_id, identifier, idempotency_key)


class Consents(ClientBase):
    async def update_consent(
        self, *, member_id: str, changes: Mapping[ConsentPurpose, bool], idempotency_key: str | None = None
    ) -> tuple[Consent, ...]:
        """Grant or withdraw consents; returns the current state of each purpose.

        >>> await client.update_consent(member_id=member.member_id, changes={ConsentPurpose.MARKETING: True})
        """
        return await update_consent(self._transport, member_id, changes, idempotency_key)


class MemberTokens(ClientBase):
    async def issue_member_token(self, *, member_id: str, ttl_seconds: int = 0) -> MemberToken:
        """A short-lived token with which the mobile app acts as this member (0: the service default).

        >>> token = await client.issue_member_token(member_id=member.member_id, ttl_seconds=900)
        """
        request = members_pb2.IssueMemberTokenRequest(member_id=member_id, ttl_seconds=ttl_seconds)
        answer = await self._transport.call(
            MEMBERS + "IssueMemberToken", request, members_pb2.IssueMemberTokenResponse
        )
        return MemberToken(token=answer.token, expires_at=c.when(answer, "expires_at"))


class Balances(ClientBase):
    async def balance(self, *, member: MemberRef) -> Balance:
        """Available, pending and lifetime points of a member named by id or identifier.

        >>> balance = await client.balance(member=Identifier.card("4000123456"))
        """
        return await get_balance(self._transport, member)


class History(ClientBase):
    async def list_ledger_entries(
        self,
        *,
        member_id: str,
        page_size: int = 50,
        page_token: str = "",
        types: Iterable[EntryType] = (),
        channels: Iterable[Channel] = (),
        occurred_from: datetime | None = None,
        occurred_to: datetime | None = None,
    ) -> LedgerPage:
        """One page of ledger entries, newest first; pass `next_page_token` back for the next.

        >>> page = await client.list_ledger_entries(member_id=member.member_id, page_size=20)
        """
        return await list_ledger_entries(
            self._transport,
            member_id,
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
        member_id: str,
        page_size: int = 100,
        types: Iterable[EntryType] = (),
        channels: Iterable[Channel] = (),
        occurred_from: datetime | None = None,
        occurred_to: datetime | None = None,
    ) -> AsyncIterator[LedgerEntry]:
        """Every matching ledger entry, newest first, fetching pages as it goes.

        >>> async for entry in client.history(member_id=member.member_id, types=[EntryType.EARN]): ...
        """
        return iterate_history(
            self._transport,
            member_id,
            page_size=page_size,
            types=types,
            channels=channels,
            occurred_from=occurred_from,
            occurred_to=occurred_to,
        )


class Purchases(ClientBase):
    async def record_purchase(
        self,
        *,
        member: MemberRef,
        order_id: str,
        amount: Money,
        occurred_at: datetime | None = None,
        lines: Iterable[PurchaseLine] = (),
        idempotency_key: str | None = None,
    ) -> PurchaseResult:
        """Credit points for an order (unique per channel and store); the answer lists the rules applied.

        >>> result = await client.record_purchase(member="mem_01J...", order_id="W-1001",
        ...                                        amount=Money(4990, "EUR"))
        """
        request = purchase_request(
            channel=self._channel,
            store_id=self._store_id,
            member=member,
            order_id=order_id,
            amount=amount,
            occurred_at=occurred_at,
            lines=lines,
            idempotency_key=idempotency_key,
        )
        return await send_purchase(self._transport, request)


class LedgerWrites(ClientBase):
    async def record_refund(
        self,
        *,
        order_id: str,
        amount: Money,
        lines: Iterable[PurchaseLine] = (),
        occurred_at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> RefundResult:
        """Refund (part of) an earlier order of this channel and store; points are reversed in proportion.

        >>> refund = await client.record_refund(order_id="W-1001", amount=Money(1000, "EUR"))
        """
        request = ledger_pb2.RecordRefundRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            channel=c.CHANNEL_TO_PROTO[self._channel],
            store_id=self._store_id,
            order_id=order_id,
            amount=c.money(amount),
            lines=c.lines(list(lines)),
            occurred_at=c.timestamp(occurred_at or datetime.now(UTC)),
        )
        answer = await self._transport.call(LEDGER + "RecordRefund", request, ledger_pb2.RecordRefundResponse)
        return c.refund(answer)

    async def spend_points(
        self,
        *,
        member: MemberRef,
        points: int,
        order_id: str,
        reason: str = "",
        idempotency_key: str | None = None,
    ) -> SpendResult:
        """Spend points against an order; raises InsufficientPoints(available, requested) past the balance.

        >>> spend = await client.spend_points(member="mem_01J...", points=500, order_id="W-1002")
        """
        request = ledger_pb2.SpendPointsRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            member=c.member_ref(member),
            points=points,
            channel=c.CHANNEL_TO_PROTO[self._channel],
            store_id=self._store_id,
            order_id=order_id,
            reason=reason,
        )
        answer = await self._transport.call(LEDGER + "SpendPoints", request, ledger_pb2.SpendPointsResponse)
        return c.spend(answer)

    async def cancel_spend(
        self, *, member_id: str, spend_id: str, idempotency_key: str | None = None
    ) -> CancelSpendResult:
        """Give the points of a spend back (once).

        >>> await client.cancel_spend(member_id=spend.balance.member_id, spend_id=spend.spend_id)
        """
        request = ledger_pb2.CancelSpendRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), member_id=member_id, spend_id=spend_id
        )
        answer = await self._transport.call(LEDGER + "CancelSpend", request, ledger_pb2.CancelSpendResponse)
        return c.cancel_spend(answer)


class Adjustments(ClientBase):
    async def adjust_points(
        self, *, member_id: str, points: int, reason: str, idempotency_key: str | None = None
    ) -> AdjustResult:
        """A signed correction with a mandatory reason (back office only).

        >>> await client.adjust_points(member_id=member.member_id, points=250, reason="late delivery")
        """
        request = ledger_pb2.AdjustPointsRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            member_id=member_id,
            points=points,
            reason=reason,
        )
        answer = await self._transport.call(LEDGER + "AdjustPoints", request, ledger_pb2.AdjustPointsResponse)
        return c.adjust(answer)
