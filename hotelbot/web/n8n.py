"""The AI assistant's API (``X-API-Key``): check the lock, send, escalate, set the hotel unit.

Every route names the guest by ``phone``, ``conversationId`` or ``userId``.
Sends return ``200 {messageId, whatsappMsgId, status}``: ``status`` is SENT,
or PENDING with ``whatsappMsgId`` null when Meta was unreachable and the
message waits in the outbound queue, which sends it in order once Meta is
reachable again. A send with an ``Idempotency-Key`` header the tenant already
used returns the first send's response and sends nothing, so N8N may retry a
send whose response it lost.
"""

from __future__ import annotations

import pydantic
from quart import Blueprint, Response, g, jsonify, request

from hotelbot.domain import whatsapp_messages as messages
from hotelbot.errors import ValidationFailed
from hotelbot.services import n8n as n8n_service
from hotelbot.services.n8n import GuestReference
from hotelbot.web.fields import forbidden_character, multi_line, single_line
from hotelbot.web.guards import require_api_key, runtime
from hotelbot.web.requests import json_body, parse_model

blueprint = Blueprint("n8n", __name__, url_prefix="/n8n")

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 100


def idempotency_key() -> str | None:
    """Return the request's ``Idempotency-Key``, None without one; raise ValidationFailed for a bad one."""
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        return None

    key = raw.strip()
    if not key:
        detail = {"message": "Must have at least {min_length} character(s).", "params": {"min_length": 1}}
    elif len(key) > IDEMPOTENCY_KEY_MAX:
        detail = {"message": "Must have at most {max_length} character(s).",
                  "params": {"max_length": IDEMPOTENCY_KEY_MAX}, "limit": IDEMPOTENCY_KEY_MAX}
    elif forbidden_character(key) is not None:
        detail = {"message": "Must not contain line breaks or control characters.", "params": {}}
    elif not key.isascii():
        # HTTP header values carry no declared encoding; an ASCII key reads the same in every client.
        detail = {"message": "Must contain only ASCII letters, digits, punctuation and spaces.", "params": {}}
    else:
        return key
    raise ValidationFailed(details=[{"field": IDEMPOTENCY_HEADER, **detail}])


class GuestFields(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    phone: single_line(max_length=40) | None = None
    conversationId: single_line(max_length=64) | None = None
    userId: single_line(max_length=128) | None = None

    def guest(self) -> GuestReference:
        return GuestReference(phone=self.phone, conversation_id=self.conversationId, user_id=self.userId)


class GuestQuery(GuestFields):
    # N8N may add its own query parameters (cache busters); they are ignored.
    model_config = pydantic.ConfigDict(extra="ignore")


class SendTextRequest(GuestFields):
    body: multi_line()


class SendButtonsRequest(GuestFields):
    body: str
    buttons: list[messages.Button]
    header: messages.Header | None = None
    footer: str | None = None


class SendListRequest(GuestFields):
    body: str
    buttonText: str
    sections: list[messages.ListSection]
    header: str | None = None
    footer: str | None = None


class SendCarouselRequest(GuestFields):
    templateName: str
    language: str = "pt_BR"
    bodyParams: list[str] | None = None
    cards: list[messages.CarouselCard]


class EscalateRequest(GuestFields):
    reason: multi_line(strip_whitespace=True, min_length=1, max_length=1000)
    priority: single_line(max_length=20)
    hotelUnit: single_line(max_length=120) | None = None


class SetHotelUnitRequest(GuestFields):
    hotelUnit: single_line(min_length=1, max_length=120)


@blueprint.get("/check-ia-lock")
@require_api_key
async def check_ia_lock() -> Response:
    query = parse_model(GuestQuery, request.args.to_dict())
    return jsonify(await n8n_service.check_ia_lock(runtime(), g.tenant_id, query.guest()))


@blueprint.post("/send-text")
@require_api_key
async def send_text() -> Response:
    key = idempotency_key()
    body = await json_body(SendTextRequest)
    draft = messages.text_message(body.body)
    return jsonify(await n8n_service.send(runtime(), g.tenant_id, body.guest(), draft, key))


@blueprint.post("/send-buttons")
@require_api_key
async def send_buttons() -> Response:
    key = idempotency_key()
    body = await json_body(SendButtonsRequest)
    draft = messages.buttons_message(body.body, body.buttons, body.header, body.footer)
    return jsonify(await n8n_service.send(runtime(), g.tenant_id, body.guest(), draft, key))


@blueprint.post("/send-list")
@require_api_key
async def send_list() -> Response:
    key = idempotency_key()
    body = await json_body(SendListRequest)
    draft = messages.list_message(body.body, body.buttonText, body.sections, body.header, body.footer)
    return jsonify(await n8n_service.send(runtime(), g.tenant_id, body.guest(), draft, key))


@blueprint.post("/send-carousel")
@require_api_key
async def send_carousel() -> Response:
    key = idempotency_key()
    body = await json_body(SendCarouselRequest)
    draft = messages.carousel_template(
        body.templateName, body.language, body.cards, body.bodyParams, runtime().settings.language
    )
    result = await n8n_service.send(runtime(), g.tenant_id, body.guest(), draft, key)
    return jsonify({**result, "cardsCount": len(body.cards)})


@blueprint.post("/escalate")
@require_api_key
async def escalate() -> Response:
    body = await json_body(EscalateRequest)
    result = await n8n_service.escalate(
        runtime(), g.tenant_id, body.guest(), reason=body.reason, priority=body.priority, hotel_unit=body.hotelUnit
    )
    return jsonify(result)


@blueprint.post("/set-hotel-unit")
@require_api_key
async def set_hotel_unit() -> Response:
    body = await json_body(SetHotelUnitRequest)
    return jsonify(await n8n_service.set_hotel_unit(runtime(), g.tenant_id, body.guest(), body.hotelUnit))
