"""The audit trail: who did what to which conversation or account, and when.

:func:`record` is called inside the write transaction of the change it
describes, so an action and its audit entry are committed together or not at
all. Entries name ids, changed fields and counts only, never a guest's phone,
name or message text, so they can be kept after a guest's data is erased.
Rows cannot be changed, and only the retention run (services/retention.py) may delete them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any

import aiosqlite

from hotelbot.clock import from_iso, new_id, now_iso, to_iso
from hotelbot.errors import NotFound, ValidationFailed
from hotelbot.storage import audit as audit_store
from hotelbot.storage import conversations as conversation_store
from hotelbot.storage import messages as message_store
from hotelbot.storage.audit import AuditFilter

logger = logging.getLogger(__name__)

ACTIONS = (
    "CONVERSATION_ASSIGNED", "CONVERSATION_RELEASED", "CONVERSATION_CLOSED", "CONVERSATION_UPDATED",
    "CONVERSATION_ESCALATED", "AI_LOCKED", "AI_UNLOCKED", "MESSAGE_SENT", "MEDIA_OPENED",
    "LOGIN", "LOGIN_FAILED",
    "USER_CREATED", "USER_UPDATED", "USER_DEACTIVATED", "USER_PASSWORD_RESET", "USER_UNLOCKED",
    "TENANT_CREATED", "TENANT_UPDATED", "TENANT_API_KEY_ROTATED", "TENANT_UNIT_ADDED", "TENANT_UNIT_REMOVED",
    "GUEST_EXPORTED", "GUEST_ERASED", "RETENTION_APPLIED",
)


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of audit entries as the API returns them and the cursor of the next page."""

    items: list[dict[str, Any]]
    next_cursor: tuple[str, ...] | None


@dataclasses.dataclass(frozen=True)
class Actor:
    """The party that acted: a signed-in user, N8N with the tenant's API key, the server itself, or the CLI."""

    type: str
    id: str | None = None

    @classmethod
    def user(cls, principal: Mapping[str, Any]) -> Actor:
        return cls("USER", principal["id"])


N8N = Actor("N8N")
SYSTEM = Actor("SYSTEM")
CLI = Actor("CLI")


async def record(
    connection: aiosqlite.Connection,
    tenant_id: str,
    actor: Actor,
    action: str,
    *,
    conversation_id: str | None = None,
    target: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry to the audit trail inside the caller's transaction.

    ``details`` must not contain personal data: ids, field names, statuses and counts only.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    await audit_store.insert_audit_event(connection, tenant_id, {
        "id": new_id(),
        "actor_type": actor.type,
        "actor_id": actor.id,
        "action": action,
        "conversation_id": conversation_id,
        "target": target,
        "details": dict(details or {}),
        "created_at": now_iso(),
    })


def event_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return an audit row as the API shows it (camelCase)."""
    return {
        "id": row["id"],
        "tenantId": row["tenant_id"],
        "actor": {"type": row["actor_type"], "id": row["actor_id"]},
        "action": row["action"],
        "conversationId": row["conversation_id"],
        "target": row["target"],
        "details": json.loads(row["details"]),
        "createdAt": row["created_at"],
    }


async def conversation_events(
    runtime: Any, principal: dict[str, Any], conversation_id: str, limit: int, after: tuple[str, ...] | None
) -> Page:
    """Return a page of a conversation's history, oldest first; raise NotFound for an unknown or foreign id."""
    async with runtime.db.read() as connection:
        if await conversation_store.select_conversation(connection, principal["tenant_id"], conversation_id) is None:
            raise NotFound("Conversation not found.")
        rows = await audit_store.select_conversation_events(
            connection, principal["tenant_id"], conversation_id, limit + 1, _sequence(after)
        )
    return _page(rows, limit)


def _instant(args: Mapping[str, str], name: str) -> str | None:
    """Read an ISO 8601 date or time from the query as a stored timestamp; raise ValidationFailed."""
    raw = args.get(name)
    if not raw:
        return None
    try:
        moment = from_iso(raw)
    except ValueError:
        raise ValidationFailed(details=[{"field": name, "message": "Invalid value."}]) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return to_iso(moment)


def audit_filter(args: Mapping[str, str]) -> AuditFilter:
    """Build the filter of ``GET /audit`` from ``userId``, ``action``, ``from`` and ``to``; raise ValidationFailed."""
    action = args.get("action") or None
    if action is not None and action not in ACTIONS:
        raise ValidationFailed(details=[{
            "field": "action", "message": "Must be one of: {expected}.", "params": {"expected": ", ".join(ACTIONS)},
        }])
    user_id = args.get("userId") or None
    if user_id is not None and len(user_id) > 64:
        raise ValidationFailed(details=[{"field": "userId", "message": "Invalid value."}])
    return AuditFilter(actor_id=user_id, action=action, since=_instant(args, "from"), until=_instant(args, "to"))


async def tenant_events(
    runtime: Any, principal: dict[str, Any], where: AuditFilter, limit: int, before: tuple[str, ...] | None
) -> Page:
    """Return a page of the admin's tenant's audit trail, newest first."""
    async with runtime.db.read() as connection:
        rows = await audit_store.select_audit_events(
            connection, principal["tenant_id"], where, limit + 1, _sequence(before)
        )
    return _page(rows, limit)


def _sequence(cursor: tuple[str, ...] | None) -> int | None:
    """Return the sequence number a decoded cursor carries; raise ValidationFailed for a forged one."""
    if cursor is None:
        return None
    if not cursor[0].isdigit():
        raise ValidationFailed(details=[{"field": "cursor", "message": "Invalid value."}])
    return int(cursor[0])


def _page(rows: list[dict], limit: int) -> Page:
    items = [event_json(row) for row in rows[:limit]]
    next_cursor = (str(rows[limit - 1]["seq"]),) if len(rows) > limit else None
    return Page(items, next_cursor)


async def record_lock_change(
    connection: aiosqlite.Connection, tenant_id: str, actor: Actor, conversation: Mapping[str, Any], changes: Mapping[str, Any]
) -> None:
    """Record AI_LOCKED or AI_UNLOCKED when ``changes`` flip the conversation's AI lock."""
    if "ia_locked" not in changes or bool(changes["ia_locked"]) == bool(conversation["ia_locked"]):
        return
    action = "AI_LOCKED" if changes["ia_locked"] else "AI_UNLOCKED"
    await record(connection, tenant_id, actor, action, conversation_id=conversation["id"])


async def record_media_opened(runtime: Any, tenant_id: str, stored: Mapping[str, Any], user_id: str | None) -> None:
    """Record MEDIA_OPENED for a stored file, under its message's conversation.

    ``user_id`` is None for a signed link, which anyone holding it may open.
    """
    # NOTE: a signed link does not name its holder, so such an opening is recorded with no user id.
    actor = Actor("USER", user_id)
    details = {"kind": stored["kind"], "via": "token" if user_id else "signedLink"}
    async with runtime.db.write() as connection:
        message = None
        if stored["message_id"]:
            message = await message_store.select_message(connection, tenant_id, stored["message_id"])
        conversation_id = message["conversation_id"] if message else None
        await record(connection, tenant_id, actor, "MEDIA_OPENED", conversation_id=conversation_id, target=stored["id"], details=details)
