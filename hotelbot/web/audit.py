"""The audit trail's routes: a conversation's history and the admins' search of the whole trail."""

from __future__ import annotations

from quart import Blueprint, Response, g, jsonify, request

from hotelbot.services import audit
from hotelbot.web.guards import require_user, runtime
from hotelbot.web.requests import decode_cursor, encode_cursor, page_limit

blueprint = Blueprint("audit", __name__)


def _page_json(page: audit.Page) -> Response:
    cursor = encode_cursor(*page.next_cursor) if page.next_cursor else None
    return jsonify({"items": page.items, "nextCursor": cursor})


@blueprint.get("/conversations/<conversation_id>/events")
@require_user()
async def conversation_events(conversation_id: str) -> Response:
    limit = page_limit()
    after = decode_cursor(request.args.get("cursor"), 1)
    page = await audit.conversation_events(runtime(), g.principal, conversation_id, limit, after)
    return _page_json(page)


@blueprint.get("/audit")
@require_user("ADMIN")
async def list_audit_events() -> Response:
    limit = page_limit()
    where = audit.audit_filter(request.args)
    before = decode_cursor(request.args.get("cursor"), 1)
    page = await audit.tenant_events(runtime(), g.principal, where, limit, before)
    return _page_json(page)
