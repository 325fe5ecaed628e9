"""Contacts, conversations and escalations."""

from __future__ import annotations

import aiosqlite

from hotelbot.clock import new_id, now_iso
from hotelbot.storage.database import fetch_all, fetch_one

# A conversation joined with its contact, its open escalation and its last message.
CONVERSATION_VIEW = """
SELECT c.*,
       k.phone AS contact_phone, k.user_id AS contact_user_id, k.name AS contact_name,
       e.id AS escalation_id, e.reason AS escalation_reason, e.hotel_unit AS escalation_unit,
       e.priority AS escalation_priority, e.status AS escalation_status,
       e.created_at AS escalation_created_at, e.first_response_at AS escalation_first_response_at,
       (SELECT json_object('id', m.id, 'direction', m.direction, 'type', m.type,
                           'content', substr(coalesce(m.content, ''), 1, 200), 'createdAt', m.created_at)
          FROM messages m WHERE m.conversation_id = c.id
          ORDER BY m.created_at DESC, m.received_at DESC, m.id DESC LIMIT 1) AS last_message
  FROM conversations c
  JOIN contacts k ON k.id = c.contact_id
  LEFT JOIN escalations e ON e.conversation_id = c.id AND e.status != 'RESOLVED'
"""


async def upsert_contact(
    connection: aiosqlite.Connection,
    tenant_id: str,
    *,
    phone: str | None,
    phone_key: str | None,
    user_id: str | None,
    name: str | None,
) -> str:
    """Insert or refresh the contact for a guest; return its id.

    A guest is found by the canonical phone key first, then by WhatsApp's
    business-scoped user id, so a ``wa_id`` seen with and without Brazil's
    ninth digit stays one contact.
    """
    stamp = now_iso()
    existing = None
    if phone_key:
        existing = await fetch_one(
            connection, "SELECT id FROM contacts WHERE tenant_id = ? AND phone_key = ?", (tenant_id, phone_key)
        )
    if existing is None and user_id:
        existing = await fetch_one(
            connection, "SELECT id FROM contacts WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id)
        )

    if existing is not None:
        await connection.execute(
            "UPDATE contacts SET phone = coalesce(?, phone), phone_key = coalesce(phone_key, ?),"
            " user_id = coalesce(?, user_id), name = coalesce(?, name), updated_at = ?"
            " WHERE id = ?",
            (phone, phone_key, user_id, name, stamp, existing["id"]),
        )
        return existing["id"]

    contact_id = new_id()
    await connection.execute(
        "INSERT INTO contacts (id, tenant_id, phone, phone_key, user_id, name, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (contact_id, tenant_id, phone, phone_key, user_id, name, stamp, stamp),
    )
    return contact_id


async def upsert_inbound_conversation(
    connection: aiosqlite.Connection, tenant_id: str, contact_id: str, message_at: str
) -> dict:
    """Create the contact's conversation as BOT, or touch it for a new inbound message.

    A CLOSED conversation reopens as BOT with the AI unlocked and nobody
    assigned. Returns the row after the change, through RETURNING in the same
    round trip to the writer's thread.
    """
    stamp = now_iso()
    return await fetch_one(
        connection,
        "INSERT INTO conversations (id, tenant_id, contact_id, status, last_message_at, last_inbound_at,"
        " unread_count, created_at, updated_at) VALUES (?, ?, ?, 'BOT', ?, ?, 1, ?, ?)"
        " ON CONFLICT (tenant_id, contact_id) DO UPDATE SET"
        "  status = CASE WHEN status = 'CLOSED' THEN 'BOT' ELSE status END,"
        "  ia_locked = CASE WHEN status = 'CLOSED' THEN 0 ELSE ia_locked END,"
        "  ia_locked_by = CASE WHEN status = 'CLOSED' THEN NULL ELSE ia_locked_by END,"
        "  ia_locked_at = CASE WHEN status = 'CLOSED' THEN NULL ELSE ia_locked_at END,"
        "  assigned_to_id = CASE WHEN status = 'CLOSED' THEN NULL ELSE assigned_to_id END,"
        "  closed_at = CASE WHEN status = 'CLOSED' THEN NULL ELSE closed_at END,"
        "  last_message_at = max(coalesce(last_message_at, ''), excluded.last_message_at),"
        "  last_inbound_at = max(coalesce(last_inbound_at, ''), excluded.last_inbound_at),"
        "  unread_count = unread_count + 1,"
        "  updated_at = excluded.updated_at"
        " RETURNING *",
        (new_id(), tenant_id, contact_id, message_at, message_at, stamp, stamp),
    )


