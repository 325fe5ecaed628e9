"""Logins, refresh-token rotation, logout, password changes and the session check.

Each login is its own session row. A refresh rotates the session's token id
(jti); presenting a token whose jti was already rotated means it was copied,
so the whole session is revoked. Every authenticated request checks that its
session is still active and reads the user's current role and unit, so logout,
deactivation and a role change take effect at once.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from hotelbot.clock import from_iso, new_id, now, to_iso
from hotelbot.errors import InvalidCredentials, Unauthorized, ValidationFailed
from hotelbot.passwords import hash_password, verify_password
from hotelbot.serialize import user_json
from hotelbot.services import audit
from hotelbot.storage import users as user_store
from hotelbot.tokens import AccessClaims

logger = logging.getLogger(__name__)

LOCK_AFTER_FAILURES = 10
LOCK_MINUTES = 15


def _principal(row: dict, session_id: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "tenant_id": row["tenant_id"],
        "role": row["role"],
        "hotel_unit": row["hotel_unit"],
        "language": row["language"],
        "email": row["email"],
        "session_id": session_id,
    }


async def _issue_pair(runtime: Any, user: dict, session_id: str) -> tuple[str, str, Any]:
    # The token names the unit as the API does ("Campos do Jordão"), not by its slug.
    unit_name = user["hotel_unit"]
    tenant = await runtime.tenants.get(user["tenant_id"]) if unit_name else None
    if tenant is not None:
        unit_name = tenant.hotel_units.get(unit_name, unit_name)
    access = runtime.tokens.issue_access(
        AccessClaims(user["id"], user["tenant_id"], user["role"], unit_name, session_id)
    )
    refresh, claims = runtime.tokens.issue_refresh(user["id"], session_id)
    return access, refresh, claims


async def login(runtime: Any, email: str, password: str, client: str) -> dict[str, Any]:
    """Check credentials and open a session; return ``{accessToken, refreshToken, user}``.

    Unknown email, wrong password, inactive and locked accounts all raise the
    same InvalidCredentials after the same bcrypt work.
    """
    async with runtime.db.read() as connection:
        user = await user_store.select_login_user(connection, email)

    password_ok = await verify_password(password, user["password_hash"] if user else None)
    locked = bool(user and user["locked_until"] and from_iso(user["locked_until"]) > now())
    if user is None or not password_ok or not user["active"] or locked:
        await _reject_login(runtime, user, password_ok, locked, client)

    session_id = new_id()
    access, refresh, claims = await _issue_pair(runtime, user, session_id)
    async with runtime.db.write() as connection:
        await user_store.reset_login_failures(connection, user["id"])
        await user_store.insert_session(
            connection,
            session_id=session_id,
            user_id=user["id"],
            tenant_id=user["tenant_id"],
            refresh_jti=claims.jti,
            expires_at=to_iso(dt.datetime.fromtimestamp(claims.expires_at, dt.timezone.utc)),
        )
        await audit.record(connection, user["tenant_id"], audit.Actor("USER", user["id"]), "LOGIN", target=session_id)
    tenant = await runtime.tenants.get(user["tenant_id"])
    logger.info("Login: user %s (tenant %s) session %s from %s", user["id"], user["tenant_id"], session_id, client)
    return {"accessToken": access, "refreshToken": refresh, "user": user_json(user, tenant.hotel_units if tenant else {})}


async def _reject_login(runtime: Any, user: dict | None, password_ok: bool, locked: bool, client: str) -> None:
    """Count a wrong password, record LOGIN_FAILED for a known account, then raise InvalidCredentials.

    An unknown email has no tenant to audit it under, so it is only logged.
    """
    if user is None:
        logger.warning("Login rejected from %s: unknown email", client)
        raise InvalidCredentials()

    if not password_ok:
        reason = "password"
    elif locked:
        reason = "locked"
    else:
        reason = "inactive"
    async with runtime.db.write() as connection:
        if not password_ok:
            until = to_iso(now() + dt.timedelta(minutes=LOCK_MINUTES))
            failures = await user_store.record_login_failure(connection, user["id"], LOCK_AFTER_FAILURES, until)
        await audit.record(
            connection, user["tenant_id"], audit.Actor("USER", user["id"]), "LOGIN_FAILED", details={"reason": reason}
        )
    if not password_ok:
        logger.warning("Login failed for user %s from %s (%d consecutive failures)", user["id"], client, failures)
    else:
        logger.warning("Login rejected for user %s from %s: %s", user["id"], client, reason)
    raise InvalidCredentials()


async def refresh(runtime: Any, token: str) -> dict[str, str]:
    """Rotate a refresh token; a token already rotated revokes its session."""
    claims = runtime.tokens.verify_refresh(token)
    async with runtime.db.read() as connection:
        session = await user_store.select_session(connection, claims.session_id)
        user = await user_store.select_active_principal(connection, claims.session_id, claims.user_id)

    if session is None or session["user_id"] != claims.user_id or session["revoked_at"] is not None:
        raise Unauthorized("Session ended. Sign in again.")
    if session["refresh_jti"] != claims.jti:
        async with runtime.db.write() as connection:
            await user_store.revoke_session(connection, session["id"], "refresh token reused")
        logger.warning("Refresh token reused: session %s of user %s revoked", session["id"], claims.user_id)
        raise Unauthorized("Session ended. Sign in again.")
    if user is None:
        raise Unauthorized("Session ended. Sign in again.")

    access, new_refresh, new_claims = await _issue_pair(runtime, user, session["id"])
    expires_at = to_iso(dt.datetime.fromtimestamp(new_claims.expires_at, dt.timezone.utc))
    async with runtime.db.write() as connection:
        rotated = await user_store.rotate_session(connection, session["id"], claims.jti, new_claims.jti, expires_at)
        if not rotated:
            await user_store.revoke_session(connection, session["id"], "refresh token reused")
    if not rotated:
        logger.warning("Concurrent refresh of session %s: revoked", session["id"])
        raise Unauthorized("Session ended. Sign in again.")
    return {"accessToken": access, "refreshToken": new_refresh}


async def authenticate(runtime: Any, token: str) -> dict[str, Any]:
    """Return the principal of an access token whose session is active; raise Unauthorized."""
    claims = runtime.tokens.verify_access(token)
    async with runtime.db.read() as connection:
        row = await user_store.select_active_principal(connection, claims.session_id, claims.user_id)
    if row is None or row["tenant_id"] != claims.tenant_id:
        raise Unauthorized("Session ended. Sign in again.")
    return _principal(row, claims.session_id)


async def logout(runtime: Any, principal: dict[str, Any]) -> None:
    async with runtime.db.write() as connection:
        await user_store.revoke_session(connection, principal["session_id"], "logout")
    await runtime.realtime.disconnect_session(principal["id"], principal["session_id"])
    logger.info("Logout: user %s session %s", principal["id"], principal["session_id"])


async def change_password(runtime: Any, principal: dict[str, Any], current: str, new: str) -> None:
    """Replace the user's password; other sessions of the user end."""
    async with runtime.db.read() as connection:
        password_hash = await user_store.select_password_hash(connection, principal["tenant_id"], principal["id"])
    if not await verify_password(current, password_hash):
        raise ValidationFailed(
            "Current password is incorrect.",
            details=[{"field": "currentPassword", "message": "Current password is incorrect."}],
        )
    if current == new:
        raise ValidationFailed(
            "The new password must differ from the current one.",
            details=[{"field": "newPassword", "message": "The new password must differ from the current one."}],
        )

    new_hash = await hash_password(new, runtime.settings.bcrypt_rounds)
    async with runtime.db.write() as connection:
        await user_store.update_user(connection, principal["tenant_id"], principal["id"], password_hash=new_hash)
        await user_store.revoke_user_sessions(connection, principal["id"], "password changed", keep=principal["session_id"])
    logger.info("Password changed: user %s; other sessions revoked", principal["id"])
