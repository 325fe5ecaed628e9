"""Liveness and health."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from hotelbot import __version__
from hotelbot.clock import now_iso
from hotelbot.storage import inbox as inbox_store
from hotelbot.web.guards import runtime

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
async def healthz() -> Response:
    async with runtime().db.read() as connection:
        oldest = await inbox_store.select_oldest_unprocessed(connection)
    return jsonify({"status": "ok", "version": __version__, "time": now_iso(), "oldestUnprocessedWebhook": oldest})
