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
    # GDPR: the member (app), the channels that serve members, and staff handling a request in writing.
    "/loyalty.v1.MemberService/ExportMemberData": frozenset({WEB, APP, BACK, MEMBER}),
    "/loyalty.v1.MemberService/EraseMember": frozenset({WEB, APP, BACK, MEMBER}),
    "/loyalty.v1.LedgerService/RecordPurchase": frozenset({POS, WEB}),
    "/loyalty.v1.LedgerService/RecordRefund": frozenset({POS, WEB}),
    "/loyalty.v1.LedgerService/SpendPoints": frozenset({POS, WEB}),
    "/loyalty.v1.LedgerService/CancelSpend": frozenset({POS, WEB}),
    "/loyalty.v1.LedgerService/AdjustPoints": frozenset({BACK}),
    "/loyalty.v1.LedgerService/GetBalance": _ANY_CREDENTIAL | {MEMBER},
    "/loyalty.v1.LedgerService/ListLedgerEntries": frozenset({WEB, APP, BACK, MEMBER}),
    "/loyalty.v1.LedgerService/SyncOfflinePurchases": frozenset({POS}),
    "/loyalty.v1.LiveService/WatchMember": frozenset({WEB, APP, MEMBER}),
    "/loyalty.v1.LiveService/WatchProgram": frozenset({BACK}),
    # Draws: anyone reads; members (and the channels that serve them) enter; the back office runs.
    "/loyalty.v1.DrawService/ListDraws": _ANY_CREDENTIAL | {MEMBER},
    "/loyalty.v1.DrawService/GetDraw": _ANY_CREDENTIAL | {MEMBER},
    "/loyalty.v1.DrawService/EnterDraw": frozenset({WEB, APP, MEMBER}),
    "/loyalty.v1.DrawService/RunDraw": frozenset({BACK}),
    "/loyalty.v1.DrawService/GetDrawResult": _ANY_CREDENTIAL | {MEMBER},
    # Challenges: the member's phone only (a position and the member's own progress).
    "/loyalty.v1.ChallengeService/ListNearbyChallenges": frozenset({MEMBER}),
    "/loyalty.v1.ChallengeService/CheckIn": frozenset({MEMBER}),
    "/loyalty.v1.ChallengeService/GetChallengeProgress": frozenset({MEMBER}),
    # Rewards: members redeem in their channel; tills and the web shop accept vouchers; a member (or the
    # web shop, app and staff for them) cancels an unused one. Member tokens reach their own vouchers only.
    "/loyalty.v1.RewardService/ListRewards": _ANY_CREDENTIAL | {MEMBER},
    "/loyalty.v1.RewardService/RedeemReward": frozenset({POS, WEB, APP, MEMBER}),
    "/loyalty.v1.RewardService/GetVoucher": _ANY_CREDENTIAL | {MEMBER},
    "/loyalty.v1.RewardService/ListVouchers": _ANY_CREDENTIAL | {MEMBER},
    "/loyalty.v1.RewardService/UseVoucher": frozenset({POS, WEB}),
    "/loyalty.v1.RewardService/CancelVoucher": frozenset({WEB, APP, BACK, MEMBER}),
    # Games and passports: the member (or the channels serving members) plays and reads own progress.
    "/loyalty.v1.GameService/ListGames": frozenset({WEB, APP, MEMBER}),
    "/loyalty.v1.GameService/PlayGame": frozenset({WEB, APP, MEMBER}),
    "/loyalty.v1.GameService/ListPlays": frozenset({WEB, APP, BACK, MEMBER}),
    "/loyalty.v1.GameService/GetLeaderboard": _ANY_CREDENTIAL | {MEMBER},
    "/loyalty.v1.GameService/UpdateLeaderboardSettings": frozenset({WEB, APP, MEMBER}),
    "/loyalty.v1.PassportService/ListPassports": frozenset({WEB, APP, BACK, MEMBER}),
    "/loyalty.v1.PassportService/GetPassport": frozenset({WEB, APP, BACK, MEMBER}),
    # Click-and-collect: a till of the order's pickup store hands it over (its store only); the web shop,
    # the back office and that till read the order's state.
    "/loyalty.v1.JourneyService/ConfirmPickup": frozenset({POS}),
    "/loyalty.v1.JourneyService/GetPickup": frozenset({POS, WEB, BACK}),
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
            "GetJourneySettings",
            "UpdateJourneySettings",
            "CreateEarningRule",
            "UpdateEarningRule",
            "RetireEarningRule",
            "ListEarningRules",
            "GetProgramStats",
            "CreateDraw",
            "UpdateDraw",
            "ListAllDraws",
            "CreatePlace",
            "UpdatePlace",
            "ArchivePlace",
            "ListPlaces",
            "CreateChallenge",
            "UpdateChallenge",
            "ListChallenges",
            "ListAuditEvents",
            "CreateReward",
            "UpdateReward",
            "ArchiveReward",
            "ListRewardCatalogue",
            "CreateGame",
            "UpdateGame",
            "ListAllGames",
            "CreatePlayTokenRule",
            "CreatePassport",
            "UpdatePassport",
            "ListAllPassports",
            "SetTierLadder",
            "GetTierLadder",
            "ListTierLadders",
        )
    },
}


def allowed_kinds(method: str) -> frozenset[PrincipalKind] | None:
    """The kinds allowed to call `method`; None for a method nobody may call (not in the table)."""
    return ACCESS.get(method)
