"""Rows as the API returns them (camelCase JSON), the one shape for HTTP and Socket.IO."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from hotelbot.clock import from_iso, now, to_iso

WINDOW = dt.timedelta(hours=24)


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    return json.loads(text)


def reply_window(last_inbound_at: str | None) -> tuple[bool, str | None]:
    """Return (canReply, windowExpiresAt) of WhatsApp's 24-hour customer service window."""
    if not last_inbound_at:
        return False, None
    expires = from_iso(last_inbound_at) + WINDOW
    return expires > now(), to_iso(expires)


def escalation_json(row: dict, units: dict[str, str]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "tenantId": row["tenant_id"],
        "conversationId": row["conversation_id"],
        "reason": row["reason"],
        "hotelUnit": units.get(row["hotel_unit"], row["hotel_unit"]) if row["hotel_unit"] else None,
        "priority": row["priority"],
        "status": row["status"],
        "createdAt": row["created_at"],
        "firstResponseAt": row["first_response_at"],
        "resolvedAt": row["resolved_at"],
    }


def conversation_json(row: dict, units: dict[str, str]) -> dict[str, Any]:
    """Shape a row of ``CONVERSATION_VIEW`` (conversation, contact, open escalation, last message)."""
    can_reply, window_expires_at = reply_window(row["last_inbound_at"])
    open_escalation = None
    if row.get("escalation_id"):
        open_escalation = {
            "id": row["escalation_id"],
            "reason": row["escalation_reason"],
            "hotelUnit": units.get(row["escalation_unit"], row["escalation_unit"]) if row["escalation_unit"] else None,
            "priority": row["escalation_priority"],
            "status": row["escalation_status"],
            "createdAt": row["escalation_created_at"],
            "firstResponseAt": row["escalation_first_response_at"],
        }
    return {
        "id": row["id"],
        "tenantId": row["tenant_id"],
        "contact": {
            "id": row["contact_id"],
            "phone": row["contact_phone"],
            "userId": row["contact_user_id"],
            "name": row["contact_name"],
        },
        "status": row["status"],
        "priority": row["priority"],
        "hotelUnit": units.get(row["hotel_unit"], row["hotel_unit"]) if row["hotel_unit"] else None,
        "iaLocked": bool(row["ia_locked"]),
        "iaLockedBy": row["ia_locked_by"],
        "iaLockedAt": row["ia_locked_at"],
        "assignedToId": row["assigned_to_id"],
        "lastMessageAt": row["last_message_at"],
        "lastInboundAt": row["last_inbound_at"],
        "unreadCount": row["unread_count"],
        "openEscalation": open_escalation,
        "lastMessage": _json(row.get("last_message"), None),
        "closedAt": row["closed_at"],
        "createdAt": row["created_at"],
        "canReply": can_reply,
        "windowExpiresAt": window_expires_at,
    }


def message_json(row: dict, sign_media_url: Callable[[str], str] | None = None) -> dict[str, Any]:
    """Shape a message row; ``sign_media_url`` appends the short-lived signature to mediaUrl."""
    media_url = row["media_url"]
    if media_url and sign_media_url is not None:
        media_url = sign_media_url(media_url)
    return {
        "id": row["id"],
        "tenantId": row["tenant_id"],
        "conversationId": row["conversation_id"],
        "direction": row["direction"],
        "type": row["type"],
        "content": row["content"],
        "metadata": _json(row["metadata"], {}),
        "mediaUrl": media_url,
        "mediaStatus": row["media_status"],
        "status": row["status"],
        "error": _json(row["error"], None),
        "whatsappMsgId": row["whatsapp_msg_id"],
        "sender": _json(row["sender"], None),
        "replyTo": _json(row["reply_to"], None),
        "reactions": _json(row["reactions"], []),
        "clientMessageId": row["client_message_id"],
        "createdAt": row["created_at"],
        "receivedAt": row["received_at"],
    }


def user_json(row: dict, units: dict[str, str]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "tenantId": row["tenant_id"],
        "email": row["email"],
        "name": row["name"],
        "role": row["role"],
        "hotelUnit": units.get(row["hotel_unit"], row["hotel_unit"]) if row["hotel_unit"] else None,
        "language": row["language"],
        "active": bool(row["active"]),
        "lockedUntil": _lock_end(row["locked_until"]),
    }


def _lock_end(locked_until: str | None) -> str | None:
    """Return when a login lock ends, or None when the account is not locked now."""
    if not locked_until or from_iso(locked_until) <= now():
        return None
    return locked_until


def tenant_json(tenant: Any) -> dict[str, Any]:
    """Shape a tenant without any of its secrets."""
    return {
        "id": tenant.id,
        "name": tenant.name,
        "phoneNumberId": tenant.phone_number_id,
        "wabaId": tenant.waba_id,
        "timeZone": tenant.time_zone,
        "hotelUnits": [{"slug": slug, "name": name} for slug, name in tenant.hotel_units.items()],
    }