async def select_conversation(connection: aiosqlite.Connection, tenant_id: str, conversation_id: str) -> dict | None:
    return await fetch_one(
        connection, "SELECT * FROM conversations WHERE tenant_id = ? AND id = ?", (tenant_id, conversation_id)
    )


async def select_conversation_view(connection: aiosqlite.Connection, tenant_id: str, conversation_id: str) -> dict | None:
    return await fetch_one(
        connection, CONVERSATION_VIEW + " WHERE c.tenant_id = ? AND c.id = ?", (tenant_id, conversation_id)
    )


async def select_conversation_views(
    connection: aiosqlite.Connection, tenant_id: str, where: str, params: list, limit: int
) -> list[dict]:
    """Return conversations of the tenant matching ``where`` (built by the caller), newest first."""
    sql = (
        CONVERSATION_VIEW
        + " WHERE c.tenant_id = ?"
        + (f" AND {where}" if where else "")
        + " ORDER BY c.last_message_at DESC, c.id DESC LIMIT ?"
    )
    return await fetch_all(connection, sql, (tenant_id, *params, limit))


async def select_conversation_by_contact(
    connection: aiosqlite.Connection, tenant_id: str, *, phone_key: str | None = None, user_id: str | None = None
) -> dict | None:
    if phone_key:
        return await fetch_one(
            connection,
            "SELECT c.* FROM conversations c JOIN contacts k ON k.id = c.contact_id"
            " WHERE k.tenant_id = ? AND k.phone_key = ?",
            (tenant_id, phone_key),
        )
    if user_id:
        return await fetch_one(
            connection,
            "SELECT c.* FROM conversations c JOIN contacts k ON k.id = c.contact_id"
            " WHERE k.tenant_id = ? AND k.user_id = ?",
            (tenant_id, user_id),
        )
    return None


async def update_conversation(
    connection: aiosqlite.Connection, tenant_id: str, conversation_id: str, **fields: object
) -> None:
    fields["updated_at"] = now_iso()
    assignments = ", ".join(f"{column} = ?" for column in fields)
    await connection.execute(
        f"UPDATE conversations SET {assignments} WHERE tenant_id = ? AND id = ?",
        (*fields.values(), tenant_id, conversation_id),
    )


async def select_open_escalation(connection: aiosqlite.Connection, tenant_id: str, conversation_id: str) -> dict | None:
    return await fetch_one(
        connection,
        "SELECT * FROM escalations WHERE tenant_id = ? AND conversation_id = ? AND status != 'RESOLVED'",
        (tenant_id, conversation_id),
    )


async def insert_escalation(
    connection: aiosqlite.Connection,
    tenant_id: str,
    *,
    conversation_id: str,
    reason: str,
    hotel_unit: str | None,
    priority: str,
) -> dict:
    escalation_id = new_id()
    await connection.execute(
        "INSERT INTO escalations (id, tenant_id, conversation_id, reason, hotel_unit, priority, status, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, 'PENDING', ?)",
        (escalation_id, tenant_id, conversation_id, reason, hotel_unit, priority, now_iso()),
    )
    return await fetch_one(connection, "SELECT * FROM escalations WHERE id = ?", (escalation_id,))


async def update_open_escalation(
    connection: aiosqlite.Connection, tenant_id: str, conversation_id: str, **fields: object
) -> None:
    assignments = ", ".join(f"{column} = ?" for column in fields)
    await connection.execute(
        f"UPDATE escalations SET {assignments}"
        " WHERE tenant_id = ? AND conversation_id = ? AND status != 'RESOLVED'",
        (*fields.values(), tenant_id, conversation_id),
    )
