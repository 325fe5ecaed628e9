"""Admins managing their tenant's users: create, list, change, deactivate, reset passwords, unlock.

Every function takes the calling admin's principal and works only inside
their tenant: another tenant's user id is NotFound, exactly like an unknown
one. Changes that end a user's access (deactivation, a password reset) revoke
their sessions and close their sockets at once. A change of role or unit also
closes their sockets, so they reconnect into the right rooms.
"""

from __future__ import annotations

import logging
from typing import Any

from hotelbot.errors import Conflict, NotFound
from hotelbot.serialize import user_json
from hotelbot.services import audit, provisioning
from hotelbot.services.conversation_lists import Page
from hotelbot.services.conversations import UNSET, tenant_of
from hotelbot.storage import users as user_store

logger = logging.getLogger(__name__)


async def _user_json(runtime: Any, principal: dict[str, Any], user_id: str) -> dict[str, Any]:
    tenant = await tenant_of(runtime, principal)
    async with runtime.db.read() as connection:
        user = await user_store.select_user(connection, tenant.id, user_id)
    if user is None:
        raise NotFound("User not found.")
    return user_json(user, tenant.hotel_units)


async def create_user(
    runtime: Any,
    principal: dict[str, Any],
    *,
    email: str,
    name: str,
    role: str,
    password: str,
    hotel_unit: str | None,
    language: str,
) -> dict[str, Any]:
    """Create a user of the admin's tenant; return it. Raises ValidationFailed or Conflict (email taken).

    NOTE: emails are unique across the whole hotel group, because login finds
    the user by email alone. An email already used in another tenant is rejected too.
    """
    user_id = await provisioning.create_user(
        runtime.db, principal["tenant_id"], email=email, name=name, role=role, password=password,
        hotel_unit=hotel_unit, language=language, rounds=runtime.settings.bcrypt_rounds, actor=audit.Actor.user(principal),
    )
    logger.info("User %s created by admin %s (tenant %s)", user_id, principal["id"], principal["tenant_id"])
    return await _user_json(runtime, principal, user_id)


async def list_users(runtime: Any, principal: dict[str, Any], limit: int, after: str | None) -> Page:
    """Return a page of the tenant's users ordered by id."""
    tenant = await tenant_of(runtime, principal)
    async with runtime.db.read() as connection:
        rows = await user_store.select_users(connection, tenant.id, limit + 1, after)
    items = [user_json(row, tenant.hotel_units) for row in rows[:limit]]
    next_cursor = (rows[limit - 1]["id"],) if len(rows) > limit else None
    return Page(items, next_cursor)


TEAM_LIMIT = 500
TEAM_FIELDS = ("id", "name", "role", "hotelUnit")


async def list_team(runtime: Any, principal: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the tenant's active users as every colleague may see them: no email, no language.

    The console names assignees and offers them in "assign to" from this list.
    """
    tenant = await tenant_of(runtime, principal)
    async with runtime.db.read() as connection:
        rows = await user_store.select_active_users(connection, tenant.id, TEAM_LIMIT)
    return [
        {key: value for key, value in user_json(row, tenant.hotel_units).items() if key in TEAM_FIELDS}
        for row in rows
    ]


async def update_user(
    runtime: Any,
    principal: dict[str, Any],
    user_id: str,
    *,
    role: Any = UNSET,
    hotel_unit: Any = UNSET,
    language: Any = UNSET,
    name: Any = UNSET,
) -> dict[str, Any]:
    """Change a user's role, unit (a name, or None for every unit), language or name; return the user.

    Raises NotFound, ValidationFailed (unknown unit) or Conflict (an admin
    changing their own role, which could leave the tenant without an admin).
    """
    if user_id == principal["id"] and role is not UNSET and role != principal["role"]:
        raise Conflict("You cannot change your own role.", code="CONFLICT")
    requested = {"role": role, "language": language, "name": name.strip() if isinstance(name, str) else name}
    changes = {column: value for column, value in requested.items() if value is not UNSET}
    if hotel_unit is not UNSET:
        changes["hotel_unit"] = await provisioning.resolve_unit(runtime.db, principal["tenant_id"], hotel_unit)

    changes = await _write_changes(runtime, principal, user_id, changes)
    if changes:
        logger.info(
            "User %s changed by admin %s (tenant %s): %s", user_id, principal["id"], principal["tenant_id"], ", ".join(changes)
        )
    if "role" in changes or "hotel_unit" in changes:
        await runtime.realtime.disconnect_user(user_id)
    return await _user_json(runtime, principal, user_id)


async def _write_changes(runtime: Any, principal: dict[str, Any], user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Write the fields that differ from the stored user and audit their names; return them. Raises NotFound."""
    tenant_id = principal["tenant_id"]
    async with runtime.db.write() as connection:
        user = await user_store.select_user(connection, tenant_id, user_id)
        if user is None:
            raise NotFound("User not found.")
        changes = {column: value for column, value in changes.items() if user[column] != value}
        if changes:
            await user_store.update_user(connection, tenant_id, user_id, **changes)
            await audit.record(
                connection, tenant_id, audit.Actor.user(principal), "USER_UPDATED", target=user_id,
                details={"fields": sorted(changes)},
            )
    return changes


async def deactivate_user(runtime: Any, principal: dict[str, Any], user_id: str) -> dict[str, Any]:
    """Deactivate a user: their sessions end and their sockets close at once; return the user.

    Raises NotFound, or Conflict for the admin's own account.
    NOTE: conversations assigned to the user stay assigned until a supervisor reassigns them.
    """
    if user_id == principal["id"]:
        raise Conflict("You cannot deactivate your own account.", code="CONFLICT")
    async with runtime.db.write() as connection:
        user = await user_store.select_user(connection, principal["tenant_id"], user_id)
        if user is None:
            raise NotFound("User not found.")
        await user_store.update_user(connection, principal["tenant_id"], user_id, active=0)
        await user_store.revoke_user_sessions(connection, user_id, "deactivated")
        await audit.record(connection, principal["tenant_id"], audit.Actor.user(principal), "USER_DEACTIVATED", target=user_id)

    await runtime.realtime.disconnect_user(user_id)
    logger.info("User %s deactivated by admin %s (tenant %s)", user_id, principal["id"], principal["tenant_id"])
    return await _user_json(runtime, principal, user_id)


async def reset_password(runtime: Any, principal: dict[str, Any], user_id: str, password: str) -> dict[str, Any]:
    """Set a new password, unlock the account, end the user's sessions and sockets; return the user."""
    await provisioning.reset_password(
        runtime.db, principal["tenant_id"], user_id, password, runtime.settings.bcrypt_rounds, actor=audit.Actor.user(principal)
    )
    await runtime.realtime.disconnect_user(user_id)
    logger.info("Password of user %s reset by admin %s (tenant %s)", user_id, principal["id"], principal["tenant_id"])
    return await _user_json(runtime, principal, user_id)


async def unlock_user(runtime: Any, principal: dict[str, Any], user_id: str) -> dict[str, Any]:
    """Clear the lock left by repeated failed logins; return the user. Raises NotFound."""
    await provisioning.unlock_user(runtime.db, principal["tenant_id"], user_id, actor=audit.Actor.user(principal))
    return await _user_json(runtime, principal, user_id)
