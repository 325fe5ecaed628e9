"""Users (attendants, supervisors, admins) and their login sessions."""

from __future__ import annotations

import aiosqlite

from hotelbot.clock import now_iso
from hotelbot.storage.database import fetch_all, fetch_one

USER_COLUMNS = (
    "id, tenant_id, email, name, role, hotel_unit, language, active, failed_logins,"
    " locked_until, created_at, updated_at"
)


async def insert_user(
    connection: aiosqlite.Connection,
    tenant_id: str,
    *,
    user_id: str,
    email: str,
    name: str,
    password_hash: str,
    role: str,
    hotel_unit: str | None,
    language: str,
) -> None:
    stamp = now_iso()
    await connection.execute(
        "INSERT INTO users (id, tenant_id, email, name, password_hash, role, hotel_unit, language,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (user_id, tenant_id, email, name, password_hash, role, hotel_unit, language, stamp, stamp),
    )


async def select_user(connection: aiosqlite.Connection, tenant_id: str, user_id: str) -> dict | None:
    return await fetch_one(
        connection,
        f"SELECT {USER_COLUMNS} FROM users WHERE tenant_id = ? AND id = ?",
        (tenant_id, user_id),
    )


async def select_users(connection: aiosqlite.Connection, tenant_id: str, limit: int, after: str | None) -> list[dict]:
    return await fetch_all(
        connection,
        f"SELECT {USER_COLUMNS} FROM users WHERE tenant_id = ? AND (? IS NULL OR id > ?)"
        " ORDER BY id LIMIT ?",
        (tenant_id, after, after, limit),
    )


async def select_active_users(connection: aiosqlite.Connection, tenant_id: str, limit: int) -> list[dict]:
    """Return up to ``limit`` active users of the tenant, ordered by name."""
    return await fetch_all(
        connection,
        f"SELECT {USER_COLUMNS} FROM users WHERE tenant_id = ? AND active = 1 ORDER BY name, id LIMIT ?",
        (tenant_id, limit),
    )


async def select_login_user(connection: aiosqlite.Connection, email: str) -> dict | None:
    """Return the user with ``email`` (any tenant, case-insensitive) with its password hash."""
    return await fetch_one(
        connection, f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = ?", (email,)
    )


async def select_password_hash(connection: aiosqlite.Connection, tenant_id: str, user_id: str) -> str | None:
    row = await fetch_one(
        connection, "SELECT password_hash FROM users WHERE tenant_id = ? AND id = ?", (tenant_id, user_id)
    )
    return None if row is None else row["password_hash"]


async def update_user(connection: aiosqlite.Connection, tenant_id: str, user_id: str, **fields: object) -> bool:
    fields["updated_at"] = now_iso()
    assignments = ", ".join(f"{column} = ?" for column in fields)
    cursor = await connection.execute(
        f"UPDATE users SET {assignments} WHERE tenant_id = ? AND id = ?",
        (*fields.values(), tenant_id, user_id),
    )
    return cursor.rowcount > 0


async def record_login_failure(connection: aiosqlite.Connection, user_id: str, lock_after: int, locked_until: str) -> int:
    """Count one failed login; lock the account when the count reaches ``lock_after``."""
    await connection.execute(
        "UPDATE users SET failed_logins = failed_logins + 1,"
        " locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END"
        " WHERE id = ?",
        (lock_after, locked_until, user_id),
    )
    row = await fetch_one(connection, "SELECT failed_logins FROM users WHERE id = ?", (user_id,))
    return row["failed_logins"] if row else 0


async def reset_login_failures(connection: aiosqlite.Connection, user_id: str) -> None:
    await connection.execute(
        "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", (user_id,)
    )


async def insert_session(
    connection: aiosqlite.Connection,
    *,
    session_id: str,
    user_id: str,
    tenant_id: str,
    refresh_jti: str,
    expires_at: str,
) -> None:
    await connection.execute(
        "INSERT INTO sessions (id, user_id, tenant_id, refresh_jti, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (session_id, user_id, tenant_id, refresh_jti, now_iso(), expires_at),
    )


async def select_session(connection: aiosqlite.Connection, session_id: str) -> dict | None:
    return await fetch_one(connection, "SELECT * FROM sessions WHERE id = ?", (session_id,))


async def select_active_principal(connection: aiosqlite.Connection, session_id: str, user_id: str) -> dict | None:
    """Return the user of an active session, with its current role, unit and language."""
    return await fetch_one(
        connection,
        f"SELECT {', '.join('u.' + column.strip() for column in USER_COLUMNS.split(','))}"
        " FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.id = ? AND s.user_id = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND u.active = 1",
        (session_id, user_id, now_iso()),
    )


async def rotate_session(connection: aiosqlite.Connection, session_id: str, old_jti: str, new_jti: str, expires_at: str) -> bool:
    """Swap the session's refresh jti; False when ``old_jti`` is not the current one."""
    cursor = await connection.execute(
        "UPDATE sessions SET refresh_jti = ?, expires_at = ?"
        " WHERE id = ? AND refresh_jti = ? AND revoked_at IS NULL",
        (new_jti, expires_at, session_id, old_jti),
    )
    return cursor.rowcount > 0


async def revoke_session(connection: aiosqlite.Connection, session_id: str, reason: str) -> None:
    await connection.execute(
        "UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL",
        (now_iso(), reason, session_id),
    )


async def revoke_user_sessions(connection: aiosqlite.Connection, user_id: str, reason: str, keep: str | None = None) -> None:
    await connection.execute(
        "UPDATE sessions SET revoked_at = ?, revoked_reason = ?"
        " WHERE user_id = ? AND revoked_at IS NULL AND (? IS NULL OR id != ?)",
        (now_iso(), reason, user_id, keep, keep),
    )


async def revoke_all_sessions(connection: aiosqlite.Connection, reason: str) -> int:
    """Revoke every open session of every tenant; return how many were open."""
    cursor = await connection.execute(
        "UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE revoked_at IS NULL", (now_iso(), reason)
    )
    return cursor.rowcount
