"""A guest's personal data gathered for an export, and removed for an erasure."""

from __future__ import annotations

from typing import Any

import aiosqlite

from hotelbot.clock import now_iso
from hotelbot.storage.database import fetch_all, fetch_one


def _marks(values: list[Any]) -> str:
    return ", ".join("?" for _ in values)


async def select_contact_by_phone_key(connection: aiosqlite.Connection, tenant_id: str, phone_key: str) -> dict | None:
    return await fetch_one(
        connection, "SELECT * FROM contacts WHERE tenant_id = ? AND phone_key = ?", (tenant_id, phone_key)
    )


async def select_contact_of_conversation(connection: aiosqlite.Connection, tenant_id: str, conversation_id: str) -> dict | None:
    return await fetch_one(
        connection,
        "SELECT k.* FROM contacts k JOIN conversations c ON c.contact_id = k.id WHERE c.tenant_id = ? AND c.id = ?",
        (tenant_id, conversation_id),
    )


async def select_contact_conversations(connection: aiosqlite.Connection, tenant_id: str, contact_id: str) -> list[dict]:
    return await fetch_all(
        connection, "SELECT * FROM conversations WHERE tenant_id = ? AND contact_id = ? ORDER BY created_at", (tenant_id, contact_id)
    )


async def select_conversation_messages(connection: aiosqlite.Connection, tenant_id: str, conversation_ids: list[str]) -> list[dict]:
    """Return every message of the conversations, oldest first."""
    if not conversation_ids:
        return []
    return await fetch_all(
        connection,
        f"SELECT * FROM messages WHERE tenant_id = ? AND conversation_id IN ({_marks(conversation_ids)}) ORDER BY created_at, rowid",
        (tenant_id, *conversation_ids),
    )


async def select_conversation_media_files(connection: aiosqlite.Connection, tenant_id: str, conversation_ids: list[str]) -> list[dict]:
    """Return the stored files of the conversations' messages, removed ones included."""
    if not conversation_ids:
        return []
    return await fetch_all(
        connection,
        "SELECT f.* FROM media_files f JOIN messages m ON m.id = f.message_id"
        f" WHERE f.tenant_id = ? AND m.conversation_id IN ({_marks(conversation_ids)}) ORDER BY f.created_at, f.id",
        (tenant_id, *conversation_ids),
    )


async def delete_conversation_messages(connection: aiosqlite.Connection, tenant_id: str, conversation_ids: list[str]) -> int:
    """Delete the conversations' messages and their media rows; return how many messages went."""
    if not conversation_ids:
        return 0
    marks = _marks(conversation_ids)
    await connection.execute(
        f"DELETE FROM media_files WHERE tenant_id = ? AND message_id IN"
        f" (SELECT id FROM messages WHERE tenant_id = ? AND conversation_id IN ({marks}))",
        (tenant_id, tenant_id, *conversation_ids),
    )
    cursor = await connection.execute(
        f"DELETE FROM messages WHERE tenant_id = ? AND conversation_id IN ({marks})", (tenant_id, *conversation_ids)
    )
    return cursor.rowcount


async def anonymise_conversations(connection: aiosqlite.Connection, tenant_id: str, conversation_ids: list[str]) -> None:
    """Clear the escalation reasons and unread counts of the conversations; the rows stay for the statistics."""
    if not conversation_ids:
        return
    marks = _marks(conversation_ids)
    await connection.execute(
        f"UPDATE escalations SET reason = '' WHERE tenant_id = ? AND conversation_id IN ({marks})", (tenant_id, *conversation_ids)
    )
    await connection.execute(
        f"UPDATE conversations SET unread_count = 0, updated_at = ? WHERE tenant_id = ? AND id IN ({marks})",
        (now_iso(), tenant_id, *conversation_ids),
    )


async def anonymise_contact(connection: aiosqlite.Connection, tenant_id: str, contact_id: str) -> None:
    """Clear the contact's phone, WhatsApp user id and name; the row stays for its conversation."""
    await connection.execute(
        "UPDATE contacts SET phone = NULL, phone_key = NULL, user_id = NULL, name = NULL, updated_at = ?"
        " WHERE tenant_id = ? AND id = ?",
        (now_iso(), tenant_id, contact_id),
    )


async def delete_raw_bodies_containing(connection: aiosqlite.Connection, needles: list[str]) -> int:
    """Delete stored webhook bodies and dead letters that contain any of ``needles``; return how many went.

    Raw webhook bodies belong to no tenant until parsed, so they are matched by their text.
    """
    removed = 0
    for needle in needles:
        cursor = await connection.execute(
            "DELETE FROM inbox WHERE processed_at IS NOT NULL AND instr(CAST(body AS TEXT), ?) > 0", (needle,)
        )
        removed += cursor.rowcount
        cursor = await connection.execute("DELETE FROM dead_letters WHERE instr(payload, ?) > 0", (needle,))
        removed += cursor.rowcount
    return removed


async def optimize_search_indexes(connection: aiosqlite.Connection) -> None:
    """Merge the full-text indexes so that entries of deleted rows leave their pages."""
    await connection.execute("INSERT INTO message_text_search (message_text_search) VALUES ('optimize')")
    await connection.execute("INSERT INTO contact_search (contact_search) VALUES ('optimize')")
