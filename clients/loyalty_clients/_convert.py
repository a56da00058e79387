"""The one place generated messages meet the client's dataclasses, both directions."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.v1 import audit_pb2, common_pb2, ledger_pb2, members_pb2, program_pb2, stats_pb2

from loyalty_clients import _models as m
from loyalty_clients import _stats_models as st

E = TypeVar("E", bound=enum.Enum)
V = TypeVar("V")
V_co = TypeVar("V_co", covariant=True)


class _ProtoEnum(Protocol[V_co]):
    """A generated enum (`common_pb2.Channel`, ...): its values by name."""

    def Value(self, name: str) -> V_co: ...


def enum_to_proto(ours: type[E], theirs: _ProtoEnum[V], prefix: str) -> dict[E, V]:
    """Each member of our enum with the generated value of the same name: `Channel.POS` -> `CHANNEL_POS`."""
    return {member: theirs.Value(prefix + member.name) for member in ours}


def enum_from_proto(ours: type[E], theirs: _ProtoEnum[V], prefix: str) -> dict[V, E]:
    """The reverse of `enum_to_proto`: look a value up with `.get()`, a newer server may send others."""
    return {value: member for member, value in enum_to_proto(ours, theirs, prefix).items()}


CHANNEL_TO_PROTO = enum_to_proto(m.Channel, common_pb2.Channel, "CHANNEL_")
CHANNEL_FROM_PROTO = enum_from_proto(m.Channel, common_pb2.Channel, "CHANNEL_")
_KIND_TO_PROTO = enum_to_proto(m.IdentifierKind, common_pb2.IdentifierKind, "IDENTIFIER_KIND_")
_KINDS = {v: k for k, v in _KIND_TO_PROTO.items()}
_STATUSES = enum_from_proto(m.MemberStatus, members_pb2.MemberStatus, "MEMBER_STATUS_")
PURPOSE_TO_PROTO = enum_to_proto(m.ConsentPurpose, members_pb2.ConsentPurpose, "CONSENT_PURPOSE_")
_PURPOSES = {v: k for k, v in PURPOSE_TO_PROTO.items()}
ENTRY_TYPE_TO_PROTO = enum_to_proto(m.EntryType, ledger_pb2.EntryType, "ENTRY_TYPE_")
_ENTRY_TYPES = {v: k for k, v in ENTRY_TYPE_TO_PROTO.items()}
CREDENTIAL_KIND_TO_PROTO = enum_to_proto(m.CredentialKind, program_pb2.CredentialKind, "CREDENTIAL_KIND_")
_CREDENTIAL_KINDS = {v: k for k, v in CREDENTIAL_KIND_TO_PROTO.items()}
_RULE_KIND_TO_PROTO = enum_to_proto(m.EarningRuleKind, program_pb2.EarningRuleKind, "EARNING_RULE_KIND_")
_RULE_KINDS = {v: k for k, v in _RULE_KIND_TO_PROTO.items()}


# --- to messages ---------------------------------------------------------------------------------


def timestamp(value: datetime) -> Timestamp:
    if value.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def optional_timestamp(value: datetime | None) -> Timestamp | None:
    return None if value is None else timestamp(value)


def channels(values: Iterable[m.Channel]) -> list[common_pb2.Channel.ValueType]:
    return [CHANNEL_TO_PROTO[x] for x in values]


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
    return program_pb2.EarningRuleSpec(
        name=spec.name,
        kind=_RULE_KIND_TO_PROTO[spec.kind],
        currency=spec.currency,
        points_per_unit="" if spec.points_per_unit is None else str(spec.points_per_unit),
        factor="" if spec.factor is None else str(spec.factor),
        bonus_points=spec.bonus_points,
        condition=program_pb2.RuleCondition(
            channels=channels(condition.channels),
            store_ids=list(condition.store_ids),
            categories=list(condition.categories),
            skus=list(condition.skus),
            min_amount_minor=condition.min_amount_minor,
            first_purchase_in_channel=condition.first_purchase_in_channel,
            first_purchase_in_second_channel=condition.first_purchase_in_second_channel,
            store_and_online_same_month=condition.store_and_online_same_month,
        ),
        valid_from=optional_timestamp(spec.valid_from),
        valid_to=optional_timestamp(spec.valid_to),
    )


# --- from messages -------------------------------------------------------------------------------


def when(message: object, field: str) -> datetime | None:
    """An aware UTC datetime, or None for an unset timestamp field."""
    if not message.HasField(field):  # type: ignore[attr-defined]
        return None
    return utc(getattr(message, field))


def utc(stamp: Timestamp) -> datetime:
    """An aware UTC datetime of a timestamp that is always set."""
    return stamp.ToDatetime(tzinfo=UTC)


def channel_of(value: common_pb2.Channel.ValueType) -> m.Channel:
    """Our channel; one this client does not know (a newer server's) is UNSPECIFIED."""
    return CHANNEL_FROM_PROTO.get(value, m.Channel.UNSPECIFIED)


def channels_of(values: Iterable[common_pb2.Channel.ValueType]) -> tuple[m.Channel, ...]:
    return tuple(channel_of(x) for x in values)


def _consent(c: members_pb2.Consent) -> m.Consent:
    return m.Consent(
        purpose=_PURPOSES[c.purpose],
        granted=c.granted,
        changed_at=when(c, "changed_at"),
        channel=channel_of(c.channel),
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
        channel=channel_of(x.channel),
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
            channels=channels_of(c.channels),
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
                channel=channel_of(b.channel),
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
