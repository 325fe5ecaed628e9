"""Meta's WhatsApp webhook: the verification handshake and signed notifications."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging

from quart import Blueprint, Response, jsonify, request

from hotelbot import metrics
from hotelbot.errors import PayloadTooLarge, ServiceUnavailable, Unauthorized, ValidationFailed, Forbidden
from hotelbot.storage import inbox as inbox_store
from hotelbot.web.guards import runtime
from hotelbot.whatsapp.signature import signature_matches

logger = logging.getLogger(__name__)

blueprint = Blueprint("webhooks", __name__)


@blueprint.get("/webhooks/whatsapp")
async def verify() -> Response:
    """Answer Meta's subscription handshake with the bare challenge when the token matches."""
    mode = request.args.get("hub.mode")
    token = request.args.get("hub.verify_token", "")
    challenge = request.args.get("hub.challenge", "")

    tenants = await runtime().tenants.all()
    matched = False
    for tenant in tenants:
        matched |= hmac.compare_digest(tenant.verify_token.encode(), token.encode())
    if mode != "subscribe" or not token or not matched or not challenge or len(challenge) > 200:
        logger.warning("Webhook verification refused (mode=%s) from %s", mode, request.remote_addr)
        raise Forbidden("Verification failed.")

    logger.info("Webhook verification accepted")
    return Response(challenge, status=200, content_type="text/plain; charset=utf-8")


async def _store_and_queue(body: bytes) -> int:
    async with runtime().db.write() as connection:
        inbox_id = await inbox_store.insert_inbox(connection, body)
    await runtime().jobs.enqueue_async("inbound", {"inboxId": inbox_id})
    return inbox_id


@blueprint.post("/webhooks/whatsapp")
async def receive() -> Response:
    """Check the signature, store the raw body in the inbox and answer 200 at once."""
    limit = runtime().settings.webhook_max_bytes
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(params={"limit": limit})
    body = await request.get_data(as_text=False)

    secrets = await runtime().tenants.app_secrets()
    if not signature_matches(body, request.headers.get("X-Hub-Signature-256"), secrets):
        logger.warning("Webhook with a missing or invalid signature from %s (%d bytes)", request.remote_addr, len(body))
        metrics.WEBHOOKS.labels("unauthorized").inc()
        raise Unauthorized("Invalid signature.")

    if request.mimetype != "application/json":
        raise ValidationFailed(
            "Content-Type must be application/json.",
            details=[{"field": "Content-Type", "message": "Content-Type must be application/json."}],
        )
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        logger.warning("Signed webhook with malformed JSON (%d bytes) rejected", len(body))
        raise ValidationFailed("Malformed JSON body.") from None

    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        logger.warning("Signed webhook of unknown shape acknowledged and not stored (%d bytes)", len(body))
        metrics.WEBHOOKS.labels("unknown_shape").inc()
        return jsonify({"ok": True})

    try:
        # Shielded so a client that disconnects cannot cancel between the insert and the enqueue.
        inbox_id = await asyncio.shield(_store_and_queue(body))
    except Exception:
        logger.exception("Webhook could not be stored; answering 503 so Meta retries")
        metrics.WEBHOOKS.labels("store_failed").inc()
        raise ServiceUnavailable() from None
    metrics.WEBHOOKS.labels("accepted").inc()
    logger.debug("Webhook stored as inbox %d", inbox_id)
    return jsonify({"ok": True})
