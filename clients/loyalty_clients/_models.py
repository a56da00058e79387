"""What the clients take and return: StrEnums and frozen dataclasses, never generated messages.

Money is integer minor units with an ISO 4217 code (`Money.of(Decimal("12.34"), "EUR")` converts);
every datetime is timezone-aware UTC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

__all__ = [
    "AdjustResult",
    "AppliedRule",
    "AuditEvent",
    "AuditPage",
    "Balance",
    "CancelSpendResult",
    "Channel",
    "Consent",
    "ConsentPurpose",
    "Credential",
    "CredentialKind",
    "EarningRule",
    "EarningRuleKind",
    "EarningRuleSpec",
    "EntryType",
    "Erasure",
    "Identifier",
    "IdentifierKind",
    "LedgerEntry",
    "LedgerPage",
    "LinkResult",
    "Member",
    "MemberRef",
    "MemberStatus",
    "MemberToken",
    "Money",
    "NewCredential",
    "NextExpiry",
    "ProgramSettings",
    "PurchaseLine",
    "PurchaseResult",
    "RefundResult",
    "RuleCondition",
    "SpendResult",
    "Store",
]

# Currencies whose minor unit is not the cent (ISO 4217); every other code has two decimals.
_EXPONENTS = {
    "JPY": 0,
    "KRW": 0,
    "ISK": 0,
    "CLP": 0,
    "VND": 0,
    "BHD": 3,
    "JOD": 3,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
}


class Channel(enum.StrEnum):
    POS = "pos"
    WEBSHOP = "webshop"
    APP = "app"
    BACKOFFICE = "backoffice"
    UNSPECIFIED = "unspecified"
    """System entries (expiry, merges) belong to no channel."""


class IdentifierKind(enum.StrEnum):
    CARD = "card"
    EMAIL = "email"
    PHONE = "phone"
    WEBSHOP_CUSTOMER_ID = "webshop_customer_id"


class MemberStatus(enum.StrEnum):
    ACTIVE = "active"
    PROVISIONAL = "provisional"
    """Created by a purchase on an unknown card; merged into a real member when the card is linked."""
    CLOSED = "closed"
    ERASED = "erased"
    """Personal data erased at the member's request; the id remains as the pseudonym of its ledger."""


class ConsentPurpose(enum.StrEnum):
    MARKETING = "marketing"
    LOCATION = "location"
    PROFILING = "profiling"


class EntryType(enum.StrEnum):
    EARN = "earn"
    REFUND_REVERSAL = "refund_reversal"
    SPEND = "spend"
    SPEND_CANCEL = "spend_cancel"
    ADJUST = "adjust"
    EXPIRE = "expire"
    MERGE_OUT = "merge_out"
    MERGE_IN = "merge_in"
    REDEEM = "redeem"
    REDEEM_CANCEL = "redeem_cancel"
    GAME_PLAY = "game_play"
    GAME_WIN = "game_win"
    PASSPORT_REWARD = "passport_reward"
    CHALLENGE_REWARD = "challenge_reward"
    DRAW_ENTRY = "draw_entry"
    DRAW_WIN = "draw_win"
    BONUS = "bonus"


class CredentialKind(enum.StrEnum):
    POS = "pos"
    WEBSHOP = "webshop"
    APP_BACKEND = "app_backend"
    BACKOFFICE = "backoffice"


