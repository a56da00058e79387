"""Reading and writing the shared types of common.proto: channels and member identifiers.

Every servicer meets these at its edge; keeping the mappings here keeps them single.
"""

from __future__ import annotations

from loyalty.v1 import common_pb2

from loyalty_service.auth.principal import Principal, PrincipalKind, current_principal
from loyalty_service.kernel.channel import Channel
from loyalty_service.kernel.identifiers import IdentifierKind, normalise_identifier
from loyalty_service.validation import Checks

__all__ = [
    "CHANNELS",
    "CHANNEL_TO_PROTO",
    "IDENTIFIER_KINDS",
    "IDENTIFIER_KIND_TO_PROTO",
    "channel_of",
    "member_of_caller",
    "read_identifier",
]

CHANNELS: dict[common_pb2.Channel.ValueType, Channel] = {
    common_pb2.CHANNEL_POS: Channel.POS,
    common_pb2.CHANNEL_WEBSHOP: Channel.WEBSHOP,
    common_pb2.CHANNEL_APP: Channel.APP,
    common_pb2.CHANNEL_BACKOFFICE: Channel.BACKOFFICE,
}
CHANNEL_TO_PROTO: dict[str, common_pb2.Channel.ValueType] = {v.value: k for k, v in CHANNELS.items()}

IDENTIFIER_KINDS: dict[common_pb2.IdentifierKind.ValueType, IdentifierKind] = {
    common_pb2.IDENTIFIER_KIND_CARD: IdentifierKind.CARD,
    common_pb2.IDENTIFIER_KIND_EMAIL: IdentifierKind.EMAIL,
    common_pb2.IDENTIFIER_KIND_PHONE: IdentifierKind.PHONE,
    common_pb2.IDENTIFIER_KIND_WEBSHOP_CUSTOMER_ID: IdentifierKind.WEBSHOP_CUSTOMER_ID,
}
IDENTIFIER_KIND_TO_PROTO: dict[IdentifierKind, common_pb2.IdentifierKind.ValueType] = {
    v: k for k, v in IDENTIFIER_KINDS.items()
}

_CALLER_CHANNELS = {
    PrincipalKind.POS: Channel.POS,
    PrincipalKind.WEBSHOP: Channel.WEBSHOP,
    PrincipalKind.APP_BACKEND: Channel.APP,
    PrincipalKind.MEMBER: Channel.APP,
    PrincipalKind.BACKOFFICE: Channel.BACKOFFICE,
}


def channel_of(principal: Principal) -> Channel:
    """The channel a caller acts in, for changes whose request does not name one."""
    return _CALLER_CHANNELS[principal.kind]


def member_of_caller(checks: Checks, member_id: str) -> str:
    """The request's member: a member token's own when empty; a token reaches only its member."""
    principal = current_principal()
    if principal.kind is PrincipalKind.MEMBER:
        assert principal.member_id is not None
        member_id = member_id or principal.member_id
    checks.entity_id("member_id", member_id, "mem")
    return member_id


def read_identifier(
    checks: Checks, field: str, identifier: common_pb2.Identifier
) -> tuple[IdentifierKind, str] | None:
    """The identifier's kind and normal form, or None with a violation recorded on `field`."""
    kind = checks.enum(f"{field}.kind", identifier.kind, IDENTIFIER_KINDS)
    if kind is None:
        return None
    try:
        return kind, normalise_identifier(kind, identifier.value)
    except ValueError as error:
        checks.fail(f"{field}.value", str(error))
        return None
