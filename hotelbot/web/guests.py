"""Admins answering a guest's LGPD request: export the guest's data as a zip, or erase it."""

from __future__ import annotations

import io

import pydantic
from quart import Blueprint, Response, g, jsonify

from hotelbot.services import audit, guest_data, retention
from hotelbot.web.guards import require_user, runtime
from hotelbot.web.requests import json_body

blueprint = Blueprint("guests", __name__, url_prefix="/admin/guests")


@blueprint.before_app_serving
async def _start_retention() -> None:
    runtime().spawn(retention.keep_policies(runtime()), "retention policies")


class GuestRequest(pydantic.BaseModel):
    """Names a guest by phone or by one of their conversation ids, exactly one of the two."""

    model_config = pydantic.ConfigDict(extra="forbid")

    phone: str | None = pydantic.Field(default=None, min_length=1, max_length=40)
    conversationId: str | None = pydantic.Field(default=None, min_length=1, max_length=64)

    def guest(self) -> guest_data.GuestReference:
        return guest_data.GuestReference(phone=self.phone, conversation_id=self.conversationId)


class EraseRequest(GuestRequest):
    dryRun: bool = False


@blueprint.post("/export")
@require_user("ADMIN")
async def export() -> Response:
    """Return the guest's zip as a download."""
    body = await json_body(GuestRequest)
    buffer = io.BytesIO()
    # NOTE: the archive is built in memory, so a guest with gigabytes of media needs the CLI export instead.
    await guest_data.export(
        runtime().db, runtime().data_dir.media, g.principal["tenant_id"], audit.Actor.user(g.principal), body.guest(), buffer
    )
    headers = {
        "Content-Disposition": 'attachment; filename="guest-data.zip"',
        "Cache-Control": "no-store",
    }
    return Response(buffer.getvalue(), status=200, mimetype="application/zip", headers=headers)


@blueprint.post("/erase")
@require_user("ADMIN")
async def erase() -> Response:
    """Return what was removed, or with ``dryRun`` what would be."""
    body = await json_body(EraseRequest)
    result = await guest_data.erase(
        runtime().db, runtime().data_dir.media, runtime().cache, g.principal["tenant_id"],
        audit.Actor.user(g.principal), body.guest(), dry_run=body.dryRun,
    )
    return jsonify(result)
