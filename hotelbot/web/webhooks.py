"""Meta's WhatsApp webhook: the verification handshake and signed notifications."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging

from quart import Blueprint, Response, jsonify, request
from quart.blueprints import BlueprintSetupState
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

from hotelbot import metrics
from hotelbot.errors import PayloadTooLarge, ServiceUnavailable, Unauthorized, ValidationFailed, Forbidden
from hotelbot.web.body_limits import allow_large_body
from hotelbot.web.guards import runtime
from hotelbot.web.requests import client_address
from hotelbot.whatsapp.signature import signature_matches

logger = logging.getLogger(__name__)

blueprint = Blueprint("webhooks", __name__)

WEBHOOK_PATH = "/webhooks/whatsapp"
# A body over the limit is still read and dropped, up to this many times the limit,
# because a client still sending when the 413 goes out gets a connection reset instead.
DRAIN_FACTOR = 4


@blueprint.record_once
def _declare_body_limit(state: BlueprintSetupState) -> None:
    settings = state.app.extensions["hotelbot"].settings
    allow_large_body(WEBHOOK_PATH, settings.webhook_max_bytes * DRAIN_FACTOR, state.app.config["BODY_TIMEOUT"])


@blueprint.get(WEBHOOK_PATH)
async def verify() -> Response:
    """Respond to Meta's subscription handshake with the bare challenge when the token matches."""
    mode = request.args.get("hub.mode")
    token = request.args.get("hub.verify_token", "")
    challenge = request.args.get("hub.challenge", "")

    tenants = await runtime().tenants.all()
    matched = False
    for tenant in tenants:
        matched |= hmac.compare_digest(tenant.verify_token.encode(), token.encode())
    if mode != "subscribe" or not token or not matched or not challenge or len(challenge) > 200:
        logger.warning("Webhook verification refused (mode=%s) from %s", mode, client_address())
        raise Forbidden("Verification failed.")

    logger.info("Webhook verification accepted")
    return Response(challenge, status=200, content_type="text/plain; charset=utf-8")


async def _read_body(limit: int) -> bytes:
    """Return the raw body; raise PayloadTooLarge when it exceeds ``limit`` bytes.

    An oversized body is read to its end and dropped rather than kept in memory.
    """
    received = bytearray()
    size = 0
    try:
        async with asyncio.timeout(request.body_timeout):
            async for chunk in request.body:
                size += len(chunk)
                if size <= limit:
                    received += chunk
    except RequestEntityTooLarge:
        size = limit + 1
    except TimeoutError:
        raise RequestTimeout() from None

    if size > limit:
        logger.warning("Webhook body over %d bytes from %s rejected", limit, client_address())
        raise PayloadTooLarge(params={"limit": limit})
    return bytes(received)


def _phone_number_ids(payload: dict) -> set[str]:
    """Return every ``metadata.phone_number_id`` named in the body's entries, skipping malformed parts."""
    found = set()
    for entry in payload["entry"]:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            value = change.get("value") if isinstance(change, dict) else None
            metadata = value.get("metadata") if isinstance(value, dict) else None
            number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
            if isinstance(number, str):
                found.add(number)
    return found


async def _check_signer_owns_numbers(body: bytes, payload: dict) -> None:
    """Raise Unauthorized unless each known phone number id's tenant has the app secret that signed the body.

    Without this, a tenant holding its own app secret could sign a body naming
    another tenant's phone number id and write guest messages into that tenant.
    """
    header = request.headers.get("X-Hub-Signature-256")
    for number in _phone_number_ids(payload):
        tenant = await runtime().tenants.by_phone_number_id(number)
        if tenant is not None and not signature_matches(body, header, [tenant.app_secret]):
            logger.warning("Webhook for tenant %s signed with another tenant's app secret from %s",
                           tenant.id, client_address())
            metrics.WEBHOOKS.labels("unauthorized").inc()
            raise Unauthorized("Invalid signature.")


@blueprint.post(WEBHOOK_PATH)
async def receive() -> Response:
    """Check the signature, store the raw body in the inbox and respond 200 at once."""
    body = await _read_body(runtime().settings.webhook_max_bytes)

    secrets = await runtime().tenants.app_secrets()
    if not signature_matches(body, request.headers.get("X-Hub-Signature-256"), secrets):
        logger.warning("Webhook with a missing or invalid signature from %s (%d bytes)", client_address(), len(body))
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

    await _check_signer_owns_numbers(body, payload)

    try:
        # Concurrent webhooks share one inbox commit, and the 200 goes out only after it.
        # A body is committed even when its client disconnects before the commit ends.
        await runtime().intake.store(body)
    except Exception:
        logger.exception("Storing a webhook failed; responding 503 so Meta retries")
        metrics.WEBHOOKS.labels("store_failed").inc()
        raise ServiceUnavailable() from None
    metrics.WEBHOOKS.labels("accepted").inc()
    return jsonify({"ok": True})
