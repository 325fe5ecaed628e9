"""Attendants' work on conversations: hand-over, read marks and the take-over by reply.

Every change runs in one write transaction that re-reads the conversation,
applies the state table of ``domain.conversation_states`` and writes the
conversation together with its open escalation. Because the write lock
serializes transactions, two attendants taking one conversation at the same
moment see each other's result: one wins, the other gets ALREADY_ASSIGNED.
``conversation:updated`` goes to the tenant room after the commit.
"""

from __future__ import annotations

import logging
from typing import Any

import aiosqlite

from hotelbot.clock import now_iso
from hotelbot.domain import conversation_states as states
from hotelbot.services import provisioning
from hotelbot.errors import Conflict, NotFound, WindowClosed
from hotelbot.realtime.sockets import tenant_room, user_room
from hotelbot.services import audit
from hotelbot.serialize import conversation_json, reply_window
from hotelbot.storage import conversations as conversation_store
from hotelbot.storage import users as user_store
from hotelbot.storage.conversation_lists import select_last_inbound_wamid
from hotelbot.storage.tenants import Tenant
from hotelbot.whatsapp.graph import GraphError

logger = logging.getLogger(__name__)


# Marks a PATCH field the request left out, as opposed to one set to null.
UNSET: Any = object()


async def tenant_of(runtime: Any, principal: dict[str, Any]) -> Tenant:
    """Return the caller's tenant; raise NotFound if it was removed meanwhile."""
    tenant = await runtime.tenants.get(principal["tenant_id"])
    if tenant is None:
        raise NotFound("Tenant not found.")
    return tenant


async def _load(connection: aiosqlite.Connection, tenant_id: str, conversation_id: str) -> dict:
    conversation = await conversation_store.select_conversation(connection, tenant_id, conversation_id)
    if conversation is None:
        raise NotFound("Conversation not found.")
    return conversation


# -- changing ----------------------------------------------------------------


async def _update_escalation(
    connection: aiosqlite.Connection, tenant_id: str, conversation_id: str, action: str | None, stamp: str
) -> bool:
    """Start or resolve the open escalation as the decision requires; return whether it changed."""
    if action not in ("start", "resolve"):
        return False
    escalation = await conversation_store.select_open_escalation(connection, tenant_id, conversation_id)
    if escalation is None:
        return False

    if action == "start":
        if escalation["status"] != "PENDING":
            return False
        await conversation_store.update_open_escalation(
            connection, tenant_id, conversation_id, status="IN_PROGRESS", first_response_at=stamp
        )
    else:
        await conversation_store.update_open_escalation(
            connection, tenant_id, conversation_id, status="RESOLVED", resolved_at=stamp
        )
    logger.info("Escalation %s of conversation %s: %s (tenant %s)", escalation["id"], conversation_id, action, tenant_id)
    return True


async def apply_decision(
    connection: aiosqlite.Connection,
    tenant_id: str,
    conversation: dict,
    decision: states.Decision,
    stamp: str,
    actor: audit.Actor = audit.SYSTEM,
) -> bool:
    """Write a state-table decision, its escalation update and a lock change's audit entry; return whether anything changed."""
    changes = {column: value for column, value in decision.changes.items() if conversation[column] != value}
    if changes:
        await conversation_store.update_conversation(connection, tenant_id, conversation["id"], **changes)
        await audit.record_lock_change(connection, tenant_id, actor, conversation, changes)
    escalation_changed = await _update_escalation(connection, tenant_id, conversation["id"], decision.escalation, stamp)
    return bool(changes) or escalation_changed


async def _announce(runtime: Any, tenant: Tenant, view: dict, assigned_to: str | None = None) -> dict[str, Any]:
    """Emit ``conversation:updated`` (and ``conversation:assigned`` to a new assignee); return the JSON."""
    payload = {"conversation": conversation_json(view, tenant.hotel_units)}
    await runtime.realtime.emit("conversation:updated", payload, [tenant_room(tenant.id)])
    if assigned_to:
        await runtime.realtime.emit("conversation:assigned", payload, [user_room(assigned_to)])
    return payload["conversation"]


async def _active_assignee(connection: aiosqlite.Connection, tenant_id: str, user_id: Any) -> dict:
    """Return the user to assign; raise NotFound (unknown or another tenant's) or Conflict (inactive)."""
    user = await user_store.select_user(connection, tenant_id, user_id) if isinstance(user_id, str) else None
    if user is None:
        raise NotFound("User not found.")
    if not user["active"]:
        raise Conflict("This user is inactive and cannot receive conversations.")
    return user


