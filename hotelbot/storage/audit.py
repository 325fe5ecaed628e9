"""The audit trail's rows: inserted, listed and, by retention only, deleted."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import aiosqlite

from hotelbot.storage.database import fetch_all


@dataclasses.dataclass(frozen=True)
class AuditFilter:
    """What ``GET /audit`` narrows the trail to; None leaves a field open."""

    actor_id: str | None = None
    action: str | None = None
    since: str | None = None
    until: str | None = None


async def insert_audit_event(connection: aiosqlite.Connection, tenant_id: str, row: dict[str, Any]) -> None:
    await connection.execute(
        "INSERT INTO audit_events (id, tenant_id, actor_type, actor_id, action, conversation_id, target, details, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            row["id"], tenant_id, row["actor_type"], row["actor_id"], row["action"],
            row["conversation_id"], row["target"], json.dumps(row["details"], ensure_ascii=False), row["created_at"],
        ),
    )


async def select_conversation_events(
    connection: aiosqlite.Connection, tenant_id: str, conversation_id: str, limit: int, after: int | None
) -> list[dict]:
    """Return a conversation's events oldest first, strictly after the sequence number ``after``."""
    return await fetch_all(
        connection,
        "SELECT * FROM audit_events WHERE tenant_id = ? AND conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        (tenant_id, conversation_id, after or 0, limit),
    )


async def select_audit_events(
    connection: aiosqlite.Connection, tenant_id: str, where: AuditFilter, limit: int, before: int | None
) -> list[dict]:
    """Return the tenant's events newest first, filtered, strictly before the sequence number ``before``."""
    clauses = ["tenant_id = ?"]
    params: list[Any] = [tenant_id]
    for clause, value in (
        ("actor_id = ?", where.actor_id),
        ("action = ?", where.action),
        ("created_at >= ?", where.since),
        ("created_at < ?", where.until),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if before is not None:
        clauses.append("seq < ?")
        params.append(before)
    sql = f"SELECT * FROM audit_events WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT ?"
    return await fetch_all(connection, sql, (*params, limit))


async def select_events_of_conversations(
    connection: aiosqlite.Connection, tenant_id: str, conversation_ids: list[str]
) -> list[dict]:
    """Return every event about the given conversations, oldest first (a guest's export)."""
    if not conversation_ids:
        return []
    marks = ", ".join("?" for _ in conversation_ids)
    return await fetch_all(
        connection,
        f"SELECT * FROM audit_events WHERE tenant_id = ? AND conversation_id IN ({marks}) ORDER BY seq",
        (tenant_id, *conversation_ids),
    )


async def delete_audit_events_before(connection: aiosqlite.Connection, cutoff: str) -> int:
    """Delete every event older than ``cutoff``; return how many went.

    The delete trigger lets through only rows older than an open purge
    window, so the window is opened and closed inside the caller's transaction.
    """
    await connection.execute("INSERT INTO audit_purge_window (before) VALUES (?)", (cutoff,))
    cursor = await connection.execute("DELETE FROM audit_events WHERE created_at < ?", (cutoff,))
    await connection.execute("DELETE FROM audit_purge_window")
    return cursor.rowcount
