"""Webhook bodies stored before Meta gets its 200, and jobs whose attempts are spent."""

from __future__ import annotations

import json
from typing import Any

import aiosqlite

from hotelbot.clock import new_id, now_iso
from hotelbot.storage.database import fetch_all, fetch_one


async def insert_inbox(connection: aiosqlite.Connection, body: bytes) -> int:
    cursor = await connection.execute(
        "INSERT INTO inbox (received_at, body) VALUES (?, ?)", (now_iso(), body)
    )
    return cursor.lastrowid


async def insert_inbox_bodies(connection: aiosqlite.Connection, bodies: list[bytes]) -> None:
    """Insert one inbox row per body, all received now (the caller's transaction makes them one commit)."""
    received = now_iso()
    await connection.executemany("INSERT INTO inbox (received_at, body) VALUES (?, ?)", [(received, body) for body in bodies])


async def select_waiting_inbox(connection: aiosqlite.Connection, after_id: int, limit: int) -> list[dict]:
    """Return up to ``limit`` unprocessed rows never failed, with ids above ``after_id``, oldest first.

    Rows that failed once (``last_error`` set) are left to their own retry jobs.
    """
    return await fetch_all(
        connection,
        "SELECT id, body FROM inbox WHERE processed_at IS NULL AND last_error IS NULL AND id > ? ORDER BY id LIMIT ?",
        (after_id, limit),
    )


async def select_unprocessed_inbox(connection: aiosqlite.Connection) -> list[dict]:
    """Return the id and last error of every unprocessed row, oldest first."""
    return await fetch_all(connection, "SELECT id, last_error FROM inbox WHERE processed_at IS NULL ORDER BY id")


async def select_unprocessed_among(connection: aiosqlite.Connection, inbox_ids: list[int]) -> set[int]:
    """Return which of ``inbox_ids`` are not processed yet."""
    placeholders = ", ".join("?" for _ in inbox_ids)
    rows = await fetch_all(
        connection, f"SELECT id FROM inbox WHERE id IN ({placeholders}) AND processed_at IS NULL", tuple(inbox_ids)
    )
    return {row["id"] for row in rows}


async def mark_inbox_rows_processed(connection: aiosqlite.Connection, inbox_ids: list[int]) -> None:
    placeholders = ", ".join("?" for _ in inbox_ids)
    await connection.execute(
        f"UPDATE inbox SET processed_at = ? WHERE id IN ({placeholders})", (now_iso(), *inbox_ids)
    )


async def note_inbox_error(connection: aiosqlite.Connection, inbox_id: int, error: str) -> None:
    """Keep a failed attempt's error on the row, which hands the row from the batch drain to its own retry job."""
    await connection.execute("UPDATE inbox SET last_error = ? WHERE id = ?", (error[:2000], inbox_id))


async def select_inbox(connection: aiosqlite.Connection, inbox_id: int) -> dict | None:
    return await fetch_one(connection, "SELECT * FROM inbox WHERE id = ?", (inbox_id,))


async def mark_inbox_processed(connection: aiosqlite.Connection, inbox_id: int) -> None:
    await connection.execute("UPDATE inbox SET processed_at = ? WHERE id = ?", (now_iso(), inbox_id))


async def record_inbox_failure(connection: aiosqlite.Connection, inbox_id: int, error: str) -> None:
    await connection.execute(
        "UPDATE inbox SET attempts = attempts + 1, last_error = ? WHERE id = ?", (error[:2000], inbox_id)
    )


async def select_oldest_unprocessed(connection: aiosqlite.Connection) -> str | None:
    row = await fetch_one(connection, "SELECT min(received_at) AS oldest FROM inbox WHERE processed_at IS NULL")
    return row["oldest"] if row else None


async def insert_dead_letter(
    connection: aiosqlite.Connection,
    *,
    kind: str,
    tenant_id: str | None,
    reference_id: str | None,
    payload: dict[str, Any],
    error: str,
    attempts: int,
) -> str:
    dead_letter_id = new_id()
    await connection.execute(
        "INSERT INTO dead_letters (id, kind, tenant_id, reference_id, payload, error, attempts, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (dead_letter_id, kind, tenant_id, reference_id, json.dumps(payload), error[:2000], attempts, now_iso()),
    )
    return dead_letter_id


async def select_dead_letters(connection: aiosqlite.Connection, include_retried: bool = False) -> list[dict]:
    return await fetch_all(
        connection,
        "SELECT * FROM dead_letters WHERE (? OR retried_at IS NULL) ORDER BY created_at",
        (include_retried,),
    )


async def select_dead_letter(connection: aiosqlite.Connection, dead_letter_id: str) -> dict | None:
    return await fetch_one(connection, "SELECT * FROM dead_letters WHERE id = ?", (dead_letter_id,))


async def mark_dead_letter_retried(connection: aiosqlite.Connection, dead_letter_id: str) -> None:
    await connection.execute("UPDATE dead_letters SET retried_at = ? WHERE id = ?", (now_iso(), dead_letter_id))


async def delete_dead_letter(connection: aiosqlite.Connection, dead_letter_id: str) -> bool:
    cursor = await connection.execute("DELETE FROM dead_letters WHERE id = ?", (dead_letter_id,))
    return cursor.rowcount > 0


async def insert_account_error(
    connection: aiosqlite.Connection, tenant_id: str | None, code: int | None, title: str | None, details: str | None
) -> None:
    await connection.execute(
        "INSERT INTO account_errors (tenant_id, code, title, details, received_at) VALUES (?, ?, ?, ?, ?)",
        (tenant_id, code, title, details, now_iso()),
    )
