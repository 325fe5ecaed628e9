"""Durable work left unfinished for a while: the candidates of the periodic sweep.

Each query takes ``before`` (an ISO 8601 UTC time) and returns only rows last
changed before it, so work that a job has just queued is not returned.
"""

from __future__ import annotations

import aiosqlite

from hotelbot.storage.database import fetch_all


async def select_stale_inbox_ids(connection: aiosqlite.Connection, before: str) -> list[int]:
    """Return ids of stored webhooks not yet processed and received before ``before``, oldest first."""
    rows = await fetch_all(
        connection, "SELECT id FROM inbox WHERE processed_at IS NULL AND received_at < ? ORDER BY id", (before,)
    )
    return [row["id"] for row in rows]


async def select_stale_forwards(connection: aiosqlite.Connection, before: str) -> list[dict]:
    """Return ``{id, tenant_id}`` of messages waiting for their N8N forward since before ``before``."""
    return await fetch_all(
        connection,
        "SELECT id, tenant_id FROM messages WHERE forward_state = 'PENDING' AND updated_at < ? ORDER BY updated_at",
        (before,),
    )


async def select_stale_downloads(connection: aiosqlite.Connection, before: str) -> list[dict]:
    """Return ``{id, tenant_id}`` of messages whose media download or media-gated forward is unfinished."""
    return await fetch_all(
        connection,
        "SELECT id, tenant_id FROM messages WHERE (media_status = 'PENDING' OR forward_state = 'WAITING_MEDIA')"
        " AND updated_at < ? ORDER BY updated_at",
        (before,),
    )


async def select_stale_outbound(connection: aiosqlite.Connection, before: str) -> list[dict]:
    """Return ``{tenant_id, conversation_id}`` of conversations with a reply PENDING since before ``before``."""
    return await fetch_all(
        connection,
        "SELECT DISTINCT tenant_id, conversation_id FROM messages"
        " WHERE direction = 'OUTBOUND' AND status = 'PENDING' AND created_at < ?",
        (before,),
    )
