"""Messages, their delivery statuses and statuses that arrived early."""

from __future__ import annotations

import json
from typing import Any

import aiosqlite

from hotelbot.clock import now_iso
from hotelbot.storage.database import fetch_all, fetch_one

STATUS_RANK = {"PENDING": 0, "SENT": 1, "DELIVERED": 2, "READ": 3}


async def insert_message(connection: aiosqlite.Connection, tenant_id: str, row: dict[str, Any]) -> bool:
    """Insert a message; False when its wamid is already stored for the tenant.

    The unique index on (tenant_id, whatsapp_msg_id) makes this idempotent even
    for two deliveries of one webhook at the same moment.
    """
    stamp = now_iso()
    values = {
        "tenant_id": tenant_id,
        "metadata": json.dumps(row.pop("metadata", {}) or {}, ensure_ascii=False),
        "sender": json.dumps(row.pop("sender"), ensure_ascii=False),
        "reply_to": json.dumps(row["reply_to"], ensure_ascii=False) if row.get("reply_to") else None,
        "error": json.dumps(row["error"], ensure_ascii=False) if row.get("error") else None,
        "received_at": stamp,
        "updated_at": stamp,
    }
    row = {**row, **values}
    columns = ", ".join(row)
    placeholders = ", ".join("?" for _ in row)
    cursor = await connection.execute(
        f"INSERT INTO messages ({columns}) VALUES ({placeholders}) ON CONFLICT DO NOTHING",
        tuple(row.values()),
    )
    return cursor.rowcount > 0


async def select_message(connection: aiosqlite.Connection, tenant_id: str, message_id: str) -> dict | None:
    return await fetch_one(
        connection, "SELECT * FROM messages WHERE tenant_id = ? AND id = ?", (tenant_id, message_id)
    )


async def select_message_by_wamid(connection: aiosqlite.Connection, tenant_id: str, wamid: str) -> dict | None:
    return await fetch_one(
        connection, "SELECT * FROM messages WHERE tenant_id = ? AND whatsapp_msg_id = ?", (tenant_id, wamid)
    )


async def select_messages(
    connection: aiosqlite.Connection, tenant_id: str, conversation_id: str, limit: int,
    before: tuple[str, str, str] | None,
) -> list[dict]:
    """Return a conversation's messages newest first, strictly older than ``before`` (created_at, received_at, id).

    Meta's timestamps have whole seconds, so messages of one second are ordered by arrival.
    """
    if before is None:
        return await fetch_all(
            connection,
            "SELECT * FROM messages WHERE tenant_id = ? AND conversation_id = ?"
            " ORDER BY created_at DESC, received_at DESC, id DESC LIMIT ?",
            (tenant_id, conversation_id, limit),
        )
    return await fetch_all(
        connection,
        "SELECT * FROM messages WHERE tenant_id = ? AND conversation_id = ?"
        " AND (created_at, received_at, id) < (?, ?, ?) ORDER BY created_at DESC, received_at DESC, id DESC LIMIT ?",
        (tenant_id, conversation_id, before[0], before[1], before[2], limit),
    )


async def update_message(connection: aiosqlite.Connection, tenant_id: str, message_id: str, **fields: Any) -> None:
    for name in ("metadata", "error", "reactions", "reply_to", "sender"):
        if name in fields and fields[name] is not None and not isinstance(fields[name], str):
            fields[name] = json.dumps(fields[name], ensure_ascii=False)
    fields["updated_at"] = now_iso()
    assignments = ", ".join(f"{column} = ?" for column in fields)
    await connection.execute(
        f"UPDATE messages SET {assignments} WHERE tenant_id = ? AND id = ?",
        (*fields.values(), tenant_id, message_id),
    )


def status_moves_forward(current: str, new: str) -> bool:
    """Whether an outbound message in ``current`` may take status ``new``.

    Statuses only move forward (PENDING < SENT < DELIVERED < READ); FAILED
    applies unless the message was already DELIVERED or READ.
    """
    if new == "FAILED":
        return current in ("PENDING", "SENT")
    if current == "FAILED":
        return False
    return STATUS_RANK.get(new, -1) > STATUS_RANK.get(current, -1)


async def insert_early_status(
    connection: aiosqlite.Connection, tenant_id: str, wamid: str, status: str, error: dict | None
) -> None:
    await connection.execute(
        "INSERT INTO early_statuses (tenant_id, whatsapp_msg_id, status, error, received_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (tenant_id, wamid, status, json.dumps(error) if error else None, now_iso()),
    )


async def pop_early_statuses(connection: aiosqlite.Connection, tenant_id: str, wamid: str) -> list[dict]:
    rows = await fetch_all(
        connection,
        "SELECT status, error FROM early_statuses WHERE tenant_id = ? AND whatsapp_msg_id = ?",
        (tenant_id, wamid),
    )
    if rows:
        await connection.execute(
            "DELETE FROM early_statuses WHERE tenant_id = ? AND whatsapp_msg_id = ?", (tenant_id, wamid)
        )
    return rows


async def select_pending_forwards(
    connection: aiosqlite.Connection, limit: int = -1, after: tuple[str, str, str] | None = None
) -> list[dict]:
    """Return ``{id, tenant_id, created_at, received_at}`` of messages waiting for their N8N forward, oldest first.

    All of them by default; ``after`` (the ``created_at``, ``received_at`` and
    ``id`` of the last row of a previous page) starts past that row.
    """
    if after is None:
        return await fetch_all(
            connection,
            "SELECT id, tenant_id, created_at, received_at FROM messages WHERE forward_state = 'PENDING'"
            " ORDER BY created_at, received_at, id LIMIT ?",
            (limit,),
        )
    return await fetch_all(
        connection,
        "SELECT id, tenant_id, created_at, received_at FROM messages WHERE forward_state = 'PENDING'"
        " AND (created_at, received_at, id) > (?, ?, ?) ORDER BY created_at, received_at, id LIMIT ?",
        (*after, limit),
    )
