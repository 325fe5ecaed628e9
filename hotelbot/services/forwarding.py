"""Delivering guests' messages to the tenant's N8N webhook."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp

from hotelbot import metrics
from hotelbot.forwarding import SIGNATURE_HEADER, encode_body, forward_body, sign_body
from hotelbot.i18n import translate
from hotelbot.jobs.queue import JobFailed
from hotelbot.services.escalations import escalate
from hotelbot.storage import conversations as conversation_store
from hotelbot.storage import inbox as inbox_store
from hotelbot.storage import messages as message_store
from hotelbot.storage.database import fetch_one

logger = logging.getLogger(__name__)

FORWARD_JOB = "forward"
# Rows a refill reads beyond its free places and the attempts in memory, for messages with a job in the queue.
REFILL_PAGE_EXTRA = 100
ASSISTANT_UNAVAILABLE = "Assistant unavailable: the message could not be delivered to N8N."
NO_ASSISTANT = "No AI assistant is set up for this hotel (no N8N URL): a person answers."


class FirstForwards:
    """The first attempt of each new message's forward, started on the event loop as soon as it is committed.

    A job in the queue costs a write to Huey's file, a worker thread and two
    log lines per message, and the first attempt here skips them. When it
    fails, the queue takes over from attempt 2, with backoff and, after the
    last attempt, the dead letter and the escalation. The message's
    ``forward_state`` stays PENDING until N8N accepts it, so after a crash
    the start-up pass sends it. At most ``forward_workers`` first attempts
    run at once.

    At most ``forward_max_waiting`` attempts wait in memory. Past that (N8N
    slower than the guests), new messages stay PENDING on disk, and once half
    the waiting attempts are done, a refill reads the oldest of them from the
    database and starts their attempts, until none is left on disk.
    """

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime
        self._slots = asyncio.Semaphore(runtime.settings.forward_workers)
        self._tasks: set[asyncio.Task] = set()
        # Ids of the messages whose first attempt is in self._tasks.
        self._message_ids: set[str] = set()
        self._max_waiting = runtime.settings.forward_max_waiting
        # True while messages wait on disk for a refill; set on overflow, cleared by the refill that empties the disk.
        self._overflowing = False
        self._refilling = False
        # Set by start() while overflowing, so a refill reading the disk meanwhile looks again.
        self._missed = False

    def has_attempt(self, message_id: str) -> bool:
        """Return whether a first attempt of this message's forward is waiting or running in memory."""
        return message_id in self._message_ids

    def start(self, tenant_id: str, message_id: str) -> None:
        """Start the first attempt of a message's forward; call on the loop right after the commit."""
        payload = {"tenantId": tenant_id, "messageId": message_id}
        if message_id in self._message_ids or self._runtime.jobs.has_job(FORWARD_JOB, payload):
            # A refill, running while the caller awaited, already started it.
            return
        if self._overflowing:
            self._missed = True
            self._maybe_refill()
            return
        if len(self._tasks) >= self._max_waiting:
            logger.warning(
                "%d forwards are waiting for N8N; message %s (tenant %s) and later ones wait on disk until half are done",
                len(self._tasks), message_id, tenant_id,
            )
            self._overflowing = True
            return

        self._launch(payload)

    def _launch(self, payload: dict[str, Any]) -> None:
        message_id = payload["messageId"]
        task = asyncio.get_running_loop().create_task(self._attempt(payload), name=f"forward-{message_id}")
        self._tasks.add(task)
        self._message_ids.add(message_id)
        task.add_done_callback(lambda done: self._finished(done, message_id))

    def _finished(self, task: asyncio.Task, message_id: str) -> None:
        self._tasks.discard(task)
        self._message_ids.discard(message_id)
        if self._overflowing:
            self._maybe_refill()

    def _maybe_refill(self) -> None:
        """Start a refill when messages wait on disk and half the in-memory places are free."""
        if self._refilling or len(self._tasks) > self._max_waiting // 2 or not self._runtime.jobs.accepting:
            return
        self._refilling = True
        self._runtime.spawn(self._refill(), "forward-refill")

    async def _refill(self) -> None:
        """Start the first attempts of the oldest messages left PENDING on disk, up to the free places."""
        try:
            while self._runtime.jobs.accepting:
                self._missed = False
                emptied = await self._start_from_disk(self._max_waiting - len(self._tasks))
                if emptied and not self._missed:
                    self._overflowing = False
                    logger.info("Forwards waiting on disk are all started again (%d waiting for N8N)", len(self._tasks))
                    return
                if len(self._tasks) > self._max_waiting // 2:
                    # The rest wait for the next refill, when half of these are done.
                    return
        finally:
            self._refilling = False

    async def _start_from_disk(self, room: int) -> bool:
        """Start up to ``room`` of the oldest PENDING forwards, and return whether no other is left on disk.

        Messages with an attempt in memory or a job in the queue are PENDING
        too. After an N8N outage every failed message waits for its retry, so
        the pages go on past them to the end of the table.
        """
        started = 0
        after = None
        while self._runtime.jobs.accepting:
            page = room + len(self._message_ids) + REFILL_PAGE_EXTRA
            async with self._runtime.db.read() as connection:
                rows = await message_store.select_pending_forwards(connection, page, after)
            # Checked and started without awaiting in between, so a job queued meanwhile is seen.
            for row in rows:
                payload = {"tenantId": row["tenant_id"], "messageId": row["id"]}
                if row["id"] in self._message_ids or self._runtime.jobs.has_job(FORWARD_JOB, payload):
                    continue
                if started == room:
                    return False
                self._launch(payload)
                started += 1
            if len(rows) < page:
                return True
            after = (rows[-1]["created_at"], rows[-1]["received_at"], rows[-1]["id"])
        return False

    async def wait(self) -> None:
        """Wait for the first attempts under way (each is bounded by the forward timeout)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _attempt(self, payload: dict[str, Any]) -> None:
        jobs = self._runtime.jobs
        with jobs.first_attempt_outside(FORWARD_JOB, payload):
            async with self._slots:
                if not jobs.accepting:
                    # Each waiting attempt can take up to the forward timeout, which would delay the shutdown.
                    logger.info(
                        "Forward of message %s not started because the server is stopping (tenant %s). It stays pending until the next start",
                        payload["messageId"], payload["tenantId"],
                    )
                    return
                try:
                    await forward_message(self._runtime, payload)
                except JobFailed as exc:
                    await self._failed(payload, str(exc), exc.retry_after, logged=False)
                except Exception as exc:
                    logger.exception("Forward of message %s crashed (tenant %s, attempt 1)", payload["messageId"], payload["tenantId"])
                    await self._failed(payload, f"{type(exc).__name__}: {exc}", None, logged=True)
                else:
                    metrics.JOBS.labels(FORWARD_JOB, "done").inc()

    async def _failed(self, payload: dict[str, Any], error: str, retry_after: float | None, logged: bool) -> None:
        if not self._runtime.jobs.accepting:
            logger.warning(
                "Forward of message %s failed while stopping (tenant %s): %s; it stays pending for the next start",
                payload["messageId"], payload["tenantId"], error,
            )
            return
        await asyncio.to_thread(
            self._runtime.jobs.attempt_failed, FORWARD_JOB, payload, 1, error, logged=logged, retry_after=retry_after
        )


async def forward_message(runtime: Any, payload: dict[str, Any]) -> None:
    """POST one inbound message to N8N; raise JobFailed so the queue retries.

    A message whose conversation was locked for people meanwhile is not sent.
    """
    tenant_id, message_id = payload["tenantId"], payload["messageId"]
    tenant = await runtime.tenants.get(tenant_id)
    message, conversation, contact = await runtime.db.read_on_thread(
        lambda connection: _select_forward_rows(connection, tenant_id, message_id)
    )

    if tenant is None or message is None or message["forward_state"] not in ("PENDING", "DEAD"):
        return
    if conversation["ia_locked"]:
        async with runtime.db.write() as connection:
            await message_store.update_message(connection, tenant_id, message_id, forward_state="NONE")
        logger.info("Forward of %s skipped: conversation %s is locked for people", message["whatsapp_msg_id"], conversation["id"])
        return
    if not tenant.n8n_url:
        await _hand_to_people(runtime, tenant_id, message)
        return

    media_url = runtime.media_links.absolute(message["media_url"]) if message["media_url"] else None
    unit_name = tenant.hotel_units.get(conversation["hotel_unit"]) if conversation["hotel_unit"] else None
    raw = encode_body(forward_body(message, conversation, contact, unit_name, media_url))
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign_body(raw, tenant.forward_secret),
        "Idempotency-Key": message["whatsapp_msg_id"],
    }
    started = time.monotonic()
    limit = runtime.settings.forward_timeout
    try:
        # The session bounds each connect and read; this bounds the whole call, so an N8N that trickles bytes cannot hold a worker.
        async with asyncio.timeout(limit):
            async with runtime.n8n_http.post(tenant.n8n_url, data=raw, headers=headers, allow_redirects=False) as response:
                status = response.status
                await response.read()
    except TimeoutError:
        raise JobFailed(f"N8N did not respond within {limit:g} s") from None
    except aiohttp.ClientError as exc:
        raise JobFailed(f"N8N unreachable: {_failure_name(exc)}") from None
    finally:
        metrics.FORWARD_SECONDS.observe(time.monotonic() - started)
    if status >= 300:
        raise JobFailed(f"N8N answered {status}")

    async with runtime.db.write(single_statement=True) as connection:
        await message_store.update_message(connection, tenant_id, message_id, forward_state="DONE")
    logger.info("Message %s forwarded to N8N (tenant %s, conversation %s)", message["whatsapp_msg_id"], tenant_id, conversation["id"])


async def _hand_to_people(runtime: Any, tenant_id: str, message: dict[str, Any]) -> None:
    """Escalate the message's conversation at once: a tenant without an N8N URL has no assistant to retry.

    The escalation runs before the message leaves PENDING, so when it fails the queue's retry escalates again.
    """
    reason = translate(NO_ASSISTANT, "pt-BR")
    escalation, created = await escalate(runtime, tenant_id, message["conversation_id"], reason=reason)
    async with runtime.db.write() as connection:
        await message_store.update_message(connection, tenant_id, message["id"], forward_state="NONE")
    logger.info(
        "Tenant %s has no N8N URL: message %s handed to people in conversation %s (escalation %s, %s)",
        tenant_id, message["whatsapp_msg_id"], message["conversation_id"], escalation["id"],
        "new" if created else "already open",
    )


async def _select_forward_rows(connection: Any, tenant_id: str, message_id: str) -> tuple[dict | None, dict | None, dict | None]:
    """Return the message, its conversation and the guest's contact; Nones when the message is gone."""
    message = await message_store.select_message(connection, tenant_id, message_id)
    if message is None:
        return None, None, None
    conversation = await conversation_store.select_conversation(connection, tenant_id, message["conversation_id"])
    contact = await fetch_one(connection, "SELECT * FROM contacts WHERE id = ?", (conversation["contact_id"],))
    return message, conversation, contact


