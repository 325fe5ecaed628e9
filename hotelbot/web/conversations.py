"""Conversation routes for attendants: the Kanban list, one conversation, its messages, hand-over."""

from __future__ import annotations

from typing import Literal

import pydantic
from quart import Blueprint, Response, g, jsonify, request

from hotelbot.errors import NotFound, ValidationFailed
from hotelbot.services import conversation_lists, conversations
from hotelbot.web.fields import single_line
from hotelbot.web.guards import require_user, runtime
from hotelbot.web.requests import decode_cursor, encode_cursor, json_body, page_limit

blueprint = Blueprint("conversations", __name__)


class AssignRequest(pydantic.BaseModel):
    assignedToId: single_line(min_length=1, max_length=64)


class UpdateRequest(pydantic.BaseModel):
    """Only the fields sent are changed; ``hotelUnit: null`` removes the unit."""

    hotelUnit: single_line(max_length=100) | None = None
    priority: Literal["LOW", "MEDIUM", "HIGH", "URGENT"] = "MEDIUM"


def _page_json(page: conversation_lists.Page) -> Response:
    cursor = encode_cursor(*page.next_cursor) if page.next_cursor else None
    return jsonify({"items": page.items, "nextCursor": cursor})


@blueprint.get("/conversations")
@require_user()
async def list_conversations() -> Response:
    limit = page_limit()
    after = decode_cursor(request.args.get("cursor"), 2)
    page = await conversation_lists.list_conversations(runtime(), g.principal, request.args, limit, after)
    return _page_json(page)


@blueprint.get("/conversations/<conversation_id>")
@require_user()
async def get_conversation(conversation_id: str) -> Response:
    conversation = await conversation_lists.get_conversation(runtime(), g.principal, conversation_id)
    return jsonify({"conversation": conversation})


@blueprint.get("/conversations/<conversation_id>/messages")
@require_user()
async def list_messages(conversation_id: str) -> Response:
    limit = page_limit()
    before = decode_cursor(request.args.get("cursor"), 3)
    page = await conversation_lists.list_messages(runtime(), g.principal, conversation_id, limit, before)
    return _page_json(page)


@blueprint.get("/messages/<message_id>")
@require_user()
async def get_message(message_id: str) -> Response:
    """Return one message; the console reads it again for a fresh link when a media link has expired."""
    if len(message_id) > 64:
        raise NotFound("Message not found.")
    return jsonify({"message": await conversation_lists.get_message(runtime(), g.principal, message_id)})


@blueprint.post("/conversations/<conversation_id>/assign")
@require_user()
async def assign(conversation_id: str) -> Response:
    body = await json_body(AssignRequest)
    conversation = await conversations.assign(runtime(), g.principal, conversation_id, body.assignedToId)
    return jsonify({"conversation": conversation})


@blueprint.post("/conversations/<conversation_id>/close")
@require_user()
async def close(conversation_id: str) -> Response:
    conversation = await conversations.close(runtime(), g.principal, conversation_id)
    return jsonify({"conversation": conversation})


@blueprint.post("/conversations/<conversation_id>/release")
@require_user()
async def release(conversation_id: str) -> Response:
    conversation = await conversations.release(runtime(), g.principal, conversation_id)
    return jsonify({"conversation": conversation})


@blueprint.patch("/conversations/<conversation_id>")
@require_user("SUPERVISOR", "ADMIN")
async def update(conversation_id: str) -> Response:
    body = await json_body(UpdateRequest)
    fields = {name: getattr(body, name) for name in body.model_fields_set}
    if not fields:
        raise ValidationFailed(
            "Send at least one of: {fields}.", params={"fields": "hotelUnit, priority"},
            details=[{"field": "body", "message": "Send at least one of: {fields}.", "params": {"fields": "hotelUnit, priority"}}],
        )
    conversation = await conversations.update(
        runtime(), g.principal, conversation_id,
        hotel_unit=fields.get("hotelUnit", conversations.UNSET),
        priority=fields.get("priority", conversations.UNSET),
    )
    return jsonify({"conversation": conversation})


@blueprint.post("/conversations/<conversation_id>/read")
@require_user()
async def mark_read(conversation_id: str) -> Response:
    conversation = await conversations.mark_read(runtime(), g.principal, conversation_id)
    return jsonify({"conversation": conversation})
