"""Processing stored webhooks: guests' messages, delivery statuses, account errors.

Everything a batch of webhook bodies changes is written in one transaction
together with the inbox rows' ``processed_at``, so a body is applied exactly
once even when two jobs take it. The transaction runs whole on the writer's
thread (:meth:`Database.write_on_thread`), so the storage functions called
here must await nothing but their connection. Events are emitted and
follow-up jobs queued after the commit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from typing import Any

import aiosqlite

from hotelbot import metrics
from hotelbot.clock import new_id
from hotelbot.domain.inbound import InboundMessage, InboundStatus, ParsedWebhook, parse_webhook
from hotelbot.domain.phones import mask_phone, phone_key
from hotelbot.realtime.sockets import conversation_room, tenant_room
from hotelbot.serialize import conversation_json, message_json
from hotelbot.storage import conversations as conversation_store
from hotelbot.storage import inbox as inbox_store
from hotelbot.storage import messages as message_store
from hotelbot.storage.tenants import Tenant
from hotelbot.whatsapp.errors import describe_error

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Outcome:
    """Follow-up work of a committed webhook: events to emit and jobs to queue."""

    events: list[tuple[str, dict[str, Any], list[str]]] = dataclasses.field(default_factory=list)
    forwards: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    downloads: list[tuple[str, str]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class PreparedWebhook:
    """A stored webhook body parsed, with the tenant of each phone number id it names."""

    inbox_id: int
    parsed: ParsedWebhook
    tenants: dict[str, Tenant]


async def process_inbox(runtime: Any, inbox_id: int) -> None:
    """Apply the webhook body stored as inbox row ``inbox_id``; a processed row is skipped.

    The job of one row: its retries, a replayed dead letter, a row the sweep found.
    Raises what the transaction raised, so the queue retries it.
    """
    async with runtime.db.read() as connection:
        row = await inbox_store.select_inbox(connection, inbox_id)
    if row is None or row["processed_at"] is not None:
        return
    await process_inbox_rows(runtime, [row])


async def process_inbox_rows(runtime: Any, rows: list[dict]) -> int:
    """Apply the bodies of inbox ``rows`` (id and body) in one transaction; return how many were applied.

    Rows processed meanwhile are skipped. Events are emitted and follow-up jobs
    queued after the commit. On an error nothing of the batch is applied and the
    error is raised.
    """
    prepared = [await _prepare(runtime, row["id"], row["body"]) for row in rows]
    outcome = Outcome()

    applied = await runtime.db.write_on_thread(lambda connection: _apply_batch(connection, runtime, prepared, outcome))

    await _follow_up(runtime, outcome)
    return applied


async def _prepare(runtime: Any, inbox_id: int, body: bytes) -> PreparedWebhook:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        payload = None
    parsed = parse_webhook(payload)
    for reason in parsed.skipped:
        logger.warning("Webhook item skipped (inbox %d): %s", inbox_id, reason)

    phone_number_ids = {item.phone_number_id for item in (*parsed.messages, *parsed.statuses, *parsed.errors)}
    tenants: dict[str, Tenant] = {}
    for phone_number_id in phone_number_ids:
        tenant = await runtime.tenants.by_phone_number_id(phone_number_id)
        if tenant is None:
            logger.warning("Webhook change for phone number id %s, which no tenant has (inbox %d); skipped", phone_number_id, inbox_id)
        else:
            tenants[phone_number_id] = tenant
    return PreparedWebhook(inbox_id, parsed, tenants)


async def _apply_batch(connection: Any, runtime: Any, batch: list[PreparedWebhook], outcome: Outcome) -> int:
    """Apply each still unprocessed webhook of ``batch`` and mark it processed; return how many."""
    waiting = await inbox_store.select_unprocessed_among(connection, [item.inbox_id for item in batch])
    todo = [item for item in batch if item.inbox_id in waiting]
    if not todo:
        return 0

    for item in todo:
        await _apply_webhook(connection, runtime, item, outcome)
    await inbox_store.mark_inbox_rows_processed(connection, [item.inbox_id for item in todo])
    return len(todo)


async def _apply_webhook(connection: Any, runtime: Any, item: PreparedWebhook, outcome: Outcome) -> None:
    parsed, tenants = item.parsed, item.tenants
    for message in parsed.messages:
        if message.phone_number_id in tenants:
            await _store_message(connection, tenants[message.phone_number_id], message, outcome, runtime)
    for status in parsed.statuses:
        if status.phone_number_id in tenants:
            await _apply_status(connection, tenants[status.phone_number_id].id, status, outcome)
    for error in parsed.errors:
        tenant = tenants.get(error.phone_number_id or "")
        await inbox_store.insert_account_error(connection, tenant.id if tenant else None, error.code, error.title, error.details)
        metrics.ACCOUNT_ERRORS.labels(str(error.code)).inc()
        logger.error(
            "Meta reported an account error for tenant %s: code=%s title=%s",
            tenant.id if tenant else "-", error.code, error.title,
        )


async def _follow_up(runtime: Any, outcome: Outcome) -> None:
    """Emit the batch's events, start its forwards, then queue its downloads in one hand-over to a thread.

    Each forward starts before the drain takes its next batch, so it reads the
    guest's details before a webhook sent in response to an event can change them.
    """
    for event, payload, rooms in outcome.events:
        await runtime.realtime.emit(event, payload, rooms)
    for tenant_id, message_id in outcome.forwards:
        runtime.forwards.start(tenant_id, message_id)

    if not outcome.downloads:
        return
    try:
        await asyncio.to_thread(_queue_downloads, runtime.jobs, outcome.downloads)
    except Exception:
        # The batch is committed: failing here would retry rows already processed.
        # The sweep queues the downloads of messages whose media stays PENDING.
        logger.exception("Queuing media downloads of messages %s failed; the sweep queues them later",
                         ", ".join(message_id for _, message_id in outcome.downloads))


def _queue_downloads(queue: Any, downloads: list[tuple[str, str]]) -> None:
    for tenant_id, message_id in downloads:
        queue.enqueue("media_download", {"tenantId": tenant_id, "messageId": message_id}, priority=10)


async def _reply_reference(connection: aiosqlite.Connection, tenant_id: str, wamid: str | None) -> dict | None:
    if not wamid:
        return None
    target = await message_store.select_message_by_wamid(connection, tenant_id, wamid)
    if target is None:
        return {"id": None, "whatsappMsgId": wamid, "preview": None}
    return {"id": target["id"], "whatsappMsgId": wamid, "preview": (target["content"] or "")[:120]}


async def _apply_reaction(
    connection: aiosqlite.Connection, tenant_id: str, message: InboundMessage, outcome: Outcome, runtime: Any
) -> None:
    """Set or remove (empty emoji) the guest's reaction on the message it targets."""
    if not message.reaction_target:
        return
    target = await message_store.select_message_by_wamid(connection, tenant_id, message.reaction_target)
    if target is None:
        return

    guest = message.wa_id or message.user_id
    reactions = [reaction for reaction in json.loads(target["reactions"]) if reaction.get("from") != guest]
    if message.reaction_emoji:
        reactions.append({"emoji": message.reaction_emoji, "from": guest})
    await message_store.update_message(connection, tenant_id, target["id"], reactions=reactions)

    updated = await message_store.select_message(connection, tenant_id, target["id"])
    payload = {"message": message_json(updated, runtime.media_links.sign)}
    outcome.events.append(("message:updated", payload, [tenant_room(tenant_id)]))


