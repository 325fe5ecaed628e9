"""Removing stored media files after a number of days.

A removed file's row and its messages stay: the messages get mediaStatus
DELETED and lose their mediaUrl, so attendants see that a file existed and
was removed. Guests' files younger than the 7 days Meta keeps them can be
downloaded again with ``POST /messages/{id}/media/retry``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from pathlib import Path
from typing import Any

from hotelbot.clock import now, to_iso
from hotelbot.media_store import MediaStore
from hotelbot.services.media import announce_message, media_path
from hotelbot.storage import media as media_store
from hotelbot.storage.database import Database

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# Seconds between two passes of the server's own retention, when media_retention_days is set.
RETENTION_INTERVAL = 3600.0
# Temporary files older than this were left by a download that a crash interrupted.
STALE_PARTIAL_SECONDS = 86400.0


@dataclasses.dataclass
class PurgeResult:
    """Outcome of a purge: files removed, bytes freed, and the (tenant id, message id) pairs now DELETED."""

    files: int = 0
    bytes_freed: int = 0
    messages: list[tuple[str, str]] = dataclasses.field(default_factory=list)


async def purge_media(db: Database, media_root: Path, older_than_days: int) -> PurgeResult:
    """Remove every tenant's files stored more than ``older_than_days`` days ago; return what was freed."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    cutoff = to_iso(now() - dt.timedelta(days=older_than_days))
    store = MediaStore(media_root)
    result = PurgeResult()

    while True:
        async with db.write() as connection:
            rows = await media_store.select_files_created_before(connection, cutoff, BATCH_SIZE)
            for row in rows:
                url = media_path(row["tenant_id"], row["id"])
                message_ids = await media_store.mark_media_file_deleted(connection, row["tenant_id"], row["id"], url)
                result.messages.extend((row["tenant_id"], message_id) for message_id in message_ids)
        for row in rows:
            result.bytes_freed += await asyncio.to_thread(store.remove, row["tenant_id"], row["id"])
        result.files += len(rows)
        if len(rows) < BATCH_SIZE:
            break

    result.bytes_freed += await asyncio.to_thread(store.remove_stale_partials, STALE_PARTIAL_SECONDS)
    logger.info(
        "Media retention: %d file(s) older than %d day(s) removed, %d bytes freed, %d message(s) marked DELETED",
        result.files, older_than_days, result.bytes_freed, len(result.messages),
    )
    return result


async def keep_retention(runtime: Any) -> None:
    """Purge files older than ``media_retention_days`` every hour while the server runs; 0 keeps them."""
    days = runtime.settings.media_retention_days
    if not days:
        return
    logger.info("Media retention started: files older than %d day(s) are removed every %.0f s", days, RETENTION_INTERVAL)
    while True:
        try:
            result = await purge_media(runtime.db, runtime.data_dir.media, days)
            for tenant_id, message_id in result.messages:
                await announce_message(runtime, tenant_id, message_id)
        except Exception:
            logger.exception("Media retention pass failed; trying again in %.0f s", RETENTION_INTERVAL)
        await asyncio.sleep(RETENTION_INTERVAL)
