"""Reading conversations for attendants: the Kanban list with its filters, one conversation, its messages."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from hotelbot import clock
from hotelbot.domain.units import match_unit
from hotelbot.errors import NotFound, ValidationFailed
from hotelbot.serialize import conversation_json, message_json
from hotelbot.services.conversations import tenant_of
from hotelbot.storage import conversations as conversation_store
from hotelbot.storage import messages as message_store
from hotelbot.storage.conversation_lists import ConversationFilter, select_conversation_page

STATUSES = ("BOT", "OPEN", "IN_PROGRESS", "CLOSED")
PRIORITIES = ("LOW", "MEDIUM", "HIGH", "URGENT")
SEARCH_MAX_LENGTH = 100
_SEPARATORS = re.compile(r"[\s().\-+]")


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of a list: the items as the API returns them and the cursor of the next page."""

    items: list[dict[str, Any]]
    next_cursor: tuple[str, ...] | None


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


def _closed_since_filter(args: Mapping[str, str]) -> dict[str, Any]:
    """Read ``closedSince`` (an ISO 8601 time with its offset) as the UTC string the rows store."""
    raw = (args.get("closedSince") or "").strip()
    if not raw:
        return {}
    try:
        moment = clock.from_iso(raw[:40])
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationFailed(details=[{
            "field": "closedSince", "message": "Must be a date and time with its offset, as 2026-12-04T03:00:00Z.",
        }])
    return {"closed_since": clock.to_iso(moment)}


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
        **_closed_since_filter(args),
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


async def get_message(runtime: Any, principal: dict[str, Any], message_id: str) -> dict[str, Any]:
    """Return one message as the API shows it, its media link signed anew; raise NotFound for an unknown or foreign id."""
    async with runtime.db.read() as connection:
        row = await message_store.select_message(connection, principal["tenant_id"], message_id)
    if row is None:
        raise NotFound("Message not found.")
    return message_json(row, runtime.media_links.sign)


async def list_messages(
    runtime: Any, principal: dict[str, Any], conversation_id: str, limit: int, before: tuple[str, str, str] | None
) -> Page:
    """Return a page of a conversation's messages, newest first; raise NotFound."""
    tenant_id = principal["tenant_id"]
    async with runtime.db.read() as connection:
        if await conversation_store.select_conversation(connection, tenant_id, conversation_id) is None:
            raise NotFound("Conversation not found.")
        rows = await message_store.select_messages(connection, tenant_id, conversation_id, limit + 1, before)

    items = [message_json(row, runtime.media_links.sign) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = (last["created_at"], last["received_at"], last["id"])
    return Page(items, next_cursor)
