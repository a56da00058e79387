"""Who is calling (API keys and member tokens) and what they may do (invariant 7)."""

from loyalty_service.auth.principal import Principal, PrincipalKind, current_principal

__all__ = ["Principal", "PrincipalKind", "current_principal"]
