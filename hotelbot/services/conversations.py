"""Attendants' work on conversations: the Kanban list, hand-over and read marks.

Every change runs in one write transaction that re-reads the conversation,
applies the state table of ``domain.conversation_states`` and writes the
conversation together with its open escalation. Because the write lock
serializes transactions, two attendants taking one conversation at the same
moment see each other's result: one wins, the other gets ALREADY_ASSIGNED.
``conversation:updated`` goes to the tenant room after the commit.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from typing import Any

import aiosqlite

from hotelbot.clock import now_iso
from hotelbot.domain import conversation_states as states
from hotelbot.domain.units import match_unit
from hotelbot.errors import Conflict, NotFound, ValidationFailed, WindowClosed
from hotelbot.realtime.sockets import tenant_room, user_room
from hotelbot.serialize import conversation_json, message_json, reply_window
from hotelbot.storage import conversations as conversation_store
from hotelbot.storage import messages as message_store
from hotelbot.storage import users as user_store
from hotelbot.storage.conversation_lists import ConversationFilter, select_conversation_page, select_last_inbound_wamid
from hotelbot.storage.tenants import Tenant
from hotelbot.whatsapp.graph import GraphError

logger = logging.getLogger(__name__)

STATUSES = ("BOT", "OPEN", "IN_PROGRESS", "CLOSED")
PRIORITIES = ("LOW", "MEDIUM", "HIGH", "URGENT")
SEARCH_MAX_LENGTH = 100
_SEPARATORS = re.compile(r"[\s().\-+]")

# Marks a PATCH field the request left out, as opposed to one set to null.
UNSET: Any = object()


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of a list: the items as the API returns them and the cursor of the next page."""

    items: list[dict[str, Any]]
    next_cursor: tuple[str, ...] | None


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


# -- reading -----------------------------------------------------------------


def _choices(args: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """Read a comma-separated filter such as ``status=OPEN,IN_PROGRESS``; raise ValidationFailed."""
    raw = args.get(name)
    if not raw:
        return ()
    values = tuple(part.strip().upper() for part in raw.split(",") if part.strip())
    if not values or any(value not in allowed for value in values):
        raise ValidationFailed(details=[{
            "field": name, "message": "Must be one of: {expected}.", "params": {"expected": ", ".join(allowed)},
        }])
    return values


def _unit_filter(args: Mapping[str, str], principal: dict[str, Any], units: dict[str, str]) -> dict[str, Any]:
    """Return the unit fields of the filter: ``all``, ``none``, a unit name, or the caller's default.

    An attendant with a unit sees that unit and conversations with no unit
    unless they ask for something else; everyone else sees every unit.
    """
    raw = (args.get("hotelUnit") or "").strip()
    if not raw:
        if principal["role"] == "ATTENDANT" and principal["hotel_unit"]:
            return {"unit_slug": principal["hotel_unit"], "include_no_unit": True}
        return {}
    if raw.lower() == "all":
        return {}
    if raw.lower() == "none":
        return {"only_no_unit": True}
    slug = match_unit(raw, units)
    if slug is None:
        valid = ", ".join(["all", "none", *units.values()])
        raise ValidationFailed(details=[{
            "field": "hotelUnit", "message": "Unknown hotel unit. Valid units: {valid}.", "params": {"valid": valid},
        }])
    return {"unit_slug": slug}


def _assignee_filter(args: Mapping[str, str], principal: dict[str, Any]) -> dict[str, Any]:
    raw = (args.get("assignedToId") or "").strip()
    if not raw:
        return {}
    if raw == "me":
        return {"assigned_to_id": principal["id"]}
    if raw == "none":
        return {"unassigned": True}
    return {"assigned_to_id": raw[:64]}


def _search_filter(args: Mapping[str, str]) -> dict[str, Any]:
    text = " ".join((args.get("search") or "").split())
    if not text:
        return {}
    if len(text) > SEARCH_MAX_LENGTH:
        raise ValidationFailed(details=[{
            "field": "search", "message": "Must have at most {max_length} character(s).",
            "params": {"max_length": SEARCH_MAX_LENGTH}, "limit": SEARCH_MAX_LENGTH,
        }])
    digits = _SEPARATORS.sub("", text)
    return {"search": text, "search_digits": digits if digits.isdigit() and len(digits) >= 3 else None}


def conversation_filter(
    args: Mapping[str, str], principal: dict[str, Any], units: dict[str, str], after: tuple[str, str] | None
) -> ConversationFilter:
    """Build the list filter from query parameters; raise ValidationFailed naming the invalid one."""
    return ConversationFilter(
        statuses=_choices(args, "status", STATUSES),
        priorities=_choices(args, "priority", PRIORITIES),
        after=after,
        **_unit_filter(args, principal, units),
        **_assignee_filter(args, principal),
        **_search_filter(args),
    )


async def list_conversations(
    runtime: Any, principal: dict[str, Any], args: Mapping[str, str], limit: int, after: tuple[str, str] | None
) -> Page:
    """Return a page of the tenant's conversations, newest lastMessageAt first."""
    tenant = await tenant_of(runtime, principal)
    selection = conversation_filter(args, principal, tenant.hotel_units, after)
    async with runtime.db.read() as connection:
        rows = await select_conversation_page(connection, tenant.id, selection, limit + 1)

    items = [conversation_json(row, tenant.hotel_units) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = (last["last_message_at"] or "", last["id"])
    return Page(items, next_cursor)


async def get_conversation(runtime: Any, principal: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    """Return one conversation as the API shows it; raise NotFound for an unknown or foreign id."""
    tenant = await tenant_of(runtime, principal)
    async with runtime.db.read() as connection:
        view = await conversation_store.select_conversation_view(connection, tenant.id, conversation_id)
    if view is None:
        raise NotFound("Conversation not found.")
    return conversation_json(view, tenant.hotel_units)


async def list_messages(
    runtime: Any, principal: dict[str, Any], conversation_id: str, limit: int, before: tuple[str, str] | None
) -> Page:
    """Return a page of a conversation's messages, newest first; raise NotFound."""
    tenant_id = principal["tenant_id"]
    async with runtime.db.read() as connection:
        await _load(connection, tenant_id, conversation_id)
        rows = await message_store.select_messages(connection, tenant_id, conversation_id, limit + 1, before)

    items = [message_json(row, runtime.media_links.sign) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = (last["created_at"], last["id"])
    return Page(items, next_cursor)


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
    connection: aiosqlite.Connection, tenant_id: str, conversation: dict, decision: states.Decision, stamp: str
) -> bool:
    """Write a state-table decision and its escalation update; return whether anything changed."""
    changes = {column: value for column, value in decision.changes.items() if conversation[column] != value}
    if changes:
        await conversation_store.update_conversation(connection, tenant_id, conversation["id"], **changes)
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
        changed = await apply_decision(connection, tenant.id, conversation, decision, stamp)
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
        changed = await apply_decision(connection, tenant.id, conversation, decision, stamp)
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
    slug = match_unit(name, units)
    if slug is None:
        valid = ", ".join(units.values()) or "-"
        raise ValidationFailed(
            "Unknown hotel unit. Valid units: {valid}.", params={"valid": valid},
            details=[{"field": "hotelUnit", "message": "Unknown hotel unit. Valid units: {valid}.", "params": {"valid": valid}}],
        )
    return slug


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
        self.changed = await apply_decision(connection, self._principal["tenant_id"], conversation, decision, stamp)
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
