"""Short-lived member tokens for the mobile app: HMAC-SHA256 over a compact JSON claim set.

Format: `mt1.<base64url(claims)>.<base64url(mac)>`, claims `{"sub": member_id, "iss": credential_id,
"iat": seconds, "exp": seconds}`. Verification is constant-time and checks expiry against the clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from loyalty_service.errors import Unauthenticated

__all__ = ["MemberClaims", "TokenSigner"]

_PREFIX = "mt1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class MemberClaims:
    member_id: str
    issued_by: str
    expires_at: datetime


class TokenSigner:
    def __init__(self, key: bytes) -> None:
        assert len(key) >= 32, "signing keys are at least 32 bytes"
        self._key = key

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, f"{_PREFIX}.{body}".encode(), hashlib.sha256).digest()

    def issue(
        self, *, member_id: str, issued_by: str, now: datetime, ttl_seconds: int
    ) -> tuple[str, datetime]:
        issued = int(now.timestamp())
        claims = {"sub": member_id, "iss": issued_by, "iat": issued, "exp": issued + ttl_seconds}
        body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{_PREFIX}.{body}.{_b64(self._mac(body))}", datetime.fromtimestamp(issued + ttl_seconds, UTC)

    @staticmethod
    def looks_like_token(secret: str) -> bool:
        return secret.startswith(_PREFIX + ".")

    def verify(self, token: str, *, now: datetime) -> MemberClaims:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _PREFIX:
            raise Unauthenticated("malformed member token")
        try:
            mac = _unb64(parts[2])
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            raise Unauthenticated("malformed member token") from None
        if not hmac.compare_digest(mac, self._mac(parts[1])):
            raise Unauthenticated("member token signature does not match")
        if not isinstance(claims, dict) or not all(k in claims for k in ("sub", "iss", "exp")):
            raise Unauthenticated("malformed member token")
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
        if expires <= now:
            raise Unauthenticated("member token expired")
        return MemberClaims(member_id=str(claims["sub"]), issued_by=str(claims["iss"]), expires_at=expires)
