"""Queries of the outbound send path: repeated requests, replies still waiting, recipients."""

from __future__ import annotations

import aiosqlite

from hotelbot.storage.database import fetch_all, fetch_one, fetch_value


async def select_client_message(
    connection: aiosqlite.Connection, tenant_id: str, created_by: str | None, client_message_id: str
) -> dict | None:
    """Return the message a user (``created_by``), or N8N (None), already sent with ``client_message_id``."""
    if created_by is None:
        return await fetch_one(
            connection,
            "SELECT * FROM messages WHERE tenant_id = ? AND client_message_id = ? AND created_by IS NULL",
            (tenant_id, client_message_id),
        )
    return await fetch_one(
        connection,
        "SELECT * FROM messages WHERE tenant_id = ? AND created_by = ? AND client_message_id = ?",
        (tenant_id, created_by, client_message_id),
    )


async def count_pending_outbound(connection: aiosqlite.Connection, tenant_id: str, conversation_id: str) -> int:
    """Return how many replies of a conversation are written but not yet accepted by Meta."""
    return await fetch_value(
        connection,
        "SELECT count(*) FROM messages WHERE tenant_id = ? AND conversation_id = ?"
        " AND direction = 'OUTBOUND' AND status = 'PENDING'",
        (tenant_id, conversation_id),
    )


async def select_pending_outbound(connection: aiosqlite.Connection, tenant_id: str, conversation_id: str) -> list[dict]:
    """Return ``{id, created_at}`` of a conversation's PENDING replies in the order they were written.

    The rowid breaks ties between replies written within the same millisecond.
    """
    return await fetch_all(
        connection,
        "SELECT id, created_at FROM messages WHERE tenant_id = ? AND conversation_id = ?"
        " AND direction = 'OUTBOUND' AND status = 'PENDING' ORDER BY created_at, rowid",
        (tenant_id, conversation_id),
    )


async def select_recipient(connection: aiosqlite.Connection, tenant_id: str, conversation_id: str) -> dict | None:
    """Return the contact (``phone``, ``user_id``) a conversation's replies go to."""
    return await fetch_one(
        connection,
        "SELECT k.id, k.phone, k.user_id FROM conversations c JOIN contacts k ON k.id = c.contact_id"
        " WHERE c.tenant_id = ? AND c.id = ?",
        (tenant_id, conversation_id),
    )
