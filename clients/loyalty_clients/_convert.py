"""The one place generated messages meet the client's dataclasses, both directions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.v1 import audit_pb2, common_pb2, ledger_pb2, members_pb2, program_pb2, stats_pb2

from loyalty_clients import _models as m
from loyalty_clients import _stats_models as st

CHANNEL_TO_PROTO = {
    m.Channel.POS: common_pb2.CHANNEL_POS,
    m.Channel.WEBSHOP: common_pb2.CHANNEL_WEBSHOP,
    m.Channel.APP: common_pb2.CHANNEL_APP,
    m.Channel.BACKOFFICE: common_pb2.CHANNEL_BACKOFFICE,
    m.Channel.UNSPECIFIED: common_pb2.CHANNEL_UNSPECIFIED,
}
_CHANNELS = {v: k for k, v in CHANNEL_TO_PROTO.items()}
_KIND_TO_PROTO = {
    m.IdentifierKind.CARD: common_pb2.IDENTIFIER_KIND_CARD,
    m.IdentifierKind.EMAIL: common_pb2.IDENTIFIER_KIND_EMAIL,
    m.IdentifierKind.PHONE: common_pb2.IDENTIFIER_KIND_PHONE,
    m.IdentifierKind.WEBSHOP_CUSTOMER_ID: common_pb2.IDENTIFIER_KIND_WEBSHOP_CUSTOMER_ID,
}
_KINDS = {v: k for k, v in _KIND_TO_PROTO.items()}
_STATUSES = {
    members_pb2.MEMBER_STATUS_ACTIVE: m.MemberStatus.ACTIVE,
    members_pb2.MEMBER_STATUS_PROVISIONAL: m.MemberStatus.PROVISIONAL,
    members_pb2.MEMBER_STATUS_CLOSED: m.MemberStatus.CLOSED,
    members_pb2.MEMBER_STATUS_ERASED: m.MemberStatus.ERASED,
}
PURPOSE_TO_PROTO = {
    m.ConsentPurpose.MARKETING: members_pb2.CONSENT_PURPOSE_MARKETING,
    m.ConsentPurpose.LOCATION: members_pb2.CONSENT_PURPOSE_LOCATION,
    m.ConsentPurpose.PROFILING: members_pb2.CONSENT_PURPOSE_PROFILING,
}
_PURPOSES = {v: k for k, v in PURPOSE_TO_PROTO.items()}
ENTRY_TYPE_TO_PROTO = {
    m.EntryType.EARN: ledger_pb2.ENTRY_TYPE_EARN,
    m.EntryType.REFUND_REVERSAL: ledger_pb2.ENTRY_TYPE_REFUND_REVERSAL,
    m.EntryType.SPEND: ledger_pb2.ENTRY_TYPE_SPEND,
    m.EntryType.SPEND_CANCEL: ledger_pb2.ENTRY_TYPE_SPEND_CANCEL,
    m.EntryType.ADJUST: ledger_pb2.ENTRY_TYPE_ADJUST,
    m.EntryType.EXPIRE: ledger_pb2.ENTRY_TYPE_EXPIRE,
    m.EntryType.MERGE_OUT: ledger_pb2.ENTRY_TYPE_MERGE_OUT,
    m.EntryType.MERGE_IN: ledger_pb2.ENTRY_TYPE_MERGE_IN,
    m.EntryType.REDEEM: ledger_pb2.ENTRY_TYPE_REDEEM,
    m.EntryType.REDEEM_CANCEL: ledger_pb2.ENTRY_TYPE_REDEEM_CANCEL,
    m.EntryType.GAME_PLAY: ledger_pb2.ENTRY_TYPE_GAME_PLAY,
    m.EntryType.GAME_WIN: ledger_pb2.ENTRY_TYPE_GAME_WIN,
    m.EntryType.PASSPORT_REWARD: ledger_pb2.ENTRY_TYPE_PASSPORT_REWARD,
    m.EntryType.CHALLENGE_REWARD: ledger_pb2.ENTRY_TYPE_CHALLENGE_REWARD,
    m.EntryType.DRAW_ENTRY: ledger_pb2.ENTRY_TYPE_DRAW_ENTRY,
    m.EntryType.DRAW_WIN: ledger_pb2.ENTRY_TYPE_DRAW_WIN,
    m.EntryType.BONUS: ledger_pb2.ENTRY_TYPE_BONUS,
}
_ENTRY_TYPES = {v: k for k, v in ENTRY_TYPE_TO_PROTO.items()}
CREDENTIAL_KIND_TO_PROTO = {
    m.CredentialKind.POS: program_pb2.CREDENTIAL_KIND_POS,
    m.CredentialKind.WEBSHOP: program_pb2.CREDENTIAL_KIND_WEBSHOP,
    m.CredentialKind.APP_BACKEND: program_pb2.CREDENTIAL_KIND_APP_BACKEND,
    m.CredentialKind.BACKOFFICE: program_pb2.CREDENTIAL_KIND_BACKOFFICE,
}
_CREDENTIAL_KINDS = {v: k for k, v in CREDENTIAL_KIND_TO_PROTO.items()}
_RULE_KIND_TO_PROTO = {
    m.EarningRuleKind.BASE_RATE: program_pb2.EARNING_RULE_KIND_BASE_RATE,
    m.EarningRuleKind.MULTIPLIER: program_pb2.EARNING_RULE_KIND_MULTIPLIER,
    m.EarningRuleKind.BONUS: program_pb2.EARNING_RULE_KIND_BONUS,
}
_RULE_KINDS = {v: k for k, v in _RULE_KIND_TO_PROTO.items()}


# --- to messages ---------------------------------------------------------------------------------


def timestamp(value: datetime) -> Timestamp:
    if value.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def identifier(value: m.Identifier) -> common_pb2.Identifier:
    return common_pb2.Identifier(kind=_KIND_TO_PROTO[value.kind], value=value.value)


def member_ref(value: m.MemberRef) -> common_pb2.MemberRef:
    if isinstance(value, m.Identifier):
        return common_pb2.MemberRef(identifier=identifier(value))
    return common_pb2.MemberRef(member_id=value)


def money(value: m.Money) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=value.amount_minor, currency=value.currency)


def lines(values: tuple[m.PurchaseLine, ...] | list[m.PurchaseLine]) -> list[ledger_pb2.PurchaseLine]:
    return [
        ledger_pb2.PurchaseLine(
            sku=x.sku, category=x.category, quantity=x.quantity, amount_minor=x.amount_minor
        )
        for x in values
    ]


def consent_changes(changes: dict[m.ConsentPurpose, bool]) -> list[members_pb2.ConsentChange]:
    return [members_pb2.ConsentChange(purpose=PURPOSE_TO_PROTO[p], granted=g) for p, g in changes.items()]


def rule_spec(spec: m.EarningRuleSpec) -> program_pb2.EarningRuleSpec:
    condition = spec.condition
    message = program_pb2.EarningRuleSpec(
        name=spec.name,
        kind=_RULE_KIND_TO_PROTO[spec.kind],
        currency=spec.currency,
        points_per_unit="" if spec.points_per_unit is None else str(spec.points_per_unit),
        factor="" if spec.factor is None else str(spec.factor),
        bonus_points=spec.bonus_points,
        condition=program_pb2.RuleCondition(
            channels=[CHANNEL_TO_PROTO[c] for c in condition.channels],
            store_ids=list(condition.store_ids),
            categories=list(condition.categories),
            skus=list(condition.skus),
            min_amount_minor=condition.min_amount_minor,
            first_purchase_in_channel=condition.first_purchase_in_channel,
            first_purchase_in_second_channel=condition.first_purchase_in_second_channel,
            store_and_online_same_month=condition.store_and_online_same_month,
        ),
    )
    if spec.valid_from is not None:
        message.valid_from.CopyFrom(timestamp(spec.valid_from))
    if spec.valid_to is not None:
        message.valid_to.CopyFrom(timestamp(spec.valid_to))
    return message


# --- from messages -------------------------------------------------------------------------------


def when(message: object, field: str) -> datetime | None:
    """An aware UTC datetime, or None for an unset timestamp field."""
    if not message.HasField(field):  # type: ignore[attr-defined]
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)


def _consent(c: members_pb2.Consent) -> m.Consent:
    return m.Consent(
        purpose=_PURPOSES[c.purpose],
        granted=c.granted,
        changed_at=when(c, "changed_at"),
        channel=_CHANNELS.get(c.channel, m.Channel.UNSPECIFIED),
    )


def consents(values: object) -> tuple[m.Consent, ...]:
    return tuple(_consent(c) for c in values if c.purpose in _PURPOSES)  # type: ignore[attr-defined]


def member(x: members_pb2.Member) -> m.Member:
    return m.Member(
        member_id=x.member_id,
        status=_STATUSES.get(x.status, m.MemberStatus.ACTIVE),
        display_name=x.display_name,
        identifiers=tuple(m.Identifier(_KINDS[i.kind], i.value) for i in x.identifiers if i.kind in _KINDS),
        consents=consents(x.consents),
        enrolled_at=when(x, "enrolled_at"),
        merged_into_member_id=x.merged_into_member_id,
        consent_history=consents(x.consent_history),
        referral_code=x.referral_code,
    )


def balance(x: ledger_pb2.Balance) -> m.Balance:
    expiry = None
    if x.HasField("next_expiry"):
        expiry = m.NextExpiry(points=x.next_expiry.points, expires_at=when(x.next_expiry, "expires_at"))
    return m.Balance(
        member_id=x.member_id,
        available=x.available,
        pending=x.pending,
        lifetime_earned=x.lifetime_earned,
        next_expiry=expiry,
    )


def _balance_of(x: object) -> m.Balance | None:
    return balance(x.balance) if x.HasField("balance") else None  # type: ignore[attr-defined]


def purchase(x: ledger_pb2.RecordPurchaseResponse, *, idempotency_key: str) -> m.PurchaseResult:
    return m.PurchaseResult(
        purchase_id=x.purchase_id,
        member_id=x.member_id,
        entry_id=x.entry_id,
        points=x.points,
        applied_rules=tuple(
            m.AppliedRule(
                rule_id=r.rule_id,
                version=r.version,
                name=r.name,
                kind=_RULE_KINDS.get(r.kind),
                points=r.points,
            )
            for r in x.applied_rules
        ),
        balance=_balance_of(x),
        provisional_member_created=x.provisional_member_created,
        available_at=when(x, "available_at"),
        idempotency_key=idempotency_key,
    )


def refund(x: ledger_pb2.RecordRefundResponse) -> m.RefundResult:
    total = (
        m.Money(x.refunded_total.amount_minor, x.refunded_total.currency)
        if x.HasField("refunded_total")
        else None
    )
    return m.RefundResult(
        refund_id=x.refund_id,
        member_id=x.member_id,
        entry_id=x.entry_id,
        points_reversed=x.points_reversed,
        refunded_total=total,
        balance=_balance_of(x),
    )


def spend(x: ledger_pb2.SpendPointsResponse) -> m.SpendResult:
    return m.SpendResult(spend_id=x.spend_id, entry_id=x.entry_id, balance=_balance_of(x))


def cancel_spend(x: ledger_pb2.CancelSpendResponse) -> m.CancelSpendResult:
    return m.CancelSpendResult(entry_id=x.entry_id, points_returned=x.points_returned, balance=_balance_of(x))


def adjust(x: ledger_pb2.AdjustPointsResponse) -> m.AdjustResult:
    return m.AdjustResult(entry_id=x.entry_id, balance=_balance_of(x))


def entry(x: ledger_pb2.LedgerEntry) -> m.LedgerEntry:
    return m.LedgerEntry(
        entry_id=x.entry_id,
        member_id=x.member_id,
        type=_ENTRY_TYPES.get(x.type),
        points=x.points,
        balance_after=x.balance_after,
        channel=_CHANNELS.get(x.channel, m.Channel.UNSPECIFIED),
        store_id=x.store_id,
        source_type=x.source_type,
        source_ref=x.source_ref,
        reason=x.reason,
        occurred_at=when(x, "occurred_at"),
        recorded_at=when(x, "recorded_at"),
    )


def store(x: program_pb2.Store) -> m.Store:
    return m.Store(store_id=x.store_id, name=x.name, created_at=when(x, "created_at"))


def credential(x: program_pb2.Credential) -> m.Credential:
    return m.Credential(
        credential_id=x.credential_id,
        kind=_CREDENTIAL_KINDS.get(x.kind),
        store_id=x.store_id,
        name=x.name,
        created_at=when(x, "created_at"),
        revoked_at=when(x, "revoked_at"),
    )


def settings(x: program_pb2.ProgramSettings) -> m.ProgramSettings:
    return m.ProgramSettings(
        pending_days=x.pending_days,
        expiry_months=x.expiry_months,
        offline_max_age_days=x.offline_max_age_days,
    )


def _decimal(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def rule(x: program_pb2.EarningRule) -> m.EarningRule:
    s, c = x.spec, x.spec.condition
    spec = m.EarningRuleSpec(
        name=s.name,
        kind=_RULE_KINDS.get(s.kind, m.EarningRuleKind.BASE_RATE),
        valid_from=when(s, "valid_from"),
        valid_to=when(s, "valid_to"),
        currency=s.currency,
        points_per_unit=_decimal(s.points_per_unit),
        factor=_decimal(s.factor),
        bonus_points=s.bonus_points,
        condition=m.RuleCondition(
            channels=tuple(_CHANNELS.get(ch, m.Channel.UNSPECIFIED) for ch in c.channels),
            store_ids=tuple(c.store_ids),
            categories=tuple(c.categories),
            skus=tuple(c.skus),
            min_amount_minor=c.min_amount_minor,
            first_purchase_in_channel=c.first_purchase_in_channel,
            first_purchase_in_second_channel=c.first_purchase_in_second_channel,
            store_and_online_same_month=c.store_and_online_same_month,
        ),
    )
    return m.EarningRule(
        rule_id=x.rule_id,
        version=x.version,
        effective_from=when(x, "effective_from"),
        retired=x.retired,
        spec=spec,
        created_at=when(x, "created_at"),
    )


def erasure(x: members_pb2.EraseMemberResponse) -> m.Erasure:
    return m.Erasure(member=member(x.member), identifiers_removed=x.identifiers_removed)


def audit_page(x: audit_pb2.ListAuditEventsResponse) -> m.AuditPage:
    return m.AuditPage(
        events=tuple(
            m.AuditEvent(
                audit_id=e.audit_id,
                occurred_at=when(e, "occurred_at"),
                principal_kind=e.principal_kind,
                credential_id=e.credential_id,
                action=e.action,
                subject_type=e.subject_type,
                subject_id=e.subject_id,
                before_json=e.before_json,
                after_json=e.after_json,
            )
            for e in x.events
        ),
        next_page_token=x.next_page_token,
    )


def _amounts(values: object) -> tuple[m.Money, ...]:
    return tuple(m.Money(x.amount_minor, x.currency) for x in values)  # type: ignore[attr-defined]


def program_stats(x: stats_pb2.ProgramStats) -> st.ProgramStats:
    return st.ProgramStats(
        occurred_from=when(x, "occurred_from"),
        occurred_to=when(x, "occurred_to"),
        members_enrolled=x.members_enrolled,
        members_active=x.members_active,
        points_issued=x.points_issued,
        points_spent=x.points_spent,
        points_expired=x.points_expired,
        points_reversed=x.points_reversed,
        points_outstanding=x.points_outstanding,
        purchases=x.purchases,
        revenue=_amounts(x.revenue),
        multi_channel_members=x.multi_channel_members,
        multi_channel_share=x.multi_channel_share,
        spend=tuple(
            st.SpendComparison(
                currency=s.currency,
                single_channel_members=s.single_channel_members,
                single_channel_average_spend_minor=s.single_channel_average_spend_minor,
                multi_channel_members=s.multi_channel_members,
                multi_channel_average_spend_minor=s.multi_channel_average_spend_minor,
            )
            for s in x.spend
        ),
        by_channel_store=tuple(
            st.ChannelStoreStats(
                channel=_CHANNELS.get(b.channel, m.Channel.UNSPECIFIED),
                store_id=b.store_id,
                members_active=b.members_active,
                purchases=b.purchases,
                revenue=_amounts(b.revenue),
                points_issued=b.points_issued,
                points_spent=b.points_spent,
                points_expired=b.points_expired,
                points_reversed=b.points_reversed,
            )
            for b in x.by_channel_store
        ),
    )