async def assign(runtime: Any, principal: dict[str, Any], conversation_id: str, assignee_id: str) -> dict[str, Any]:
    """Assign a conversation per the state table; return it.

    Raises NotFound, Conflict (inactive assignee, closed outside the window,
    ALREADY_ASSIGNED) or Forbidden (an attendant assigning someone else).
    Emits ``conversation:updated`` and ``conversation:assigned`` to the assignee.
    """
    tenant = await tenant_of(runtime, principal)
    async with runtime.db.write() as connection:
        conversation = await _load(connection, tenant.id, conversation_id)
        assignee = await _active_assignee(connection, tenant.id, assignee_id)

        stamp = now_iso()
        decision = states.take_over(
            conversation["status"],
            assigned_to_id=conversation["assigned_to_id"],
            assignee_id=assignee["id"],
            actor_id=principal["id"],
            actor_role=principal["role"],
            can_reply=reply_window(conversation["last_inbound_at"])[0],
            stamp=stamp,
            ia_locked=bool(conversation["ia_locked"]),
        )
        changed = await apply_decision(connection, tenant.id, conversation, decision, stamp, audit.Actor.user(principal))
        if changed:
            await audit.record(
                connection, tenant.id, audit.Actor.user(principal), "CONVERSATION_ASSIGNED",
                conversation_id=conversation_id, target=assignee["id"], details={"previousStatus": conversation["status"]},
            )
        view = await conversation_store.select_conversation_view(connection, tenant.id, conversation_id)

    if not changed:
        return conversation_json(view, tenant.hotel_units)
    logger.info(
        "Conversation %s assigned to user %s by user %s (tenant %s, was %s)",
        conversation_id, assignee["id"], principal["id"], tenant.id, conversation["status"],
    )
    newly_assigned = assignee["id"] if conversation["assigned_to_id"] != assignee["id"] else None
    return await _announce(runtime, tenant, view, newly_assigned)


async def _transition(
    runtime: Any, principal: dict[str, Any], conversation_id: str, action: str
) -> dict[str, Any]:
    """Close or release a conversation in one transaction; emit ``conversation:updated`` on a change."""
    tenant = await tenant_of(runtime, principal)
    async with runtime.db.write() as connection:
        conversation = await _load(connection, tenant.id, conversation_id)
        stamp = now_iso()
        decision = states.close(conversation["status"], stamp) if action == "close" else states.release(conversation["status"])
        changed = await apply_decision(connection, tenant.id, conversation, decision, stamp, audit.Actor.user(principal))
        if changed:
            await audit.record(
                connection, tenant.id, audit.Actor.user(principal),
                "CONVERSATION_CLOSED" if action == "close" else "CONVERSATION_RELEASED",
                conversation_id=conversation_id, details={"previousStatus": conversation["status"]},
            )
        view = await conversation_store.select_conversation_view(connection, tenant.id, conversation_id)

    if not changed:
        return conversation_json(view, tenant.hotel_units)
    logger.info(
        "Conversation %s: %s by user %s (tenant %s, was %s)",
        conversation_id, action, principal["id"], tenant.id, conversation["status"],
    )
    return await _announce(runtime, tenant, view)


