"""Which kind of caller may call which RPC: the one declarative table (invariant 7).

Finer checks live beside the data they protect: a member token reaches only its member
(`Principal.require_member`), a till only its store (`Principal.require_store`).
"""

from __future__ import annotations

from collections.abc import Mapping

from loyalty_service.auth.principal import PrincipalKind

__all__ = ["ACCESS", "PUBLIC_SERVICES", "allowed_kinds"]

POS = PrincipalKind.POS
WEB = PrincipalKind.WEBSHOP
APP = PrincipalKind.APP_BACKEND
BACK = PrincipalKind.BACKOFFICE
MEMBER = PrincipalKind.MEMBER

# Health checking and reflection answer anyone: load balancers and tools call them without a key.
PUBLIC_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)

_ANY_CREDENTIAL = frozenset({POS, WEB, APP, BACK})

ACCESS: Mapping[str, frozenset[PrincipalKind]] = {
    "/loyalty.v1.MemberService/EnrollMember": _ANY_CREDENTIAL,
    "/loyalty.v1.MemberService/GetMember": _ANY_CREDENTIAL | {MEMBER},
    "/loyalty.v1.MemberService/LookupMember": _ANY_CREDENTIAL,
    "/loyalty.v1.MemberService/LinkIdentifier": _ANY_CREDENTIAL | {MEMBER},
    "/loyalty.v1.MemberService/IssueMemberToken": frozenset({APP, WEB}),
    "/loyalty.v1.MemberService/UpdateConsent": frozenset({WEB, APP, BACK, MEMBER}),
    "/loyalty.v1.LedgerService/RecordPurchase": frozenset({POS, WEB}),
    "/loyalty.v1.LedgerService/RecordRefund": frozenset({POS, WEB}),
    "/loyalty.v1.LedgerService/SpendPoints": frozenset({POS, WEB}),
    "/loyalty.v1.LedgerService/CancelSpend": frozenset({POS, WEB}),
    "/loyalty.v1.LedgerService/AdjustPoints": frozenset({BACK}),
    "/loyalty.v1.LedgerService/GetBalance": _ANY_CREDENTIAL | {MEMBER},
    "/loyalty.v1.LedgerService/ListLedgerEntries": frozenset({WEB, APP, BACK, MEMBER}),
    "/loyalty.v1.LedgerService/SyncOfflinePurchases": frozenset({POS}),
    **{
        f"/loyalty.v1.ProgramService/{name}": frozenset({BACK})
        for name in (
            "CreateStore",
            "ListStores",
            "CreateCredential",
            "ListCredentials",
            "RevokeCredential",
            "GetProgramSettings",
            "UpdateProgramSettings",
            "CreateEarningRule",
            "UpdateEarningRule",
            "RetireEarningRule",
            "ListEarningRules",
        )
    },
}


def allowed_kinds(method: str) -> frozenset[PrincipalKind] | None:
    """The kinds allowed to call `method`; None for a method nobody may call (not in the table)."""
    return ACCESS.get(method)
