"""Stored media files and the messages that point at them."""

from __future__ import annotations

from typing import Any

import aiosqlite

from hotelbot.clock import now_iso
from hotelbot.storage.database import fetch_all, fetch_one


async def insert_media_file(connection: aiosqlite.Connection, tenant_id: str, row: dict[str, Any]) -> None:
    """Insert a file row; ``row`` contains id, message_id, kind, content_type, file_name, size and sha256."""
    await connection.execute(
        "INSERT INTO media_files (id, tenant_id, message_id, kind, content_type, file_name, size, sha256, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            row["id"], tenant_id, row.get("message_id"), row["kind"], row["content_type"],
            row.get("file_name"), row["size"], row["sha256"], now_iso(),
        ),
    )


async def select_media_file(connection: aiosqlite.Connection, tenant_id: str, file_id: str) -> dict | None:
    """Return a file of the tenant that retention has not removed, or None."""
    return await fetch_one(
        connection,
        "SELECT * FROM media_files WHERE tenant_id = ? AND id = ? AND deleted_at IS NULL",
        (tenant_id, file_id),
    )


async def link_media_file(connection: aiosqlite.Connection, tenant_id: str, file_id: str, message_id: str) -> None:
    await connection.execute(
        "UPDATE media_files SET message_id = ? WHERE tenant_id = ? AND id = ?", (message_id, tenant_id, file_id)
    )


async def delete_media_file_row(connection: aiosqlite.Connection, tenant_id: str, file_id: str) -> None:
    """Remove the row of a file that never reached a message (a send that failed before Meta)."""
    await connection.execute("DELETE FROM media_files WHERE tenant_id = ? AND id = ?", (tenant_id, file_id))


async def select_pending_downloads(connection: aiosqlite.Connection) -> list[dict]:
    """Return inbound messages whose download or media-gated forward is unfinished, oldest first."""
    return await fetch_all(
        connection,
        "SELECT id, tenant_id FROM messages WHERE media_status = 'PENDING'"
        " UNION SELECT id, tenant_id FROM messages WHERE forward_state = 'WAITING_MEDIA'",
    )


async def select_files_created_before(connection: aiosqlite.Connection, cutoff: str, limit: int) -> list[dict]:
    """Return up to ``limit`` files of every tenant stored before ``cutoff`` and not yet removed."""
    return await fetch_all(
        connection,
        "SELECT * FROM media_files WHERE deleted_at IS NULL AND created_at < ? ORDER BY created_at LIMIT ?",
        (cutoff, limit),
    )


async def mark_media_file_deleted(connection: aiosqlite.Connection, tenant_id: str, file_id: str, media_url: str) -> list[str]:
    """Mark a file removed and its messages DELETED (mediaUrl cleared); return those messages' ids."""
    stamp = now_iso()
    await connection.execute(
        "UPDATE media_files SET deleted_at = ? WHERE tenant_id = ? AND id = ?", (stamp, tenant_id, file_id)
    )
    rows = await fetch_all(
        connection, "SELECT id FROM messages WHERE tenant_id = ? AND media_url = ?", (tenant_id, media_url)
    )
    await connection.execute(
        "UPDATE messages SET media_status = 'DELETED', media_url = NULL, updated_at = ?"
        " WHERE tenant_id = ? AND media_url = ?",
        (stamp, tenant_id, media_url),
    )
    return [row["id"] for row in rows]