class EarningRuleKind(enum.StrEnum):
    BASE_RATE = "base_rate"
    MULTIPLIER = "multiplier"
    BONUS = "bonus"


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in integer minor units (cents) of an ISO 4217 currency."""

    amount_minor: int
    currency: str

    @classmethod
    def of(cls, amount: Decimal | str | int, currency: str) -> Money:
        """`Money.of(Decimal("12.34"), "EUR") == Money(1234, "EUR")`; refuses sub-minor precision."""
        scaled = Decimal(amount).scaleb(_EXPONENTS.get(currency.upper(), 2))
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{amount} has more decimals than {currency} allows")
        return cls(int(scaled), currency.upper())

    def to_decimal(self) -> Decimal:
        return Decimal(self.amount_minor).scaleb(-_EXPONENTS.get(self.currency, 2))


@dataclass(frozen=True, slots=True)
class Identifier:
    """A way to find a member: `Identifier.card("4000123456")`, `Identifier.email("ada@example.com")`."""

    kind: IdentifierKind
    value: str

    @classmethod
    def card(cls, number: str) -> Identifier:
        return cls(IdentifierKind.CARD, number)

    @classmethod
    def email(cls, address: str) -> Identifier:
        return cls(IdentifierKind.EMAIL, address)

    @classmethod
    def phone(cls, number: str) -> Identifier:
        return cls(IdentifierKind.PHONE, number)

    @classmethod
    def webshop_customer_id(cls, customer_id: str) -> Identifier:
        return cls(IdentifierKind.WEBSHOP_CUSTOMER_ID, customer_id)


MemberRef = str | Identifier
"""A member named by id ("mem_...") or by any identifier."""


@dataclass(frozen=True, slots=True)
class Consent:
    purpose: ConsentPurpose
    granted: bool
    changed_at: datetime | None
    channel: Channel


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    status: MemberStatus
    display_name: str
    identifiers: tuple[Identifier, ...]
    consents: tuple[Consent, ...]
    enrolled_at: datetime | None
    merged_into_member_id: str = ""
    consent_history: tuple[Consent, ...] = ()
    """Filled only when asked for (`include_consent_history=True`)."""
    referral_code: str = ""
    """The member's own referral code ("K7QX-M2PA") to give to friends; "" for provisional members."""


@dataclass(frozen=True, slots=True)
class Erasure:
    member: Member
    """The member as kept: status ERASED, no display name, no identifiers."""
    identifiers_removed: int


@dataclass(frozen=True, slots=True)
class LinkResult:
    member: Member
    merged_member_id: str
    """The provisional member whose points moved in, or "" when there was none."""
    merged_points: int


@dataclass(frozen=True, slots=True)
class MemberToken:
    token: str = field(repr=False)
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class PurchaseLine:
    sku: str
    amount_minor: int
    category: str = ""
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class AppliedRule:
    rule_id: str
    version: int
    name: str
    kind: EarningRuleKind | None
    points: int


@dataclass(frozen=True, slots=True)
class NextExpiry:
    points: int
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Balance:
    member_id: str
    available: int
    """Spendable now; negative while a refund left a debt."""
    pending: int
    """Held until the return window closes."""
    lifetime_earned: int
    next_expiry: NextExpiry | None


@dataclass(frozen=True, slots=True)
class PurchaseResult:
    purchase_id: str
    member_id: str
    entry_id: str
    points: int
    applied_rules: tuple[AppliedRule, ...]
    balance: Balance | None
    provisional_member_created: bool
    available_at: datetime | None
    """Points are pending until then; None when available at once."""
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class RefundResult:
    refund_id: str
    member_id: str
    entry_id: str
    points_reversed: int
    refunded_total: Money | None
    balance: Balance | None


@dataclass(frozen=True, slots=True)
class SpendResult:
    spend_id: str
    entry_id: str
    balance: Balance | None


@dataclass(frozen=True, slots=True)
class CancelSpendResult:
    entry_id: str
    points_returned: int
    balance: Balance | None


@dataclass(frozen=True, slots=True)
class AdjustResult:
    entry_id: str
    balance: Balance | None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    entry_id: str
    member_id: str
    type: EntryType | None
    points: int
    balance_after: int
    channel: Channel
    store_id: str
    source_type: str
    source_ref: str
    reason: str
    occurred_at: datetime | None
    recorded_at: datetime | None


@dataclass(frozen=True, slots=True)
class LedgerPage:
    entries: tuple[LedgerEntry, ...]
    next_page_token: str
    """"" on the last page."""


