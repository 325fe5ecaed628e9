"""The AI assistant's actions: check the lock, send, escalate, set the hotel unit.

N8N names a guest by phone (as a person writes it: with or without Brazil's
ninth digit, ``+``, spaces, parentheses or dashes), by conversation id, or by
WhatsApp's business-scoped user id. Every call is confined to the tenant of
the API key, so another tenant's guest is unknown here (404).

While a conversation is iaLocked the assistant sends nothing: the lock is
checked in the transaction that stores the message, because a person may take
over between the assistant's ``check-ia-lock`` and its reply.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import aiosqlite

from hotelbot.domain.phones import mask_phone, phone_key
from hotelbot.domain.whatsapp_messages import Draft
from hotelbot.errors import Conflict, NotFound, ValidationFailed, WindowClosed
from hotelbot.realtime.sockets import tenant_room
from hotelbot.serialize import conversation_json, reply_window
from hotelbot.services import audit, escalations, outbound
from hotelbot.services.provisioning import resolve_unit
from hotelbot.storage import conversations as conversation_store

logger = logging.getLogger(__name__)

GUEST_NOT_FOUND = "No conversation found for this guest."
GUEST_MISSING = "Name the guest by phone, conversationId or userId."
INVALID_PHONE = "Invalid phone number: write it with the country code, such as 5511987654321."
IA_LOCKED = "The assistant cannot reply: a person is handling this conversation."

N8N_SENDER = {"type": "N8N"}
PRIORITIES = ("LOW", "MEDIUM", "HIGH", "URGENT")


@dataclasses.dataclass(frozen=True)
class GuestReference:
    """A guest as N8N names it. The first one given of conversation id, phone and user id is used."""

    phone: str | None = None
    conversation_id: str | None = None
    user_id: str | None = None

    def describe(self) -> str:
        """Return a form fit for logs, with the phone masked."""
        if self.conversation_id:
            return f"conversation {self.conversation_id}"
        if self.phone:
            return f"phone {mask_phone(phone_key(self.phone) or self.phone)}"
        return f"user id {self.user_id}"


def check_guest(guest: GuestReference) -> None:
    """Raise ValidationFailed when no guest is named or the phone cannot be a phone number."""
    if not (guest.conversation_id or guest.phone or guest.user_id):
        raise ValidationFailed(details=[{"field": "phone", "message": GUEST_MISSING}])
    if not guest.conversation_id and guest.phone and phone_key(guest.phone) is None:
        raise ValidationFailed(details=[{"field": "phone", "message": INVALID_PHONE}])


async def find_conversation(runtime: Any, tenant_id: str, guest: GuestReference) -> dict | None:
    """Return the guest's conversation row in the tenant, or None; raise ValidationFailed for bad input."""
    check_guest(guest)
    async with runtime.db.read() as connection:
        if guest.conversation_id:
            return await conversation_store.select_conversation(connection, tenant_id, guest.conversation_id)
        if guest.phone:
            return await conversation_store.select_conversation_by_contact(
                connection, tenant_id, phone_key=phone_key(guest.phone)
            )
        return await conversation_store.select_conversation_by_contact(connection, tenant_id, user_id=guest.user_id)


async def require_conversation(runtime: Any, tenant_id: str, guest: GuestReference) -> dict:
    """Return the guest's conversation row; raise NotFound (404) for an unknown guest."""
    conversation = await find_conversation(runtime, tenant_id, guest)
    if conversation is None:
        logger.info("N8N named an unknown guest (%s, tenant %s)", guest.describe(), tenant_id)
        raise NotFound(GUEST_NOT_FOUND)
    return conversation


async def check_ia_lock(runtime: Any, tenant_id: str, guest: GuestReference) -> dict[str, Any]:
    """Return ``{locked, conversationId, status}``, or ``{locked: false}`` for an unknown guest."""
    conversation = await find_conversation(runtime, tenant_id, guest)
    if conversation is None:
        return {"locked": False}
    return {
        "locked": bool(conversation["ia_locked"]),
        "conversationId": conversation["id"],
        "status": conversation["status"],
    }


def _assistant_may_send(needs_window: bool) -> outbound.Prepare:
    """Return the check run in the transaction that stores the message.

    It raises Conflict (409 IA_LOCKED, ``{locked: true}``) while people hold the
    conversation, and WindowClosed (422) for a free-form message after the
    guest's 24-hour window, which WhatsApp would not deliver.
    """

    async def prepare(connection: aiosqlite.Connection, conversation: dict) -> None:
        if conversation["ia_locked"]:
            logger.info("N8N send rejected: conversation %s is locked for people (tenant %s)", conversation["id"], conversation["tenant_id"])
            raise Conflict(IA_LOCKED, code="IA_LOCKED", extra={"locked": True})
        if needs_window and not reply_window(conversation["last_inbound_at"])[0]:
            logger.info("N8N send rejected: the 24-hour window of conversation %s is closed (tenant %s)", conversation["id"], conversation["tenant_id"])
            raise WindowClosed()

    return prepare


