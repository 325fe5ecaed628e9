"""The periodic sweep: queue again unfinished work whose job was lost while the server runs.

At start every unfinished item is queued from the database (``requeue_unfinished``).
While serving, a job can still be lost without a crash, for example on a full
disk: a retry that could not be written to Huey's file, a stored webhook whose
job could not be queued, or a dead letter that could not be written. Every
``sweep_interval`` seconds the sweep looks for work left unfinished for at
least that long and queues a job for each item that has none queued or
running in this process, so no item gets two jobs at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from hotelbot.clock import now, to_iso
from hotelbot.storage import unfinished

logger = logging.getLogger(__name__)


async def _stale_jobs(runtime: Any, before: str) -> list[tuple[str, dict[str, Any], int]]:
    """Return (kind, payload, priority) for every item unfinished since before ``before``."""
    async with runtime.db.read() as connection:
        inbox_ids = await unfinished.select_stale_inbox_ids(connection, before)
        forwards = await unfinished.select_stale_forwards(connection, before)
        downloads = await unfinished.select_stale_downloads(connection, before)
        outbound = await unfinished.select_stale_outbound(connection, before)

    jobs: list[tuple[str, dict[str, Any], int]] = [("inbound", {"inboxId": inbox_id}, 0) for inbox_id in inbox_ids]
    jobs += [("forward", {"tenantId": row["tenant_id"], "messageId": row["id"]}, 0) for row in forwards]
    jobs += [("media_download", {"tenantId": row["tenant_id"], "messageId": row["id"]}, 10) for row in downloads]
    jobs += [
        ("outbound", {"tenantId": row["tenant_id"], "conversationId": row["conversation_id"]}, 0) for row in outbound
    ]
    return jobs


async def sweep_once(runtime: Any) -> int:
    """Queue a job for each item unfinished for ``sweep_interval`` seconds that has none; return how many.

    Stops early once the queue is stopping, so a server shutting down queues nothing new.
    """
    before = to_iso(now() - dt.timedelta(seconds=runtime.settings.sweep_interval))
    queued = 0
    for kind, payload, priority in await _stale_jobs(runtime, before):
        if not runtime.jobs.accepting:
            break
        if runtime.jobs.has_job(kind, payload):
            continue
        if kind == "forward" and runtime.forwards.has_attempt(payload["messageId"]):
            # A first attempt created but not started yet is not counted by has_job.
            continue
        await runtime.jobs.enqueue_async(kind, payload, priority=priority)
        logger.warning("Unfinished %s work without a job queued again: %s", kind, payload)
        queued += 1
    return queued


async def sweep_unfinished(runtime: Any) -> None:
    """Run :func:`sweep_once` every ``sweep_interval`` seconds until cancelled; log and survive failures."""
    interval = runtime.settings.sweep_interval
    logger.info("Sweep of unfinished work runs every %.0f s", interval)
    while True:
        await asyncio.sleep(interval)
        try:
            queued = await sweep_once(runtime)
        except Exception as error:
            logger.error("Sweep of unfinished work failed: %s: %s", type(error).__name__, error)
            continue
        if queued:
            logger.info("Sweep queued %d unfinished item(s) again", queued)
