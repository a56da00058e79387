"""LedgerService: validate at the edge, run one idempotent transaction, answer in proto.

Purchases, refunds and spends are recorded by `purchases` and `spending` inside `Runtime.write`, so the
idempotency claim, the ledger change, its events and the stored answer commit together. RecordPurchase and
SpendPoints go through group commit (`group_commit.py`, on unless `group_commit_transactions` is 0): calls
that arrive while a process is busy share one such transaction, each with its own claim, effect and answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from loyalty.v1 import ledger_pb2, ledger_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import audit
from loyalty_service.auth.principal import current_principal
from loyalty_service.errors import FailedPrecondition, LoyaltyError, NotFound
from loyalty_service.group_commit import GroupCommit
from loyalty_service.grpc_types import Context
from loyalty_service.ledger import lots as lot_rules
from loyalty_service.ledger import requests, store
from loyalty_service.ledger.batches import LedgerBatch, PurchaseBatch
from loyalty_service.ledger.messages import ENTRY_TYPES, balance_message, entry_message
from loyalty_service.ledger.purchases import PurchaseInput, record_purchase, record_refund
from loyalty_service.ledger.rules_store import RuleCache
from loyalty_service.ledger.spending import SpendInput, adjust_points, cancel_spend, spend_points
from loyalty_service.members import api as members_api
from loyalty_service.program import settings as program_settings
from loyalty_service.runtime import Runtime, WriteCall
from loyalty_service.validation import Checks

__all__ = ["LedgerServicer"]

MAX_SYNC_ITEMS = 1000
_DEFAULT_PAGE = 50
_MAX_PAGE = 500


class LedgerServicer(ledger_pb2_grpc.LedgerServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._rules = RuleCache()
        settings = runtime.settings
        self._purchases: GroupCommit[ledger_pb2.RecordPurchaseResponse, PurchaseInput] | None = None
        self._spends: GroupCommit[ledger_pb2.SpendPointsResponse, SpendInput] | None = None
        if settings.group_commit_transactions:  # concurrent calls of one method share transactions
            self._purchases = GroupCommit(
                runtime,
                method="RecordPurchase",
                response_type=ledger_pb2.RecordPurchaseResponse,
                reader=PurchaseBatch,
                transactions=settings.group_commit_transactions,
                max_calls=settings.group_commit_max_calls,
            )
            self._spends = GroupCommit(
                runtime,
                method="SpendPoints",
                response_type=ledger_pb2.SpendPointsResponse,
                reader=lambda spends: LedgerBatch([spend.member for spend in spends]),
                transactions=settings.group_commit_transactions,
                max_calls=settings.group_commit_max_calls,
            )

    def _purchase_work(
        self, purchase: PurchaseInput, *, max_age: timedelta | None
    ) -> Callable[[AsyncConnection], Awaitable[ledger_pb2.RecordPurchaseResponse]]:
        """The transaction body of one purchase (RecordPurchase and each offline item alike)."""
        principal = current_principal()
        requests.authorize_channel(principal, purchase.channel, purchase.store_id)

        async def work(conn: AsyncConnection) -> ledger_pb2.RecordPurchaseResponse:
            now = self._rt.now()
            if max_age is not None and purchase.occurred_at < now - max_age:
                raise FailedPrecondition(
                    f"offline purchases older than {max_age.days} days are refused",
                    reason="OFFLINE_PURCHASE_TOO_OLD",
                    metadata={"max_age_days": max_age.days},
                )
            return await record_purchase(
                conn, purchase, now=now, credential_id=principal.credential_id, rules=self._rules
            )

        return work

    async def _record_purchase(
        self, request: ledger_pb2.RecordPurchaseRequest, purchase: PurchaseInput, *, max_age: timedelta | None
    ) -> tuple[ledger_pb2.RecordPurchaseResponse, bool]:
        work = self._purchase_work(purchase, max_age=max_age)
        if self._purchases is not None:
            scope = current_principal().idempotency_scope
            call = WriteCall(request, request.idempotency_key, work, scope=scope)
            return await self._purchases.write(call, purchase)
        return await self._rt.write_outcome(
            method="RecordPurchase",
            request=request,
            key=request.idempotency_key,
            response_type=ledger_pb2.RecordPurchaseResponse,
            work=work,
        )

    async def RecordPurchase(
        self, request: ledger_pb2.RecordPurchaseRequest, context: Context
    ) -> ledger_pb2.RecordPurchaseResponse:
        checks = Checks()
        purchase = requests.read_purchase(checks, request, now=self._rt.now(), principal=current_principal())
        checks.done()
        assert purchase is not None
        response, _replayed = await self._record_purchase(request, purchase, max_age=None)
        return response

    async def SyncOfflinePurchases(
        self, request: ledger_pb2.SyncOfflinePurchasesRequest, context: Context
    ) -> ledger_pb2.SyncOfflinePurchasesResponse:
        """Each item as its own RecordPurchase (its key, its effect, its result; a bad item does not
        fail the others), written in chunks: one transaction per chunk, rerun with a savepoint per
        item when one is refused (`Runtime.write_each`), the chunk's members locked first in one
        order so that concurrent uploads cannot deadlock; items run in upload order."""
        checks = Checks()
        checks.count("purchases", len(request.purchases), minimum=1, maximum=MAX_SYNC_ITEMS)
        checks.done()
        settings = await self._rt.read(program_settings.read)
        max_age = timedelta(days=settings.offline_max_age_days)
        answer = ledger_pb2.SyncOfflinePurchasesResponse()
        results = [answer.results.add(index=index) for index in range(len(request.purchases))]
        valid: list[tuple[int, PurchaseInput, WriteCall[ledger_pb2.RecordPurchaseResponse]]] = []
        for index, item in enumerate(request.purchases):
            try:
                item_checks = Checks()
                purchase = requests.read_purchase(
                    item_checks, item, now=self._rt.now(), principal=current_principal()
                )
                item_checks.done()
                assert purchase is not None
                work = self._purchase_work(purchase, max_age=max_age)
            except LoyaltyError as error:
                results[index].error.CopyFrom(requests.item_error(error))
                continue
            valid.append((index, purchase, WriteCall(item, item.idempotency_key, work)))

        outcomes = await self._rt.write_each(
            method="RecordPurchase",
            response_type=ledger_pb2.RecordPurchaseResponse,
            calls=[call for _, _, call in valid],
            reader=PurchaseBatch([purchase for _, purchase, _ in valid]),
        )
        for (index, _, _), outcome in zip(valid, outcomes, strict=True):
            if isinstance(outcome, LoyaltyError):
                results[index].error.CopyFrom(requests.item_error(outcome))
            else:
                results[index].purchase.CopyFrom(outcome[0])
                results[index].duplicate = outcome[1]
        return answer

    async def RecordRefund(
        self, request: ledger_pb2.RecordRefundRequest, context: Context
    ) -> ledger_pb2.RecordRefundResponse:
        checks = Checks()
        refund = requests.read_refund(checks, request, now=self._rt.now())
        checks.done()
        assert refund is not None
        principal = current_principal()
        requests.authorize_channel(principal, refund.channel, refund.store_id)

        async def work(conn: AsyncConnection) -> ledger_pb2.RecordRefundResponse:
            return await record_refund(
                conn, refund, now=self._rt.now(), credential_id=principal.credential_id
            )

        return await self._rt.write(
            method="RecordRefund",
            request=request,
            key=request.idempotency_key,
            response_type=ledger_pb2.RecordRefundResponse,
            work=work,
        )

    async def SpendPoints(
        self, request: ledger_pb2.SpendPointsRequest, context: Context
    ) -> ledger_pb2.SpendPointsResponse:
        checks = Checks()
        checks.idempotency_key(request.idempotency_key)
        member = requests.read_member_ref(checks, "member", request.member)
        points = requests.read_points(checks, "points", request.points)
        channel = requests.read_spend_channel(checks, request.channel, request.store_id)
        order_id = checks.code("order_id", request.order_id)
        reason = checks.text("reason", request.reason, required=False)
        checks.done()
        assert member is not None
        assert channel is not None
        principal = current_principal()
        requests.authorize_channel(principal, channel, request.store_id)
        spend = SpendInput(
            member=member,
            points=points,
            channel=channel,
            store_id=request.store_id,
            order_id=order_id,
            reason=reason,
        )

        async def work(conn: AsyncConnection) -> ledger_pb2.SpendPointsResponse:
            return await spend_points(conn, spend, now=self._rt.now(), principal=principal)

        if self._spends is not None:
            call = WriteCall(request, request.idempotency_key, work, scope=principal.idempotency_scope)
            response, _replayed = await self._spends.write(call, spend)
            return response
        return await self._rt.write(
            method="SpendPoints",
            request=request,
            key=request.idempotency_key,
            response_type=ledger_pb2.SpendPointsResponse,
            work=work,
        )

    async def CancelSpend(
        self, request: ledger_pb2.CancelSpendRequest, context: Context
    ) -> ledger_pb2.CancelSpendResponse:
        checks = Checks()
        checks.idempotency_key(request.idempotency_key)
        member_id = checks.entity_id("member_id", request.member_id, "mem")
        spend_id = checks.entity_id("spend_id", request.spend_id, "spd")
        checks.done()
        principal = current_principal()
        channel = requests.channel_of(principal)

        async def work(conn: AsyncConnection) -> ledger_pb2.CancelSpendResponse:
            return await cancel_spend(
                conn,
                member_id=member_id,
                spend_id=spend_id,
                channel=channel,
                now=self._rt.now(),
                principal=principal,
            )

        return await self._rt.write(
            method="CancelSpend",
            request=request,
            key=request.idempotency_key,
            response_type=ledger_pb2.CancelSpendResponse,
            work=work,
        )

    async def AdjustPoints(
        self, request: ledger_pb2.AdjustPointsRequest, context: Context
    ) -> ledger_pb2.AdjustPointsResponse:
        checks = Checks()
        checks.idempotency_key(request.idempotency_key)
        member_id = checks.entity_id("member_id", request.member_id, "mem")
        points = requests.read_points(checks, "points", request.points, signed=True)
        reason = checks.text("reason", request.reason)
        checks.done()
        principal = current_principal()

        async def work(conn: AsyncConnection) -> ledger_pb2.AdjustPointsResponse:
            answer = await adjust_points(
                conn,
                member_id=member_id,
                points=points,
                reason=reason,
                now=self._rt.now(),
                principal=principal,
            )
            after = {"entry_id": answer.entry_id, "points": points, "reason": reason}
            await audit.record(
                conn,
                principal=principal,
                action="points.adjust",
                subject_type="member",
                subject_id=member_id,
                before=None,
                after={**after, "available": answer.balance.available, "pending": answer.balance.pending},
                now=self._rt.now(),
            )
            return answer

        return await self._rt.write(
            method="AdjustPoints",
            request=request,
            key=request.idempotency_key,
            response_type=ledger_pb2.AdjustPointsResponse,
            work=work,
        )

    async def GetBalance(
        self, request: ledger_pb2.GetBalanceRequest, context: Context
    ) -> ledger_pb2.GetBalanceResponse:
        """Read-only, from one snapshot; pending points whose time has come already show as available."""
        checks = Checks()
        member = requests.read_member_ref(checks, "member", request.member)
        checks.done()
        assert member is not None
        principal = current_principal()

        async def read(conn: AsyncConnection) -> ledger_pb2.GetBalanceResponse:
            # Member, head and lots in one statement (one snapshot, one round trip, no transaction).
            snapshot = await store.balance_snapshot(
                conn,
                member_id=member.member_id,
                kind=None if member.kind is None else member.kind.value,
                value=member.value,
            )
            member_id = members_api.usable_member(member, None if snapshot is None else snapshot.member)
            principal.require_member(member_id)
            assert snapshot is not None
            if snapshot.account is None:
                raise NotFound("member", member_id)
            account, lots = snapshot.account, snapshot.lots
            now = self._rt.now()
            held = [s.lot for s in lots if s.lot.remaining > 0]
            available, pending = lot_rules.balances(held, now, debt=max(0, -account.available))
            balance = balance_message(
                member_id=member_id,
                available=available,
                pending=pending,
                lifetime_earned=account.lifetime_earned,
                next_expiry=lot_rules.next_expiry(held, now),
            )
            return ledger_pb2.GetBalanceResponse(balance=balance)

        return await self._rt.read(read)

    async def ListLedgerEntries(
        self, request: ledger_pb2.ListLedgerEntriesRequest, context: Context
    ) -> ledger_pb2.ListLedgerEntriesResponse:
        checks = Checks()
        member_id = checks.entity_id("member_id", request.member_id, "mem")
        page_size = (
            checks.count("page_size", request.page_size, minimum=0, maximum=_MAX_PAGE) or _DEFAULT_PAGE
        )
        before = requests.read_page_token(checks, request.page_token, member_id)
        types = [t for i, v in enumerate(request.types) if (t := checks.enum(f"types[{i}]", v, ENTRY_TYPES))]
        channels = requests.read_channel_filter(checks, "channels", request.channels)
        occurred_from, occurred_to = checks.window(request, "occurred_from", "occurred_to")
        checks.done()
        current_principal().require_member(member_id)

        async def read(conn: AsyncConnection) -> ledger_pb2.ListLedgerEntriesResponse:
            await members_api.require_member(
                conn, members_api.MemberKey(member_id=member_id), allow_closed=True
            )
            rows = await store.list_entries(
                conn,
                member_id=member_id,
                before_seq=before,
                types=[t.value for t in types],
                channels=[c.value for c in channels],
                occurred_from=occurred_from,
                occurred_to=occurred_to,
                limit=page_size + 1,
            )
            answer = ledger_pb2.ListLedgerEntriesResponse(
                entries=[entry_message(r) for r in rows[:page_size]]
            )
            if len(rows) > page_size:
                answer.next_page_token = requests.page_token(member_id, rows[page_size - 1].entry_seq)
            return answer

        return await self._rt.read(read)