async def close(runtime: Any, principal: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    """Close a conversation and resolve its escalation; raise NotFound or Conflict (already closed)."""
    return await _transition(runtime, principal, conversation_id, "close")


async def release(runtime: Any, principal: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    """Hand a conversation back to the AI (BOT, unlocked, unassigned); BOT and CLOSED stay as they are."""
    return await _transition(runtime, principal, conversation_id, "release")


def _unit_slug(name: str | None, units: dict[str, str]) -> str | None:
    if name is None:
        return None
    return provisioning.unit_slug(name, units)


async def update(
    runtime: Any, principal: dict[str, Any], conversation_id: str, *, hotel_unit: Any = UNSET, priority: Any = UNSET
) -> dict[str, Any]:
    """Change a conversation's unit (a name, or None for no unit) and priority; return it.

    The open escalation follows, so the unit rooms and the dashboard see it
    where the conversation now is. Raises NotFound or ValidationFailed.
    """
    tenant = await tenant_of(runtime, principal)
    changes: dict[str, Any] = {}
    if hotel_unit is not UNSET:
        changes["hotel_unit"] = _unit_slug(hotel_unit, tenant.hotel_units)
    if priority is not UNSET:
        changes["priority"] = priority

    async with runtime.db.write() as connection:
        conversation = await _load(connection, tenant.id, conversation_id)
        changes = {column: value for column, value in changes.items() if conversation[column] != value}
        if changes:
            await conversation_store.update_conversation(connection, tenant.id, conversation_id, **changes)
            escalation_changes = {column: value for column, value in changes.items() if value is not None}
            if escalation_changes:
                await conversation_store.update_open_escalation(connection, tenant.id, conversation_id, **escalation_changes)
            await audit.record(
                connection, tenant.id, audit.Actor.user(principal), "CONVERSATION_UPDATED",
                conversation_id=conversation_id, details=changes,
            )
        view = await conversation_store.select_conversation_view(connection, tenant.id, conversation_id)

    if not changes:
        return conversation_json(view, tenant.hotel_units)
    logger.info(
        "Conversation %s updated by user %s (tenant %s): %s",
        conversation_id, principal["id"], tenant.id, ", ".join(f"{key}={value}" for key, value in changes.items()),
    )
    return await _announce(runtime, tenant, view)


async def mark_read(runtime: Any, principal: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    """Set unreadCount to 0; send WhatsApp a read receipt when the tenant enables them.

    The receipt (for the guest's latest message) goes out in the background,
    so a hotel without internet still gets the response at once.
    """
    tenant = await tenant_of(runtime, principal)
    async with runtime.db.write() as connection:
        conversation = await _load(connection, tenant.id, conversation_id)
        wamid = None
        if conversation["unread_count"]:
            await conversation_store.update_conversation(connection, tenant.id, conversation_id, unread_count=0)
            wamid = await select_last_inbound_wamid(connection, tenant.id, conversation_id)
        view = await conversation_store.select_conversation_view(connection, tenant.id, conversation_id)

    if not conversation["unread_count"]:
        return conversation_json(view, tenant.hotel_units)
    if tenant.read_receipts and wamid:
        runtime.spawn(_send_read_receipt(runtime, tenant, conversation_id, wamid), name=f"read-receipt-{conversation_id}")
    return await _announce(runtime, tenant, view)


async def _send_read_receipt(runtime: Any, tenant: Tenant, conversation_id: str, wamid: str) -> None:
    try:
        await runtime.graph.mark_read(tenant, wamid)
    except GraphError as error:
        logger.warning(
            "Read receipt for %s not sent (tenant %s, conversation %s): %s", wamid, tenant.id, conversation_id, error
        )
        return
    logger.info("Read receipt sent for %s (tenant %s, conversation %s)", wamid, tenant.id, conversation_id)


# -- replies -----------------------------------------------------------------


class ReplyTakeOver:
    """The ``prepare`` step of an attendant's send, run inside the send's transaction.

    Checks the 24-hour window (text only; templates may reach a guest outside
    it) and applies the state table's take-over by reply: IN_PROGRESS,
    assigned to the replier if nobody had it, the AI locked, the escalation
    started. After the send, ``assigned_to`` names a newly assigned user.
    """

    def __init__(self, principal: dict[str, Any], *, window_required: bool) -> None:
        self._principal = principal
        self._window_required = window_required
        self.assigned_to: str | None = None
        self.changed = False

    async def __call__(self, connection: aiosqlite.Connection, conversation: dict) -> None:
        can_reply, _ = reply_window(conversation["last_inbound_at"])
        if self._window_required and not can_reply:
            raise WindowClosed()

        stamp = now_iso()
        decision = states.take_over(
            conversation["status"],
            assigned_to_id=conversation["assigned_to_id"],
            assignee_id=self._principal["id"],
            actor_id=self._principal["id"],
            actor_role=self._principal["role"],
            # A template is the one message allowed outside the window.
            can_reply=can_reply or not self._window_required,
            stamp=stamp,
            ia_locked=bool(conversation["ia_locked"]),
            by_reply=True,
        )
        self.changed = await apply_decision(
            connection, self._principal["tenant_id"], conversation, decision, stamp, audit.Actor.user(self._principal)
        )
        if decision.changes.get("assigned_to_id") and conversation["assigned_to_id"] != self._principal["id"]:
            self.assigned_to = self._principal["id"]


async def announce_take_over(runtime: Any, tenant: Tenant, conversation: dict[str, Any], take_over: ReplyTakeOver) -> None:
    """Emit ``conversation:assigned`` to the replier when their reply assigned them the conversation.

    The send path itself emits ``conversation:updated``.
    """
    if take_over.assigned_to:
        logger.info(
            "Conversation %s taken over by a reply of user %s (tenant %s)", conversation["id"], take_over.assigned_to, tenant.id
        )
        await runtime.realtime.emit("conversation:assigned", {"conversation": conversation}, [user_room(take_over.assigned_to)])