async def _store_message(
    connection: aiosqlite.Connection, tenant: Tenant, message: InboundMessage, outcome: Outcome, runtime: Any
) -> None:
    existing = await message_store.select_message_by_wamid(connection, tenant.id, message.whatsapp_msg_id)
    if existing is not None:
        logger.info("Duplicate message %s for tenant %s ignored", message.whatsapp_msg_id, tenant.id)
        return

    contact_id = await conversation_store.upsert_contact(
        connection,
        tenant.id,
        phone=message.wa_id,
        phone_key=phone_key(message.wa_id) if message.wa_id else None,
        user_id=message.user_id,
        name=message.contact_name,
    )
    before = await conversation_store.select_conversation_by_contact(
        connection, tenant.id, phone_key=phone_key(message.wa_id) if message.wa_id else None, user_id=message.user_id
    )
    conversation = await conversation_store.upsert_inbound_conversation(connection, tenant.id, contact_id, message.created_at)

    forward_state = "NONE"
    if not conversation["ia_locked"]:
        forward_state = "WAITING_MEDIA" if message.media else "PENDING"
    message_id = new_id()
    await message_store.insert_message(
        connection,
        tenant.id,
        {
            "id": message_id,
            "conversation_id": conversation["id"],
            "direction": "INBOUND",
            "type": message.type,
            "content": message.content,
            "metadata": message.metadata,
            "media_id": message.media.media_id if message.media else None,
            "media_status": "PENDING" if message.media else None,
            "status": "RECEIVED",
            "whatsapp_msg_id": message.whatsapp_msg_id,
            "sender": {"type": "CONTACT", "name": message.contact_name},
            "reply_to": await _reply_reference(connection, tenant.id, message.context_wamid),
            "forward_state": forward_state,
            "created_at": message.created_at,
        },
    )
    if message.type == "REACTION":
        await _apply_reaction(connection, tenant.id, message, outcome, runtime)

    logger.info(
        "Message %s stored: tenant=%s conversation=%s type=%s from=%s forward=%s",
        message.whatsapp_msg_id, tenant.id, conversation["id"], message.type, mask_phone(message.wa_id), forward_state,
    )
    stored = await message_store.select_message(connection, tenant.id, message_id)
    view = await conversation_store.select_conversation_view(connection, tenant.id, conversation["id"])
    conversation_payload = conversation_json(view, tenant.hotel_units)
    rooms = [tenant_room(tenant.id)]
    outcome.events.append(
        ("message:new", {"message": message_json(stored, runtime.media_links.sign), "conversation": conversation_payload}, rooms)
    )
    if before is None or before["status"] != conversation["status"]:
        outcome.events.append(("conversation:updated", {"conversation": conversation_payload}, rooms))

    if forward_state == "PENDING":
        outcome.forwards.append((tenant.id, message_id))
    if message.media:
        outcome.downloads.append((tenant.id, message_id))


