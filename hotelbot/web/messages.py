"""Attendants' replies: free text, approved templates, and the list of templates."""

from __future__ import annotations

import pydantic
from quart import Blueprint, Response, g, jsonify

from hotelbot.errors import ValidationFailed
from hotelbot.services import replies
from hotelbot.services.conversations import tenant_of
from hotelbot.services.outbound import SendResult
from hotelbot.web.fields import multi_line, single_line
from hotelbot.web.guards import require_user, runtime
from hotelbot.web.requests import json_body

blueprint = Blueprint("messages", __name__)

TEXT_MAX_LENGTH = 4096
TEMPLATE_PARAM_MAX_LENGTH = 1024
TEMPLATE_PARAMS_MAX = 20


class SendTextRequest(pydantic.BaseModel):
    conversationId: single_line(min_length=1, max_length=64)
    # WhatsApp's limit; pydantic counts code points, so an emoji is one character.
    content: multi_line(min_length=1, max_length=TEXT_MAX_LENGTH)
    clientMessageId: single_line(min_length=1, max_length=100) | None = None


class SendTemplateRequest(pydantic.BaseModel):
    conversationId: str = pydantic.Field(min_length=1, max_length=64)
    templateName: str = pydantic.Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    language: str = pydantic.Field(min_length=2, max_length=15, pattern=r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$")
    params: list[pydantic.constr(min_length=1, max_length=TEMPLATE_PARAM_MAX_LENGTH)] = pydantic.Field(
        default_factory=list, max_length=TEMPLATE_PARAMS_MAX
    )


def _sent(result: SendResult) -> Response:
    response = jsonify({"message": result.message})
    response.status_code = result.status_code
    return response


@blueprint.post("/messages/send-text")
@require_user()
async def send_text() -> Response:
    body = await json_body(SendTextRequest)
    if not body.content.strip():
        raise ValidationFailed(details=[{"field": "content", "message": "Must not be blank."}])
    result = await replies.send_text(runtime(), g.principal, body.conversationId, body.content, body.clientMessageId)
    return _sent(result)


@blueprint.post("/messages/send-template")
@require_user()
async def send_template() -> Response:
    body = await json_body(SendTemplateRequest)
    result = await replies.send_template(
        runtime(), g.principal, body.conversationId, body.templateName, body.language, list(body.params)
    )
    return _sent(result)


@blueprint.get("/templates")
@require_user()
async def list_templates() -> Response:
    tenant = await tenant_of(runtime(), g.principal)
    templates = await replies.list_templates(runtime(), tenant)
    return jsonify({"items": templates, "nextCursor": None})