def _failure_name(error: aiohttp.ClientError) -> str:
    """Name a failed call to N8N with the words logs, dead letters and the docs use (httpx's names)."""
    if isinstance(error, aiohttp.ClientConnectorError):
        return "ConnectError"
    if isinstance(error, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)):
        return "RemoteProtocolError"
    return type(error).__name__


async def forward_exhausted(runtime: Any, payload: dict[str, Any], error: str, attempts: int) -> None:
    """Keep the forward as a dead letter and hand the conversation to people."""
    tenant_id, message_id = payload["tenantId"], payload["messageId"]
    async with runtime.db.write() as connection:
        message = await message_store.select_message(connection, tenant_id, message_id)
        if message is None:
            return
        await message_store.update_message(connection, tenant_id, message_id, forward_state="DEAD")
        await inbox_store.insert_dead_letter(
            connection, kind="forward", tenant_id=tenant_id, reference_id=message_id,
            payload=payload, error=error, attempts=attempts,
        )
    reason = translate(ASSISTANT_UNAVAILABLE, "pt-BR")
    escalation, _ = await escalate(runtime, tenant_id, message["conversation_id"], reason=reason, priority="HIGH")
    logger.error(
        "N8N unavailable for message %s: conversation %s escalated to people (escalation %s)",
        message["whatsapp_msg_id"], message["conversation_id"], escalation["id"],
    )
