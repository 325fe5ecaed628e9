"""The kinds of job hotelbot runs, and the start-up pass that queues unfinished work again."""

from __future__ import annotations

import logging
from typing import Any

from hotelbot.jobs.queue import FORWARD_POOL, MEDIA_POOL, JobKind
from hotelbot.services.forwarding import forward_exhausted, forward_message
from hotelbot.services.inbound import process_inbox
from hotelbot.services.media import download_exhausted, download_media, job_time_limit
from hotelbot.services.outbound import send_pending
from hotelbot.storage import inbox as inbox_store
from hotelbot.storage import media as media_store
from hotelbot.storage import messages as message_store
from hotelbot.storage.database import fetch_all

logger = logging.getLogger(__name__)

JOB_TIMEOUT = 30.0


def register_job_kinds(runtime: Any) -> None:
    settings = runtime.settings

    async def run_inbox(payload: dict[str, Any]) -> None:
        await process_inbox(runtime, payload["inboxId"])

    async def inbox_exhausted(payload: dict[str, Any], error: str, attempts: int) -> None:
        async with runtime.db.write() as connection:
            await inbox_store.record_inbox_failure(connection, payload["inboxId"], error)
            await inbox_store.mark_inbox_processed(connection, payload["inboxId"])
            await inbox_store.insert_dead_letter(
                connection, kind="inbound", tenant_id=None, reference_id=str(payload["inboxId"]),
                payload=payload, error=error, attempts=attempts,
            )

    async def run_forward(payload: dict[str, Any]) -> None:
        await forward_message(runtime, payload)

    async def forward_dead(payload: dict[str, Any], error: str, attempts: int) -> None:
        await forward_exhausted(runtime, payload, error, attempts)

    async def run_download(payload: dict[str, Any]) -> None:
        await download_media(runtime, payload)

    async def download_dead(payload: dict[str, Any], error: str, attempts: int) -> None:
        await download_exhausted(runtime, payload, error, attempts)

    async def run_outbound(payload: dict[str, Any]) -> None:
        await send_pending(runtime, payload)

    async def outbound_dead(payload: dict[str, Any], error: str, attempts: int) -> None:
        async with runtime.db.write() as connection:
            await inbox_store.insert_dead_letter(
                connection, kind="outbound", tenant_id=payload["tenantId"], reference_id=payload["conversationId"],
                payload=payload, error=error, attempts=attempts,
            )

    # Enough attempts to keep trying for the whole retry window at the longest delay.
    outbound_attempts = int(settings.outbound_retry_window / settings.retry_delay_max) + 10

    runtime.jobs.register(JobKind(
        "outbound", run_outbound, outbound_attempts, JOB_TIMEOUT * 4, outbound_dead,
        describe=lambda payload: f"tenant {payload['tenantId']} conversation {payload['conversationId']}",
    ))
    runtime.jobs.register(JobKind(
        "inbound", run_inbox, settings.inbound_attempts, JOB_TIMEOUT, inbox_exhausted,
        describe=lambda payload: f"inbox {payload['inboxId']}",
    ))
    async def run_drain(payload: dict[str, Any]) -> None:
        await runtime.inbound.run()

    # One attempt: a failed drain leaves its rows waiting, and the next webhook or the sweep takes them.
    runtime.jobs.register(JobKind("inbound_drain", run_drain, 1, JOB_TIMEOUT))
    runtime.jobs.register(JobKind(
        "forward", run_forward, settings.forward_attempts, settings.forward_timeout + 5, forward_dead, pool=FORWARD_POOL,
        describe=lambda payload: f"tenant {payload['tenantId']} message {payload['messageId']}",
    ))
    runtime.jobs.register(JobKind(
        "media_download", run_download, settings.media_attempts, job_time_limit(settings), download_dead, pool=MEDIA_POOL,
        describe=lambda payload: f"tenant {payload['tenantId']} message {payload['messageId']}",
    ))


async def requeue_unfinished(runtime: Any) -> None:
    """Queue again every stored webhook not yet processed and every forward not yet delivered."""
    async with runtime.db.read() as connection:
        inbox = await inbox_store.select_unprocessed_inbox(connection)
        forwards = await message_store.select_pending_forwards(connection)
        downloads = await media_store.select_pending_downloads(connection)
        outbound = await fetch_all(
            connection,
            "SELECT DISTINCT tenant_id, conversation_id FROM messages WHERE direction = 'OUTBOUND' AND status = 'PENDING'",
        )

    # Rows that never failed go to the batch drain; a row that failed before gets its own job again.
    if any(row["last_error"] is None for row in inbox):
        runtime.inbound.wake()
    for row in inbox:
        if row["last_error"] is not None:
            await runtime.jobs.enqueue_async("inbound", {"inboxId": row["id"]})
    # Forwards start as first attempts on the loop, sharing their limit with new messages' forwards.
    for row in forwards:
        runtime.forwards.start(row["tenant_id"], row["id"])
    for row in downloads:
        await runtime.jobs.enqueue_async("media_download", {"tenantId": row["tenant_id"], "messageId": row["id"]}, priority=10)
    for row in outbound:
        await runtime.jobs.enqueue_async("outbound", {"tenantId": row["tenant_id"], "conversationId": row["conversation_id"]})
    if inbox or forwards or downloads or outbound:
        logger.info(
            "Queued unfinished work again: %d webhook(s), %d forward(s), %d download(s), %d conversation(s) with unsent replies",
            len(inbox), len(forwards), len(downloads), len(outbound),
        )
