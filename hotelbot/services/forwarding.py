"""Delivering guests' messages to the tenant's N8N webhook."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

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

ASSISTANT_UNAVAILABLE = "Assistant unavailable: the message could not be delivered to N8N."


async def forward_message(runtime: Any, payload: dict[str, Any]) -> None:
    """POST one inbound message to N8N; raise JobFailed so the queue retries.

    A message whose conversation was locked for people meanwhile is not sent.
    """
    tenant_id, message_id = payload["tenantId"], payload["messageId"]
    tenant = await runtime.tenants.get(tenant_id)
    async with runtime.db.read() as connection:
        message = await message_store.select_message(connection, tenant_id, message_id)
        conversation = None
        if message is not None:
            conversation = await conversation_store.select_conversation(connection, tenant_id, message["conversation_id"])
            contact = await fetch_one(connection, "SELECT * FROM contacts WHERE id = ?", (conversation["contact_id"],))

    if tenant is None or message is None or message["forward_state"] not in ("PENDING", "DEAD"):
        return
    if conversation["ia_locked"]:
        async with runtime.db.write() as connection:
            await message_store.update_message(connection, tenant_id, message_id, forward_state="NONE")
        logger.info("Forward of %s skipped: conversation %s is locked for people", message["whatsapp_msg_id"], conversation["id"])
        return
    if not tenant.n8n_url:
        raise JobFailed(f"tenant {tenant_id} has no N8N URL")

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
        # httpx bounds each connect and read; this bounds the whole call, so an N8N that trickles bytes cannot hold a worker.
        async with asyncio.timeout(limit):
            response = await runtime.n8n_http.post(tenant.n8n_url, content=raw, headers=headers)
    except TimeoutError:
        raise JobFailed(f"N8N did not respond within {limit:g} s") from None
    except httpx.HTTPError as exc:
        raise JobFailed(f"N8N unreachable: {type(exc).__name__}") from None
    finally:
        metrics.FORWARD_SECONDS.observe(time.monotonic() - started)
    if response.status_code >= 300:
        raise JobFailed(f"N8N answered {response.status_code}")

    async with runtime.db.write(single_statement=True) as connection:
        await message_store.update_message(connection, tenant_id, message_id, forward_state="DONE")
    logger.info("Message %s forwarded to N8N (tenant %s, conversation %s)", message["whatsapp_msg_id"], tenant_id, conversation["id"])


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