@dataclass(frozen=True, slots=True)
class Store:
    store_id: str
    name: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class Credential:
    credential_id: str
    kind: CredentialKind | None
    store_id: str
    name: str
    created_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewCredential:
    credential: Credential
    api_key: str = field(repr=False)
    """The secret, shown only in this answer: hand it to the channel and keep it nowhere else."""


@dataclass(frozen=True, slots=True)
class ProgramSettings:
    pending_days: int = 0
    expiry_months: int = 0
    offline_max_age_days: int = 30


@dataclass(frozen=True, slots=True)
class RuleCondition:
    """When a rule applies; empty means "any"."""

    channels: tuple[Channel, ...] = ()
    store_ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()
    min_amount_minor: int = 0
    first_purchase_in_channel: bool = False
    first_purchase_in_second_channel: bool = False
    """Omnichannel (BONUS rules): bought before in another channel, never in this one; paid once."""
    store_and_online_same_month: bool = False
    """Omnichannel (BONUS rules): completes "in store and online this calendar month"; once a month."""


@dataclass(frozen=True, slots=True)
class EarningRuleSpec:
    """A rule's content: build one with `base_rate`, `multiplier` or `bonus`."""

    name: str
    kind: EarningRuleKind
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    currency: str = ""
    points_per_unit: Decimal | None = None
    factor: Decimal | None = None
    bonus_points: int = 0
    condition: RuleCondition = RuleCondition()

    @classmethod
    def base_rate(
        cls,
        *,
        name: str,
        currency: str,
        points_per_unit: Decimal | int | str,
        valid_from: datetime | None = None,
        valid_to: datetime | None = None,
        condition: RuleCondition = RuleCondition(),
    ) -> EarningRuleSpec:
        """Points per major unit: `EarningRuleSpec.base_rate(name="b", currency="EUR", points_per_unit=1)`."""
        return cls(
            name=name,
            kind=EarningRuleKind.BASE_RATE,
            currency=currency,
            points_per_unit=Decimal(points_per_unit),
            valid_from=valid_from,
            valid_to=valid_to,
            condition=condition,
        )

    @classmethod
    def multiplier(
        cls,
        *,
        name: str,
        factor: Decimal | int | str,
        valid_from: datetime | None = None,
        valid_to: datetime | None = None,
        condition: RuleCondition = RuleCondition(),
    ) -> EarningRuleSpec:
        """A factor, e.g. a promotion: `EarningRuleSpec.multiplier(name="x2", factor=2, valid_from=...)`."""
        return cls(
            name=name,
            kind=EarningRuleKind.MULTIPLIER,
            factor=Decimal(factor),
            valid_from=valid_from,
            valid_to=valid_to,
            condition=condition,
        )

    @classmethod
    def bonus(
        cls,
        *,
        name: str,
        bonus_points: int,
        valid_from: datetime | None = None,
        valid_to: datetime | None = None,
        condition: RuleCondition = RuleCondition(),
    ) -> EarningRuleSpec:
        """Fixed points per purchase: `EarningRuleSpec.bonus(name="welcome", bonus_points=100)`."""
        return cls(
            name=name,
            kind=EarningRuleKind.BONUS,
            bonus_points=bonus_points,
            valid_from=valid_from,
            valid_to=valid_to,
            condition=condition,
        )


@dataclass(frozen=True, slots=True)
class EarningRule:
    rule_id: str
    version: int
    effective_from: datetime | None
    retired: bool
    spec: EarningRuleSpec
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One back-office write: who (`principal_kind`, `credential_id`), what, the subject before and after."""

    audit_id: str
    occurred_at: datetime | None
    principal_kind: str
    credential_id: str
    action: str
    subject_type: str
    subject_id: str
    before_json: str
    """The subject before the write, as JSON ("" for a creation); never a secret."""
    after_json: str


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: tuple[AuditEvent, ...]
    next_page_token: str
    """"" on the last page."""
