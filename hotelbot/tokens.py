"""Access and refresh tokens (JWT, HS256).

An access token carries ``{sub, tenantId, role, hotelUnit, sid, iat, exp}``; a
refresh token ``{sub, type: "refresh", sid, jti, iat, exp}``. The algorithm is
pinned, so ``none`` and every other algorithm are rejected, and each kind is
refused where the other is expected.
"""

from __future__ import annotations

import dataclasses
import time
import uuid

import jwt

from hotelbot.errors import TokenExpired, Unauthorized

ALGORITHM = "HS256"
REFRESH_TYPE = "refresh"


@dataclasses.dataclass(frozen=True)
class AccessClaims:
    user_id: str
    tenant_id: str
    role: str
    hotel_unit: str | None
    session_id: str


@dataclasses.dataclass(frozen=True)
class RefreshClaims:
    user_id: str
    session_id: str
    jti: str
    expires_at: int


class TokenIssuer:
    def __init__(self, secret: str, access_ttl: int, refresh_ttl: int, leeway: int) -> None:
        self._secret = secret
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._leeway = leeway

    def issue_access(self, claims: AccessClaims) -> str:
        issued = int(time.time())
        payload = {
            "sub": claims.user_id,
            "tenantId": claims.tenant_id,
            "role": claims.role,
            "hotelUnit": claims.hotel_unit,
            "sid": claims.session_id,
            "iat": issued,
            "exp": issued + self.access_ttl,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def issue_refresh(self, user_id: str, session_id: str) -> tuple[str, RefreshClaims]:
        issued = int(time.time())
        claims = RefreshClaims(user_id, session_id, uuid.uuid4().hex, issued + self.refresh_ttl)
        payload = {
            "sub": user_id,
            "type": REFRESH_TYPE,
            "sid": session_id,
            "jti": claims.jti,
            "iat": issued,
            "exp": claims.expires_at,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM), claims

    def _decode(self, token: str, required: list[str]) -> dict:
        try:
            return jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                leeway=self._leeway,
                options={"require": required},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired() from None
        except jwt.PyJWTError:
            raise Unauthorized("Invalid token.") from None

    def verify_access(self, token: str) -> AccessClaims:
        """Return the claims of a valid access token; raise Unauthorized or TokenExpired."""
        payload = self._decode(token, ["sub", "tenantId", "role", "sid", "exp", "iat"])

        if "type" in payload:
            raise Unauthorized("Invalid token.")
        if not all(isinstance(payload[name], str) for name in ("sub", "tenantId", "role", "sid")):
            raise Unauthorized("Invalid token.")

        return AccessClaims(
            user_id=payload["sub"],
            tenant_id=payload["tenantId"],
            role=payload["role"],
            hotel_unit=payload.get("hotelUnit"),
            session_id=payload["sid"],
        )

    def verify_refresh(self, token: str) -> RefreshClaims:
        """Return the claims of a valid refresh token; raise Unauthorized or TokenExpired."""
        payload = self._decode(token, ["sub", "type", "sid", "jti", "exp", "iat"])

        if payload["type"] != REFRESH_TYPE:
            raise Unauthorized("Invalid token.")
        if not all(isinstance(payload[name], str) for name in ("sub", "sid", "jti")):
            raise Unauthorized("Invalid token.")

        return RefreshClaims(payload["sub"], payload["sid"], payload["jti"], int(payload["exp"]))