async def _apply_status(connection: aiosqlite.Connection, tenant_id: str, status: InboundStatus, outcome: Outcome) -> None:
    message = await message_store.select_message_by_wamid(connection, tenant_id, status.whatsapp_msg_id)
    if message is None:
        await message_store.insert_early_status(connection, tenant_id, status.whatsapp_msg_id, status.status, status.error)
        logger.info("Status %s for unknown message %s kept for later (tenant %s)", status.status, status.whatsapp_msg_id, tenant_id)
        return
    await apply_status_to_message(connection, tenant_id, message, status.status, status.error, outcome)


async def apply_status_to_message(
    connection: aiosqlite.Connection, tenant_id: str, message: dict, status: str, error: dict | None, outcome: Outcome
) -> None:
    """Move an outbound message to ``status`` if that is forward; queue ``message:status``."""
    if message["direction"] != "OUTBOUND" or not message_store.status_moves_forward(message["status"], status):
        return

    described = describe_error(error) if status == "FAILED" else None
    fields: dict[str, Any] = {"status": status}
    if described is not None:
        fields["error"] = described
    await message_store.update_message(connection, tenant_id, message["id"], **fields)
    if status == "FAILED":
        logger.warning(
            "Message %s failed at WhatsApp (tenant %s): code=%s", message["whatsapp_msg_id"], tenant_id, (error or {}).get("code")
        )

    payload = {
        "id": message["id"],
        "whatsappMsgId": message["whatsapp_msg_id"],
        "conversationId": message["conversation_id"],
        "status": status,
        "error": described,
    }
    outcome.events.append(
        ("message:status", payload, [tenant_room(tenant_id), conversation_room(message["conversation_id"])])
    )


async def apply_early_statuses(connection: aiosqlite.Connection, tenant_id: str, message_id: str, outcome: Outcome) -> None:
    """Apply statuses that arrived before ``message_id`` had its wamid stored."""
    message = await message_store.select_message(connection, tenant_id, message_id)
    if message is None or not message["whatsapp_msg_id"]:
        return
    order = {"SENT": 1, "DELIVERED": 2, "READ": 3, "FAILED": 4}
    early = await message_store.pop_early_statuses(connection, tenant_id, message["whatsapp_msg_id"])
    for row in sorted(early, key=lambda item: order.get(item["status"], 0)):
        current = await message_store.select_message(connection, tenant_id, message_id)
        error = json.loads(row["error"]) if row["error"] else None
        await apply_status_to_message(connection, tenant_id, current, row["status"], error, outcome)
