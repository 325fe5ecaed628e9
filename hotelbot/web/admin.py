"""Admin routes: the tenant's jobs whose attempts are spent."""

from __future__ import annotations

from quart import Blueprint, Response, g, jsonify

from hotelbot.services import dead_letters
from hotelbot.web.guards import require_user, runtime

blueprint = Blueprint("admin", __name__)


@blueprint.get("/admin/dead-letters")
@require_user("ADMIN")
async def list_dead_letters() -> Response:
    items = await dead_letters.list_dead_letters(runtime().db, tenant_id=g.principal["tenant_id"])
    return jsonify({"items": items, "nextCursor": None})


@blueprint.post("/admin/dead-letters/<dead_letter_id>/retry")
@require_user("ADMIN")
async def retry_dead_letter(dead_letter_id: str) -> Response:
    item = await dead_letters.retry_dead_letter(runtime().db, runtime().jobs, dead_letter_id, tenant_id=g.principal["tenant_id"])
    return jsonify({"deadLetter": item})


@blueprint.delete("/admin/dead-letters/<dead_letter_id>")
@require_user("ADMIN")
async def discard_dead_letter(dead_letter_id: str) -> Response:
    await dead_letters.discard_dead_letter(runtime().db, dead_letter_id, tenant_id=g.principal["tenant_id"])
    return jsonify({"ok": True})
