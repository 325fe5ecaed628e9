"""Escalating a conversation to people, per the conversation state table."""

from __future__ import annotations

import logging
from typing import Any

from hotelbot.clock import now_iso
from hotelbot.domain import conversation_states as states
from hotelbot.errors import NotFound
from hotelbot.realtime.sockets import tenant_room, unit_room
from hotelbot.services import audit
from hotelbot.serialize import conversation_json, escalation_json
from hotelbot.storage import conversations as conversation_store

logger = logging.getLogger(__name__)


def escalation_rooms(tenant_id: str, hotel_unit: str | None) -> list[str]:
    """Rooms of ``escalation:new``: the unit's room and ``unit:*``, or the tenant room with no unit."""
    if hotel_unit:
        return [unit_room(tenant_id, hotel_unit), unit_room(tenant_id, None)]
    return [tenant_room(tenant_id)]


async def escalate(
    runtime: Any,
    tenant_id: str,
    conversation_id: str,
    *,
    reason: str,
    priority: str | None = None,
    hotel_unit: str | None = None,
    actor: audit.Actor = audit.SYSTEM,
) -> tuple[dict, bool]:
    """Escalate a conversation; return (escalation JSON, whether it was created now).

    A conversation that already has an open escalation returns that one. The
    conversation's unit and priority are set when given. Emits
    ``escalation:new`` (for a new escalation) and ``conversation:updated``.
    The audit trail gets the escalation and the AI lock it sets, by ``actor``.
    """
    tenant = await runtime.tenants.get(tenant_id)
    created = False
    async with runtime.db.write() as connection:
        conversation = await conversation_store.select_conversation(connection, tenant_id, conversation_id)
        if conversation is None:
            raise NotFound("Conversation not found.")

        stamp = now_iso()
        decision = states.escalate(conversation["status"], stamp)
        changes = dict(decision.changes)
        if hotel_unit:
            changes["hotel_unit"] = hotel_unit
        if priority:
            changes["priority"] = priority
        if changes:
            await conversation_store.update_conversation(connection, tenant_id, conversation_id, **changes)
            await audit.record_lock_change(connection, tenant_id, actor, conversation, changes)

        escalation = await conversation_store.select_open_escalation(connection, tenant_id, conversation_id)
        if escalation is None:
            escalation = await conversation_store.insert_escalation(
                connection,
                tenant_id,
                conversation_id=conversation_id,
                reason=reason,
                hotel_unit=hotel_unit or conversation["hotel_unit"],
                priority=priority or conversation["priority"],
            )
            created = True
            # The reason is free text written about the guest, so it stays out of the trail.
            await audit.record(
                connection, tenant_id, actor, "CONVERSATION_ESCALATED", conversation_id=conversation_id,
                target=escalation["id"], details={"priority": escalation["priority"], "hotelUnit": escalation["hotel_unit"]},
            )
        view = await conversation_store.select_conversation_view(connection, tenant_id, conversation_id)

    units = tenant.hotel_units if tenant else {}
    escalation_payload = escalation_json(escalation, units)
    conversation_payload = conversation_json(view, units)
    if created:
        logger.info(
            "Conversation %s escalated (tenant %s, escalation %s, priority %s)",
            conversation_id, tenant_id, escalation["id"], escalation["priority"],
        )
        await runtime.realtime.emit(
            "escalation:new",
            {"escalation": escalation_payload, "conversation": conversation_payload},
            escalation_rooms(tenant_id, escalation["hotel_unit"]),
        )
    if created or changes:
        await runtime.realtime.emit("conversation:updated", {"conversation": conversation_payload}, [tenant_room(tenant_id)])
    return escalation_payload, created