async def send(
    runtime: Any, tenant_id: str, guest: GuestReference, draft: Draft, idempotency_key: str | None = None
) -> dict[str, Any]:
    """Store and send ``draft`` to the guest through the one outbound path.

    Returns ``{messageId, whatsappMsgId, status}``: status SENT with Meta's
    wamid, or PENDING with ``whatsappMsgId`` null when Meta could not be
    reached and the message waits in the outbound queue. A request repeating
    an earlier ``idempotency_key`` of the tenant gets that message's response
    (its error when it FAILED) and sends nothing. Raises NotFound, Conflict (IA_LOCKED), WindowClosed or
    WhatsAppRejected.
    """
    conversation = await require_conversation(runtime, tenant_id, guest)
    tenant = await runtime.tenants.get(tenant_id)
    request = outbound.OutboundRequest(
        type=draft.type,
        content=draft.content,
        graph_body=draft.graph_body,
        sender=N8N_SENDER,
        metadata=draft.metadata,
        client_message_id=idempotency_key,
    )
    prepare = _assistant_may_send(needs_window=draft.type != "TEMPLATE")

    result = await outbound.send(runtime, tenant, conversation["id"], request, prepare=prepare)

    message = result.message
    if result.status_code == 200 and message["status"] == "FAILED":
        # The first send got this error. A 200 for its retry would read as a delivered reply.
        logger.info("N8N repeated the key of message %s, which failed (tenant %s)", message["id"], tenant_id)
        raise outbound.rejection(message)
    logger.info(
        "N8N %s message %s for conversation %s (tenant %s): %s",
        draft.type, message["id"], conversation["id"], tenant_id, message["status"],
    )
    return {"messageId": message["id"], "whatsappMsgId": message["whatsappMsgId"], "status": message["status"]}


async def escalate(
    runtime: Any, tenant_id: str, guest: GuestReference, *, reason: str, priority: str, hotel_unit: str | None
) -> dict[str, Any]:
    """Escalate the guest's conversation to people; return ``{escalationId, iaLocked: true}``.

    An escalation still open is returned instead of a second one. Raises
    ValidationFailed for a priority other than LOW, MEDIUM, HIGH or URGENT and
    for a unit the tenant does not have (listing the valid ones), and NotFound
    for an unknown guest.
    """
    if priority not in PRIORITIES:
        raise ValidationFailed(details=[{
            "field": "priority", "message": "Must be one of: {expected}.", "params": {"expected": ", ".join(PRIORITIES)},
        }])
    check_guest(guest)
    unit_slug = await resolve_unit(runtime.db, tenant_id, hotel_unit)
    conversation = await require_conversation(runtime, tenant_id, guest)

    escalation, created = await escalations.escalate(
        runtime, tenant_id, conversation["id"], reason=reason, priority=priority, hotel_unit=unit_slug, actor=audit.N8N
    )

    if not created:
        logger.info(
            "N8N escalation of conversation %s returned the open escalation %s (tenant %s)",
            conversation["id"], escalation["id"], tenant_id,
        )
    # Every row of the state table leaves an escalated conversation locked.
    return {"escalationId": escalation["id"], "iaLocked": True}


async def set_hotel_unit(runtime: Any, tenant_id: str, guest: GuestReference, hotel_unit: str) -> dict[str, Any]:
    """Set the conversation's hotel unit; return ``{conversationId, hotelUnit}`` with the unit's name.

    Emits ``conversation:updated`` when the unit changes. Raises
    ValidationFailed for an unknown unit (listing the valid ones) and NotFound
    for an unknown guest.
    """
    check_guest(guest)
    unit_slug = await resolve_unit(runtime.db, tenant_id, hotel_unit)
    if unit_slug is None:
        raise ValidationFailed(details=[{"field": "hotelUnit", "message": "Required field."}])
    conversation_id = (await require_conversation(runtime, tenant_id, guest))["id"]
    tenant = await runtime.tenants.get(tenant_id)
    units = tenant.hotel_units if tenant else {}

    async with runtime.db.write() as connection:
        current = await conversation_store.select_conversation(connection, tenant_id, conversation_id)
        changed = current["hotel_unit"] != unit_slug
        if changed:
            await conversation_store.update_conversation(connection, tenant_id, conversation_id, hotel_unit=unit_slug)
            await audit.record(
                connection, tenant_id, audit.N8N, "CONVERSATION_UPDATED",
                conversation_id=conversation_id, details={"hotel_unit": unit_slug},
            )
        view = await conversation_store.select_conversation_view(connection, tenant_id, conversation_id)

    if changed:
        logger.info("Conversation %s moved to unit %s by N8N (tenant %s)", conversation_id, unit_slug, tenant_id)
        payload = {"conversation": conversation_json(view, units)}
        await runtime.realtime.emit("conversation:updated", payload, [tenant_room(tenant_id)])
    return {"conversationId": conversation_id, "hotelUnit": units.get(unit_slug, hotel_unit.strip())}
