"""Jobs whose attempts are spent: listing, replaying and discarding them.

Replaying puts the job's durable state back to "unfinished" (the inbox row,
the message's forward or download state) and queues the job again, so a
replay survives a restart like any other unfinished work.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from hotelbot.errors import NotFound
from hotelbot.jobs.queue import JobQueue
from hotelbot.storage import inbox as inbox_store
from hotelbot.storage import messages as message_store
from hotelbot.storage.database import Database

logger = logging.getLogger(__name__)


def dead_letter_json(row: dict) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "tenantId": row["tenant_id"],
        "referenceId": row["reference_id"],
        "payload": json.loads(row["payload"]),
        "error": row["error"],
        "attempts": row["attempts"],
        "createdAt": row["created_at"],
        "retriedAt": row["retried_at"],
    }


async def list_dead_letters(db: Database, tenant_id: str | None = None, include_retried: bool = False) -> list[dict]:
    """Return dead letters, oldest first; only one tenant's when ``tenant_id`` is given."""
    async with db.read() as connection:
        rows = await inbox_store.select_dead_letters(connection, include_retried)
    return [dead_letter_json(row) for row in rows if tenant_id is None or row["tenant_id"] == tenant_id]


async def _reopen(db: Database, row: dict) -> None:
    """Mark the dead letter's work unfinished again, in the same transaction as the retry mark."""
    payload = json.loads(row["payload"])
    async with db.write() as connection:
        if row["kind"] == "inbound":
            await connection.execute("UPDATE inbox SET processed_at = NULL WHERE id = ?", (payload["inboxId"],))
        elif row["kind"] == "forward":
            await message_store.update_message(connection, payload["tenantId"], payload["messageId"], forward_state="PENDING")
        elif row["kind"] == "media_download":
            await message_store.update_message(connection, payload["tenantId"], payload["messageId"], media_status="PENDING")
        await inbox_store.mark_dead_letter_retried(connection, row["id"])


async def retry_dead_letter(db: Database, jobs: JobQueue, dead_letter_id: str, tenant_id: str | None = None) -> dict:
    """Queue a dead letter's job again; raise NotFound for an unknown (or another tenant's) id."""
    async with db.read() as connection:
        row = await inbox_store.select_dead_letter(connection, dead_letter_id)
    if row is None or row["retried_at"] is not None or (tenant_id is not None and row["tenant_id"] != tenant_id):
        raise NotFound("Dead letter not found.")

    await _reopen(db, row)
    await asyncio.to_thread(jobs.enqueue, row["kind"], json.loads(row["payload"]))
    logger.info("Dead letter %s (%s) queued again", row["id"], row["kind"])

    async with db.read() as connection:
        return dead_letter_json(await inbox_store.select_dead_letter(connection, dead_letter_id))


async def discard_dead_letter(db: Database, dead_letter_id: str, tenant_id: str | None = None) -> None:
    async with db.write() as connection:
        row = await inbox_store.select_dead_letter(connection, dead_letter_id)
        if row is None or (tenant_id is not None and row["tenant_id"] != tenant_id):
            raise NotFound("Dead letter not found.")
        await inbox_store.delete_dead_letter(connection, dead_letter_id)
    logger.info("Dead letter %s (%s) discarded", dead_letter_id, row["kind"])
