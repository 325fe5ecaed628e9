"""Sending messages to guests: the one path for attendants' and N8N's sends.

The OUTBOUND row is written as PENDING before Meta is called, because Meta's
status webhook can arrive before Meta's answer; then the row becomes SENT with
its wamid, or FAILED with Meta's error. When Meta cannot be reached or answers
5xx/429 the row stays PENDING and the conversation's outbound job sends it
later. Messages of one conversation leave in the order they were written: a
send that finds older PENDING messages waits behind them, and a per-conversation
lock keeps two senders from interleaving.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiosqlite

from hotelbot.clock import from_iso, new_id, now, now_iso, to_iso
from hotelbot.errors import NotFound, WhatsAppRejected
from hotelbot.jobs.queue import JobFailed
from hotelbot.realtime.sockets import conversation_room, tenant_room
from hotelbot.serialize import conversation_json, message_json
from hotelbot.services.inbound import Outcome, apply_early_statuses
from hotelbot.storage import conversations as conversation_store
from hotelbot.storage import messages as message_store
from hotelbot.storage.database import fetch_all, fetch_one
from hotelbot.storage.tenants import Tenant
from hotelbot.whatsapp.errors import describe_error
from hotelbot.whatsapp.graph import GraphError, GraphUnavailable

logger = logging.getLogger(__name__)

# Meta's codes that mean the hotel's setup is wrong rather than the message: answered 502.
ACCOUNT_CODES = frozenset({190, 10, 200, 3, 131031})

Prepare = Callable[[aiosqlite.Connection, dict], Awaitable[None]]


@dataclasses.dataclass
class OutboundRequest:
    """A message to send: its stored form and the Graph API body without ``to``."""

    type: str
    content: str | None
    graph_body: dict[str, Any]
    sender: dict[str, Any]
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    client_message_id: str | None = None
    created_by: str | None = None
    media_url: str | None = None


@dataclasses.dataclass
class SendResult:
    message: dict[str, Any]
    conversation: dict[str, Any]
    status_code: int  # 201 sent, 202 queued, 200 repeated clientMessageId


class ConversationLocks:
    """One asyncio lock per conversation, dropped when nobody holds or waits on it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: collections.Counter[str] = collections.Counter()

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[None]:
        self._users[conversation_id] += 1
        lock = self._locks.setdefault(conversation_id, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            self._users[conversation_id] -= 1
            if not self._users[conversation_id]:
                del self._users[conversation_id]
                del self._locks[conversation_id]


def recipient(contact: dict) -> dict[str, str]:
    """The addressee fields of a Graph API send: the phone WhatsApp gave us."""
    # NOTE: guests known only by a business-scoped user id (no wa_id) are addressed
    # with "recipient"; Meta's support for that field is new and not verified here.
    if contact["phone"]:
        return {"recipient_type": "individual", "to": contact["phone"]}
    return {"recipient_type": "individual", "recipient": contact["user_id"]}


async def _views(connection: aiosqlite.Connection, tenant: Tenant, message_id: str, conversation_id: str, runtime: Any) -> tuple[dict, dict]:
    message = await message_store.select_message(connection, tenant.id, message_id)
    view = await conversation_store.select_conversation_view(connection, tenant.id, conversation_id)
    return message_json(message, runtime.media_links.sign), conversation_json(view, tenant.hotel_units)


async def send(
    runtime: Any,
    tenant: Tenant,
    conversation_id: str,
    request: OutboundRequest,
    prepare: Prepare | None = None,
) -> SendResult:
    """Store and send one message; raise NotFound, the errors of ``prepare``, or WhatsAppRejected.

    ``prepare`` runs inside the transaction that inserts the PENDING row, with
    the conversation row: it checks the AI lock or the 24-hour window and
    applies state changes (an attendant's reply takes the conversation), so
    the check and the insert cannot be separated by another request.
    """
    async with runtime.outbound_locks.hold(conversation_id):
        message_id = new_id()
        async with runtime.db.write() as connection:
            conversation = await conversation_store.select_conversation(connection, tenant.id, conversation_id)
            if conversation is None:
                raise NotFound("Conversation not found.")
            if request.client_message_id and request.created_by:
                earlier = await fetch_one(
                    connection,
                    "SELECT * FROM messages WHERE tenant_id = ? AND created_by = ? AND client_message_id = ?"
                    " AND created_at > ?",
                    (tenant.id, request.created_by, request.client_message_id, _day_ago()),
                )
                if earlier is not None:
                    view = await conversation_store.select_conversation_view(connection, tenant.id, conversation_id)
                    return SendResult(message_json(earlier, runtime.media_links.sign), conversation_json(view, tenant.hotel_units), 200)
            if prepare is not None:
                await prepare(connection, conversation)

            waiting = await fetch_one(
                connection,
                "SELECT count(*) AS n FROM messages WHERE tenant_id = ? AND conversation_id = ?"
                " AND direction = 'OUTBOUND' AND status = 'PENDING'",
                (tenant.id, conversation_id),
            )
            stamp = now_iso()
            await message_store.insert_message(connection, tenant.id, {
                "id": message_id,
                "conversation_id": conversation_id,
                "direction": "OUTBOUND",
                "type": request.type,
                "content": request.content,
                "metadata": {**request.metadata, "graphBody": request.graph_body},
                "media_url": request.media_url,
                "status": "PENDING",
                "sender": request.sender,
                "client_message_id": request.client_message_id,
                "created_by": request.created_by,
                "created_at": stamp,
            })
            await conversation_store.update_conversation(connection, tenant.id, conversation_id, last_message_at=stamp)

        if waiting["n"]:
            await runtime.jobs.enqueue_async("outbound", {"tenantId": tenant.id, "conversationId": conversation_id})
            status_code = 202
        else:
            status_code = await _deliver(runtime, tenant, message_id)

    async with runtime.db.read() as connection:
        message, conversation_payload = await _views(connection, tenant, message_id, conversation_id, runtime)
    await runtime.realtime.emit("message:new", {"message": message, "conversation": conversation_payload}, [tenant_room(tenant.id)])
    await runtime.realtime.emit("conversation:updated", {"conversation": conversation_payload}, [tenant_room(tenant.id)])

    if status_code == 422:
        error = message["error"] or {}
        raise WhatsAppRejected(
            error.get("message") or WhatsAppRejected.message,
            extra={"whatsappCode": error.get("code"), "message": message},
        ) if error.get("code") not in ACCOUNT_CODES else _account_error(error, message)
    return SendResult(message, conversation_payload, status_code)


def _account_error(error: dict, message: dict) -> WhatsAppRejected:
    rejected = WhatsAppRejected(error.get("message") or WhatsAppRejected.message, extra={"whatsappCode": error.get("code"), "message": message})
    rejected.status = 502
    return rejected


def _day_ago() -> str:
    return to_iso(now() - dt.timedelta(hours=24))


async def _deliver(runtime: Any, tenant: Tenant, message_id: str, requeue: bool = True) -> int:
    """Call Meta for a PENDING row; return 201 (sent), 202 (left PENDING) or 422 (FAILED).

    A row left PENDING queues the conversation's outbound job unless ``requeue``
    is False (the caller is that job).
    """
    async with runtime.db.read() as connection:
        message = await message_store.select_message(connection, tenant.id, message_id)
        conversation = await conversation_store.select_conversation(connection, tenant.id, message["conversation_id"])
        contact = await fetch_one(connection, "SELECT * FROM contacts WHERE id = ?", (conversation["contact_id"],))
    graph_body = {**recipient(contact), **_graph_body(message)}

    try:
        wamid = await runtime.graph.send_message(tenant, graph_body)
    except GraphError as error:
        if isinstance(error, GraphUnavailable) or error.retryable:
            logger.warning("Message %s left PENDING (tenant %s): Graph API unavailable (%s)", message_id, tenant.id, error.title)
            if requeue:
                await runtime.jobs.enqueue_async("outbound", {"tenantId": tenant.id, "conversationId": message["conversation_id"]})
            return 202
        async with runtime.db.write() as connection:
            await message_store.update_message(connection, tenant.id, message_id, status="FAILED", error=describe_error(error.as_error()))
        logger.warning("Message %s rejected by WhatsApp (tenant %s): code %s", message_id, tenant.id, error.code)
        return 422

    outcome = Outcome()
    async with runtime.db.write() as connection:
        await message_store.update_message(connection, tenant.id, message_id, status="SENT", whatsapp_msg_id=wamid)
        await apply_early_statuses(connection, tenant.id, message_id, outcome)
    for event, payload, rooms in outcome.events:
        await runtime.realtime.emit(event, payload, rooms)
    logger.info("Message %s sent as %s (tenant %s)", message_id, wamid, tenant.id)
    return 201


def _graph_body(message: dict) -> dict[str, Any]:
    return json.loads(message["metadata"]).get("graphBody", {})


async def send_pending(runtime: Any, payload: dict[str, Any]) -> None:
    """The outbound job: send a conversation's PENDING messages in the order they were written.

    Raises JobFailed while Meta stays unavailable, so the queue retries with
    backoff; a message older than ``outbound_retry_window`` is marked FAILED.
    """
    tenant = await runtime.tenants.get(payload["tenantId"])
    if tenant is None:
        return
    conversation_id = payload["conversationId"]
    window = runtime.settings.outbound_retry_window

    async with runtime.outbound_locks.hold(conversation_id):
        async with runtime.db.read() as connection:
            pending = await fetch_all(
                connection,
                "SELECT id, created_at FROM messages WHERE tenant_id = ? AND conversation_id = ?"
                " AND direction = 'OUTBOUND' AND status = 'PENDING' ORDER BY created_at, id",
                (tenant.id, conversation_id),
            )
        for row in pending:
            if (now() - from_iso(row["created_at"])).total_seconds() > window:
                await _expire(runtime, tenant, row["id"])
                continue
            status_code = await _deliver(runtime, tenant, row["id"], requeue=False)
            if status_code == 202:
                raise JobFailed(f"Graph API unavailable; {len(pending)} message(s) waiting in conversation {conversation_id}")
            await _announce(runtime, tenant, row["id"], conversation_id)


async def _expire(runtime: Any, tenant: Tenant, message_id: str) -> None:
    error = {"code": None, "title": "expired", "details": None,
             "message": "Not sent: WhatsApp stayed unreachable for too long."}
    async with runtime.db.write() as connection:
        await message_store.update_message(connection, tenant.id, message_id, status="FAILED", error=error)
    logger.error("Message %s not sent within the retry window (tenant %s)", message_id, tenant.id)


async def _announce(runtime: Any, tenant: Tenant, message_id: str, conversation_id: str) -> None:
    async with runtime.db.read() as connection:
        message = await message_store.select_message(connection, tenant.id, message_id)
    payload = {
        "id": message["id"],
        "whatsappMsgId": message["whatsapp_msg_id"],
        "conversationId": conversation_id,
        "status": message["status"],
        "error": message_json(message)["error"],
    }
    await runtime.realtime.emit("message:status", payload, [tenant_room(tenant.id), conversation_room(conversation_id)])
