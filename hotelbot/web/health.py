"""Health and Prometheus metrics."""

from __future__ import annotations

import asyncio
import ipaddress

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from quart import Blueprint, Response, jsonify

from hotelbot import __version__, metrics
from hotelbot.clock import now_iso
from hotelbot.errors import NotFound
from hotelbot.services.health import health_report
from hotelbot.storage import health as health_store
from hotelbot.web.guards import runtime
from hotelbot.web.requests import client_address

blueprint = Blueprint("health", __name__)


@blueprint.get("/livez")
async def livez() -> Response:
    """Return 200 while the process serves HTTP, with no checks and no I/O.

    For load balancers that probe often, and the benchmark's baseline; ``/healthz``
    writes to the database and reads the disk on every call.
    """
    return jsonify({"status": "ok"})


@blueprint.get("/healthz")
async def healthz() -> Response:
    """Answer 200 while the service can do its job, 503 when a check is failing."""
    report = await health_report(runtime())
    response = jsonify({"version": __version__, "time": now_iso(), **report})
    response.status_code = 503 if report["status"] == "failing" else 200
    return response


def _private_client() -> bool:
    try:
        address = ipaddress.ip_address(client_address())
    except ValueError:
        return False
    return address.is_private or address.is_loopback


@blueprint.get("/metrics")
async def prometheus_metrics() -> Response:
    """Prometheus text format, for scrapers on the server itself or the LAN only."""
    if not _private_client():
        raise NotFound()

    async with runtime().db.read() as connection:
        dead = await health_store.count_open_dead_letters(connection)
        inbox = await health_store.select_inbox_backlog(connection)
    metrics.DEAD_LETTERS.set(dead)
    metrics.INBOX_BACKLOG.set(inbox["backlog"])
    metrics.QUEUE_DEPTH.set(await asyncio.to_thread(runtime().jobs.pending_count))
    metrics.SOCKETS.set(runtime().realtime.connected_count())
    return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)
