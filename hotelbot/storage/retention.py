"""Rows the retention policy removes: old messages and inactive closed conversations."""

from __future__ import annotations

import aiosqlite

from hotelbot.storage.database import fetch_all


async def select_retention_policies(connection: aiosqlite.Connection) -> list[dict]:
    """Return ``{id, retention_months}`` of every tenant whose policy removes data (months above 0)."""
    return await fetch_all(connection, "SELECT id, retention_months FROM tenants WHERE retention_months > 0 ORDER BY id")


async def select_retention_policy(connection: aiosqlite.Connection, tenant_id: str) -> int | None:
    """Return the tenant's retention in months (0 keeps everything), or None for an unknown tenant."""
    rows = await fetch_all(connection, "SELECT retention_months FROM tenants WHERE id = ?", (tenant_id,))
    return rows[0]["retention_months"] if rows else None


async def select_messages_before(connection: aiosqlite.Connection, tenant_id: str, cutoff: str, limit: int) -> list[str]:
    """Return the ids of up to ``limit`` messages of the tenant created before ``cutoff``."""
    rows = await fetch_all(
        connection, "SELECT id FROM messages WHERE tenant_id = ? AND created_at < ? ORDER BY created_at LIMIT ?",
        (tenant_id, cutoff, limit),
    )
    return [row["id"] for row in rows]


async def delete_messages(connection: aiosqlite.Connection, tenant_id: str, message_ids: list[str]) -> list[str]:
    """Delete messages and their media rows; return the ids of the files still on disk."""
    marks = ", ".join("?" for _ in message_ids)
    files = await fetch_all(
        connection,
        f"SELECT id FROM media_files WHERE tenant_id = ? AND deleted_at IS NULL AND message_id IN ({marks})",
        (tenant_id, *message_ids),
    )
    await connection.execute(f"DELETE FROM media_files WHERE tenant_id = ? AND message_id IN ({marks})", (tenant_id, *message_ids))
    await connection.execute(f"DELETE FROM messages WHERE tenant_id = ? AND id IN ({marks})", (tenant_id, *message_ids))
    return [row["id"] for row in files]


async def select_inactive_closed_conversations(connection: aiosqlite.Connection, tenant_id: str, cutoff: str) -> list[dict]:
    """Return ``{id, contact_id}`` of closed conversations without activity since ``cutoff`` whose contact is not yet anonymised."""
    return await fetch_all(
        connection,
        "SELECT c.id, c.contact_id FROM conversations c JOIN contacts k ON k.id = c.contact_id"
        " WHERE c.tenant_id = ? AND c.status = 'CLOSED' AND coalesce(c.last_message_at, c.updated_at) < ?"
        " AND (k.phone IS NOT NULL OR k.user_id IS NOT NULL OR k.name IS NOT NULL)",
        (tenant_id, cutoff),
    )
