"""Sending messages to guests: the one path for attendants' and N8N's sends.

The OUTBOUND row is written as PENDING before Meta is called, because Meta's
status webhook can arrive before Meta's response. Then the row becomes SENT with
its wamid, or FAILED with Meta's error. When Meta cannot be reached, responds
5xx/429 or reports a rate limit, the row stays PENDING and the conversation's
outbound job sends it later. Messages of one conversation leave in the order
they were written: a send that finds older PENDING messages waits behind them,
and a per-conversation lock keeps two senders from interleaving.

A send runs to its end even when the HTTP client goes away meanwhile, so a
written row is never left PENDING without a call to Meta or a queued job.

NOTE: when Meta accepts a message but its answer is lost (a timeout after the
request left), the retry sends it again: the Graph API has no idempotency key.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiosqlite

from hotelbot.clock import from_iso, new_id, now, now_iso
from hotelbot.errors import Conflict, NotFound, WhatsAppRejected
from hotelbot.i18n import translate
from hotelbot.jobs.queue import JobFailed
from hotelbot.realtime.sockets import conversation_room, tenant_room
from hotelbot.serialize import conversation_json, message_json
from hotelbot.services import audit
from hotelbot.services.inbound import Outcome, apply_early_statuses
from hotelbot.storage import conversations as conversation_store
from hotelbot.storage import messages as message_store
from hotelbot.storage import outbound as outbound_store
from hotelbot.storage.tenants import Tenant
from hotelbot.whatsapp.errors import MESSAGES, describe_error
from hotelbot.whatsapp.graph import GraphError, GraphUnavailable

logger = logging.getLogger(__name__)

# Meta's codes that mean the hotel's setup is wrong rather than the message: returned as 502.
ACCOUNT_CODES = frozenset({190, 10, 200, 3, 131031})
EXPIRED_MESSAGE = "Not sent: WhatsApp stayed unreachable for too long."
KEY_REUSED = "This Idempotency-Key was already used for a different message."

Prepare = Callable[[aiosqlite.Connection, dict], Awaitable[None]]
Event = tuple[str, dict[str, Any], list[str]]

# Sends that outlive a cancelled request, kept referenced until they finish.
_in_flight: set[asyncio.Task] = set()


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
    media_status: str | None = None


@dataclasses.dataclass
class SendResult:
    message: dict[str, Any]
    conversation: dict[str, Any]
    status_code: int  # 201 sent, 202 queued, 200 repeated clientMessageId


@dataclasses.dataclass
class _Stored:
    """The result of the insert transaction: a new row (and whether older ones wait), or a repeat."""

    message_id: str | None = None
    waiting: bool = False
    repeat: SendResult | None = None


@dataclasses.dataclass
class _Delivery:
    """The result of one call to Meta: 201 sent, 202 left PENDING, 422 FAILED; events to emit."""

    status_code: int
    events: list[Event] = dataclasses.field(default_factory=list)
    # Seconds Meta asked to wait (Retry-After) when the row was left PENDING.
    retry_after: float | None = None


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


async def _views(runtime: Any, tenant: Tenant, message_id: str) -> tuple[dict, dict]:
    """Return the message and its conversation as the API shows them."""
    async with runtime.db.read() as connection:
        message = await message_store.select_message(connection, tenant.id, message_id)
        view = await conversation_store.select_conversation_view(connection, tenant.id, message["conversation_id"])
    return message_json(message, runtime.media_links.sign), conversation_json(view, tenant.hotel_units)


async def send(
    runtime: Any,
    tenant: Tenant,
    conversation_id: str,
    request: OutboundRequest,
    prepare: Prepare | None = None,
) -> SendResult:
    """Store and send one message; raise NotFound, the errors of ``prepare``, or WhatsAppRejected.

    ``prepare`` runs with the conversation row inside the transaction that
    inserts the PENDING row. It checks the AI lock or the 24-hour window and
    applies state changes (an attendant's reply takes the conversation), so
    the check and the insert cannot be separated by another request. A
    ``client_message_id`` the same user (or N8N, for a request without
    ``created_by``) already sent returns that message (200) and sends nothing. Emits ``message:new`` and ``conversation:updated``.
    """
    task = asyncio.get_running_loop().create_task(_send(runtime, tenant, conversation_id, request, prepare))
    _in_flight.add(task)
    task.add_done_callback(_settle)
    return await asyncio.shield(task)


def _settle(task: asyncio.Task) -> None:
    _in_flight.discard(task)
    if not task.cancelled():
        # Retrieve the outcome, so a send whose request was cancelled logs no "never retrieved".
        task.exception()


async def _send(
    runtime: Any, tenant: Tenant, conversation_id: str, request: OutboundRequest, prepare: Prepare | None
) -> SendResult:
    async with runtime.outbound_locks.hold(conversation_id):
        stored = await _store_pending(runtime, tenant, conversation_id, request, prepare)
        if stored.repeat is not None:
            logger.info("Repeated send key: message %s returned again (tenant %s)", stored.repeat.message["id"], tenant.id)
            return stored.repeat
        if stored.waiting:
            await _queue_outbound(runtime, tenant.id, conversation_id)
            delivery = _Delivery(202)
            logger.info("Message %s queued behind older unsent replies (conversation %s)", stored.message_id, conversation_id)
        else:
            delivery = await _deliver(runtime, tenant, stored.message_id)

    message, conversation = await _views(runtime, tenant, stored.message_id)
    await runtime.realtime.emit("message:new", {"message": message, "conversation": conversation}, [tenant_room(tenant.id)])
    await runtime.realtime.emit("conversation:updated", {"conversation": conversation}, [tenant_room(tenant.id)])
    for event, payload, rooms in delivery.events:
        await runtime.realtime.emit(event, payload, rooms)

    if delivery.status_code == 422:
        raise rejection(message)
    return SendResult(message, conversation, delivery.status_code)


async def _store_pending(
    runtime: Any, tenant: Tenant, conversation_id: str, request: OutboundRequest, prepare: Prepare | None
) -> _Stored:
    """Insert the PENDING row in one transaction with ``prepare``; or find the repeated request's message."""
    async with runtime.db.write() as connection:
        conversation = await conversation_store.select_conversation(connection, tenant.id, conversation_id)
        if conversation is None:
            raise NotFound("Conversation not found.")
        repeat = await _repeat_of(connection, runtime, tenant, conversation_id, request)
        if repeat is not None:
            return _Stored(repeat=repeat)
        if prepare is not None:
            await prepare(connection, conversation)

        waiting = await outbound_store.count_pending_outbound(connection, tenant.id, conversation_id)
        message_id = new_id()
        stamp = now_iso()
        await message_store.insert_message(connection, tenant.id, {
            "id": message_id,
            "conversation_id": conversation_id,
            "direction": "OUTBOUND",
            "type": request.type,
            "content": request.content,
            "metadata": {**request.metadata, "graphBody": request.graph_body},
            "media_url": request.media_url,
            "media_status": request.media_status,
            "status": "PENDING",
            "sender": request.sender,
            "client_message_id": request.client_message_id,
            "created_by": request.created_by,
            "created_at": stamp,
        })
        await conversation_store.update_conversation(connection, tenant.id, conversation_id, last_message_at=stamp)
        await audit.record(
            connection, tenant.id, _sender_actor(request), "MESSAGE_SENT",
            conversation_id=conversation_id, target=message_id, details={"type": request.type},
        )
    return _Stored(message_id=message_id, waiting=waiting > 0)


def _sender_actor(request: OutboundRequest) -> audit.Actor:
    """Return who a send is audited as: the attendant who wrote it, N8N, or the server."""
    if request.created_by:
        return audit.Actor("USER", request.created_by)
    if request.sender.get("type") == "N8N":
        return audit.N8N
    return audit.SYSTEM


def _same_send(earlier: dict[str, Any], conversation_id: str, request: OutboundRequest) -> bool:
    """Return whether ``request`` matches the stored message ``earlier``: the same conversation and Graph API body."""
    stored_body = json.loads(earlier["metadata"] or "{}").get("graphBody")
    # Compared as stored, through JSON, so that a tuple in the new body equals the list it became.
    return earlier["conversation_id"] == conversation_id and stored_body == json.loads(json.dumps(request.graph_body))


async def _repeat_of(
    connection: aiosqlite.Connection, runtime: Any, tenant: Tenant, conversation_id: str, request: OutboundRequest
) -> SendResult | None:
    """Return the message a repeated request already created (status 200), or None.

    A request is a repeat when the same user, or N8N, sent the same ``client_message_id`` before.
    """
    if not request.client_message_id:
        return None
    # The unique indexes keep a key for good, so a repeat after
    # 24 hours also returns the first message instead of failing.
    earlier = await outbound_store.select_client_message(connection, tenant.id, request.created_by, request.client_message_id)
    if earlier is None:
        return None
    if request.created_by is None and not _same_send(earlier, conversation_id, request):
        # A workflow reusing one key for different messages would otherwise lose every message after the first.
        logger.warning("Send key of message %s reused for a different message (tenant %s)", earlier["id"], tenant.id)
        raise Conflict(KEY_REUSED, code="CONFLICT")
    view = await conversation_store.select_conversation_view(connection, tenant.id, earlier["conversation_id"])
    return SendResult(message_json(earlier, runtime.media_links.sign), conversation_json(view, tenant.hotel_units), 200)


def rejection(message: dict[str, Any]) -> WhatsAppRejected:
    """Return the error for a FAILED message: 502 for the hotel's setup, 422 for the message."""
    error = message["error"] or {}
    code = error.get("code")
    extra = {"whatsappCode": code, "message": message}
    if code is None and error.get("title") == "expired":
        rejected = WhatsAppRejected(EXPIRED_MESSAGE, extra=extra)
    elif code in MESSAGES:
        rejected = WhatsAppRejected(MESSAGES[code], extra=extra)
    elif error.get("title"):
        rejected = WhatsAppRejected("WhatsApp reported an error: {title}", params={"title": error["title"]}, extra=extra)
    else:
        rejected = WhatsAppRejected(extra=extra)
    if code in ACCOUNT_CODES:
        rejected.status = 502
    return rejected


async def _deliver(runtime: Any, tenant: Tenant, message_id: str, requeue: bool = True) -> _Delivery:
    """Call Meta for a PENDING row and record the response.

    A row left PENDING queues the conversation's outbound job unless
    ``requeue`` is False (the caller is that job). The events returned are the
    statuses that arrived before the wamid was stored.
    """
    async with runtime.db.read() as connection:
        message = await message_store.select_message(connection, tenant.id, message_id)
        contact = await outbound_store.select_recipient(connection, tenant.id, message["conversation_id"])
    graph_body = {**recipient(contact), **_graph_body(message)}

    try:
        wamid = await runtime.graph.send_message(tenant, graph_body)
    except GraphError as error:
        if isinstance(error, GraphUnavailable) or error.retryable:
            await _leave_pending(runtime, tenant, message, error, requeue)
            return _Delivery(202, retry_after=error.retry_after)
        async with runtime.db.write() as connection:
            await message_store.update_message(connection, tenant.id, message_id, status="FAILED", error=describe_error(error.as_error()))
        logger.warning("Message %s rejected by WhatsApp (tenant %s): code %s", message_id, tenant.id, error.code)
        return _Delivery(422)

    outcome = Outcome()
    async with runtime.db.write() as connection:
        await message_store.update_message(connection, tenant.id, message_id, status="SENT", whatsapp_msg_id=wamid, error=None)
        await apply_early_statuses(connection, tenant.id, message_id, outcome)
    logger.info("Message %s sent as %s (tenant %s, conversation %s)", message_id, wamid, tenant.id, message["conversation_id"])
    return _Delivery(201, outcome.events)


async def _leave_pending(runtime: Any, tenant: Tenant, message: dict, error: GraphError, requeue: bool) -> None:
    """Keep a row PENDING for a retry; a rate limit Meta named is stored so attendants see why."""
    logger.warning(
        "Message %s left PENDING (tenant %s, conversation %s): Graph API unavailable (%s)",
        message["id"], tenant.id, message["conversation_id"], error.code or error.title,
    )
    if error.code is not None:
        async with runtime.db.write() as connection:
            await message_store.update_message(connection, tenant.id, message["id"], error=describe_error(error.as_error()))
    if requeue:
        await _queue_outbound(runtime, tenant.id, message["conversation_id"])


async def _queue_outbound(runtime: Any, tenant_id: str, conversation_id: str) -> None:
    """Queue the conversation's outbound job unless one is already queued, scheduled or running.

    One job sends every PENDING row of the conversation, so a second one
    would only double the calls to Meta while it is rate limiting.
    """
    payload = {"tenantId": tenant_id, "conversationId": conversation_id}
    if not runtime.jobs.has_job("outbound", payload):
        await runtime.jobs.enqueue_async("outbound", payload)


def _graph_body(message: dict) -> dict[str, Any]:
    return json.loads(message["metadata"]).get("graphBody", {})


async def send_pending(runtime: Any, payload: dict[str, Any]) -> None:
    """Send a conversation's PENDING messages in the order they were written (the outbound job).

    Raises JobFailed while Meta stays unavailable, so the queue retries with
    backoff; a message older than ``outbound_retry_window`` is marked FAILED.
    Emits ``message:status`` for each message that leaves PENDING.
    """
    tenant = await runtime.tenants.get(payload["tenantId"])
    if tenant is None:
        return
    conversation_id = payload["conversationId"]
    window = runtime.settings.outbound_retry_window

    async with runtime.outbound_locks.hold(conversation_id):
        async with runtime.db.read() as connection:
            pending = await outbound_store.select_pending_outbound(connection, tenant.id, conversation_id)
        for position, row in enumerate(pending):
            if (now() - from_iso(row["created_at"])).total_seconds() > window:
                await _expire(runtime, tenant, row["id"])
                await _announce(runtime, tenant, row["id"])
                continue
            delivery = await _deliver(runtime, tenant, row["id"], requeue=False)
            if delivery.status_code == 202:
                raise JobFailed(
                    f"Graph API unavailable; {len(pending) - position} message(s) waiting in conversation {conversation_id}",
                    retry_after=delivery.retry_after,
                )
            await _announce(runtime, tenant, row["id"])
            for event, event_payload, rooms in delivery.events:
                await runtime.realtime.emit(event, event_payload, rooms)


async def _expire(runtime: Any, tenant: Tenant, message_id: str) -> None:
    error = {"code": None, "title": "expired", "details": None, "message": translate(EXPIRED_MESSAGE, "pt-BR")}
    async with runtime.db.write() as connection:
        await message_store.update_message(connection, tenant.id, message_id, status="FAILED", error=error)
    logger.error("Message %s not sent within the retry window (tenant %s)", message_id, tenant.id)


async def _announce(runtime: Any, tenant: Tenant, message_id: str) -> None:
    """Emit ``message:status`` with a message's current status to the tenant and conversation rooms."""
    async with runtime.db.read() as connection:
        message = await message_store.select_message(connection, tenant.id, message_id)
    payload = {
        "id": message["id"],
        "whatsappMsgId": message["whatsapp_msg_id"],
        "conversationId": message["conversation_id"],
        "status": message["status"],
        "error": message_json(message)["error"],
    }
    rooms = [tenant_room(tenant.id), conversation_room(message["conversation_id"])]
    await runtime.realtime.emit("message:status", payload, rooms)
