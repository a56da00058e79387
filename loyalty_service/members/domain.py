"""Member status and consent purposes: the pure vocabulary of the members feature."""

from __future__ import annotations

import enum

from loyalty_service.kernel.identifiers import IdentifierKind, normalise_identifier

__all__ = ["ConsentPurpose", "IdentifierKind", "MemberStatus", "normalise_identifier"]


class MemberStatus(enum.StrEnum):
    ACTIVE = "active"
    PROVISIONAL = "provisional"
    CLOSED = "closed"
    ERASED = "erased"
    """Personal data erased (GDPR); the id remains as the pseudonym of the ledger."""


class ConsentPurpose(enum.StrEnum):
    MARKETING = "marketing"
    LOCATION = "location"
    PROFILING = "profiling"
