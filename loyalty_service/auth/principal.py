"""The authenticated caller of the current RPC, set by the interceptor in a ContextVar."""

from __future__ import annotations

import enum
from contextvars import ContextVar
from dataclasses import dataclass

from loyalty_service.errors import PermissionDenied

__all__ = ["Principal", "PrincipalKind", "current_principal", "principal_var"]


class PrincipalKind(enum.StrEnum):
    POS = "pos"
    WEBSHOP = "webshop"
    APP_BACKEND = "app_backend"
    BACKOFFICE = "backoffice"
    MEMBER = "member"
    """The mobile app acting as one member, with a member token."""


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    credential_id: str
    """The API key's id; for a member token, the id of the credential that issued it."""
    store_id: str | None = None
    """POS only: the one store this till may act for."""
    member_id: str | None = None
    """MEMBER only: the one member whose data the token reaches."""

    @property
    def idempotency_scope(self) -> str:
        """Idempotency keys are scoped to the caller: a member's keys to that member."""
        return f"member:{self.member_id}" if self.kind is PrincipalKind.MEMBER else self.credential_id

    @property
    def log_id(self) -> str:
        return (
            f"member-token:{self.credential_id}" if self.kind is PrincipalKind.MEMBER else self.credential_id
        )

    def require_member(self, member_id: str) -> None:
        """A member token reaches only its own member; API keys reach any member."""
        if self.kind is PrincipalKind.MEMBER and member_id != self.member_id:
            raise PermissionDenied("a member token gives access to its own member only")

    def require_store(self, store_id: str) -> None:
        """A till's credential works only for its own store."""
        if self.kind is PrincipalKind.POS and store_id != self.store_id:
            raise PermissionDenied(f"this till's credential is for store {self.store_id!r} only")


principal_var: ContextVar[Principal | None] = ContextVar("principal", default=None)


def current_principal() -> Principal:
    principal = principal_var.get()
    assert principal is not None, "called outside an authenticated RPC"
    return principal
