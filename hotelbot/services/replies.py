"""Attendants' replies to guests: free text inside the 24-hour window, approved templates outside it.

Both go through :func:`hotelbot.services.outbound.send`, with the take-over of
:class:`hotelbot.services.conversations.ReplyTakeOver` as its ``prepare``
step. The tenant's approved templates come from Meta and are kept in memory
for a few minutes per tenant.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from typing import Any

from hotelbot.errors import Conflict, ServiceUnavailable, ValidationFailed, WhatsAppRejected
from hotelbot.serialize import conversation_json
from hotelbot.services import conversation_lists
from hotelbot.services import conversations as conversation_service
from hotelbot.services.outbound import OutboundRequest, SendResult, send
from hotelbot.storage import conversations as conversation_store
from hotelbot.storage import users as user_store
from hotelbot.storage.tenants import Tenant
from hotelbot.whatsapp.errors import MESSAGES
from hotelbot.whatsapp.graph import GraphError, GraphUnavailable

logger = logging.getLogger(__name__)

TEMPLATE_CACHE_SECONDS = 300.0
_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
_LINK = re.compile(r"https?://", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class _CachedTemplates:
    waba_id: str
    expires: float
    templates: list[dict[str, Any]]


class TemplateCache:
    """Approved templates per tenant, kept for ``TEMPLATE_CACHE_SECONDS``."""

    def __init__(self) -> None:
        self._entries: dict[str, _CachedTemplates] = {}

    def get(self, tenant: Tenant) -> list[dict[str, Any]] | None:
        entry = self._entries.get(tenant.id)
        if entry is None or entry.waba_id != tenant.waba_id or entry.expires < time.monotonic():
            return None
        return entry.templates

    def put(self, tenant: Tenant, templates: list[dict[str, Any]]) -> None:
        self._entries[tenant.id] = _CachedTemplates(tenant.waba_id or "", time.monotonic() + TEMPLATE_CACHE_SECONDS, templates)


_templates = TemplateCache()


def _template_json(template: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": template.get("name"),
        "language": template.get("language"),
        "status": template.get("status"),
        "category": template.get("category"),
        "components": template.get("components") or [],
    }


async def list_templates(runtime: Any, tenant: Tenant) -> list[dict[str, Any]]:
    """Return the tenant's approved templates (cached for a few minutes).

    Raises Conflict when the tenant has no WABA id, ServiceUnavailable when
    Meta cannot be reached, WhatsAppRejected (502) when Meta rejects the call.
    """
    cached = _templates.get(tenant)
    if cached is not None:
        return cached
    if not tenant.waba_id:
        raise Conflict(
            "This hotel's WhatsApp Business Account id is not set. An administrator can set it with hotelbot tenant update.",
            code="NOT_CONFIGURED",
        )

    try:
        raw = await runtime.graph.list_templates(tenant)
    except GraphUnavailable:
        raise ServiceUnavailable() from None
    except GraphError as error:
        rejected = WhatsAppRejected(MESSAGES.get(error.code, WhatsAppRejected.message), extra={"whatsappCode": error.code})
        rejected.status = 502
        raise rejected from None

    templates = [_template_json(template) for template in raw if isinstance(template, dict)]
    _templates.put(tenant, templates)
    logger.info("Loaded %d approved template(s) for tenant %s", len(templates), tenant.id)
    return templates


async def attendant_sender(runtime: Any, principal: dict[str, Any]) -> dict[str, Any]:
    async with runtime.db.read() as connection:
        user = await user_store.select_user(connection, principal["tenant_id"], principal["id"])
    return {"type": "ATTENDANT", "userId": principal["id"], "name": user["name"] if user else None}


async def send_as_attendant(
    runtime: Any, principal: dict[str, Any], conversation_id: str, request: OutboundRequest, *, window_required: bool
) -> SendResult:
    """Send with the take-over by reply; emit ``conversation:assigned`` when the reply assigned the sender."""
    tenant = await conversation_service.tenant_of(runtime, principal)
    take_over = conversation_service.ReplyTakeOver(principal, window_required=window_required)
    try:
        result = await send(runtime, tenant, conversation_id, request, prepare=take_over)
    except WhatsAppRejected:
        await _announce_after_failure(runtime, tenant, conversation_id, take_over)
        raise
    await conversation_service.announce_take_over(runtime, tenant, result.conversation, take_over)
    return result


async def _announce_after_failure(
    runtime: Any, tenant: Tenant, conversation_id: str, take_over: conversation_service.ReplyTakeOver
) -> None:
    """A reply Meta refused has still taken the conversation: tell the new assignee."""
    if not take_over.assigned_to:
        return
    async with runtime.db.read() as connection:
        view = await conversation_store.select_conversation_view(connection, tenant.id, conversation_id)
    await conversation_service.announce_take_over(runtime, tenant, conversation_json(view, tenant.hotel_units), take_over)


async def send_text(
    runtime: Any, principal: dict[str, Any], conversation_id: str, content: str, client_message_id: str | None
) -> SendResult:
    """Send an attendant's text; raise NotFound, WindowClosed (outside the 24 hours) or WhatsAppRejected."""
    graph_body: dict[str, Any] = {"type": "text", "text": {"body": content}}
    if _LINK.search(content):
        graph_body["text"]["preview_url"] = True
    request = OutboundRequest(
        type="TEXT",
        content=content,
        graph_body=graph_body,
        sender=await attendant_sender(runtime, principal),
        client_message_id=client_message_id,
        created_by=principal["id"],
    )
    return await send_as_attendant(runtime, principal, conversation_id, request, window_required=True)


def _body_text(template: dict[str, Any]) -> str | None:
    for component in template.get("components") or []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == "BODY":
            return component.get("text")
    return None


def _check_template(template: dict[str, Any] | None, name: str, language: str, params: list[str], names: list[str]) -> None:
    """Raise ValidationFailed for a template Meta did not approve or a wrong number of parameters."""
    if template is None:
        valid = ", ".join(sorted(set(names))) or "-"
        raise ValidationFailed(
            "Unknown template {name} ({locale}). Approved templates: {valid}.",
            params={"name": name, "locale": language, "valid": valid},
            details=[{"field": "templateName", "message": "Unknown template.", "params": {}}],
        )
    expected = len(set(_PLACEHOLDER.findall(_body_text(template) or "")))
    if expected != len(params):
        raise ValidationFailed(details=[{
            "field": "params", "message": "This template takes {expected} parameter(s).",
            "params": {"expected": expected}, "limit": expected,
        }])


async def _approved_template(runtime: Any, tenant: Tenant, name: str, language: str, params: list[str]) -> dict | None:
    """Find the template among the approved ones; None when the list cannot be read now."""
    try:
        templates = await list_templates(runtime, tenant)
    except (Conflict, ServiceUnavailable, WhatsAppRejected) as error:
        logger.warning("Template %s sent unchecked (tenant %s): template list unavailable (%s)", name, tenant.id, error.code)
        return None
    template = next((item for item in templates if item["name"] == name and item["language"] == language), None)
    _check_template(template, name, language, params, [item["name"] for item in templates])
    return template


def _template_summary(template: dict[str, Any] | None, name: str, params: list[str]) -> str:
    """Return the text the guest reads, or the name and parameters when the template is unknown."""
    body = _body_text(template) if template else None
    if body is None:
        return " | ".join([name, *params])
    return _PLACEHOLDER.sub(lambda match: params[int(match.group(1)) - 1] if 0 < int(match.group(1)) <= len(params) else match.group(0), body)


async def send_template(
    runtime: Any, principal: dict[str, Any], conversation_id: str, name: str, language: str, params: list[str]
) -> SendResult:
    """Send an approved template (allowed outside the 24-hour window); raise NotFound, ValidationFailed or WhatsAppRejected.

    An unknown conversation is NotFound before the template is checked. The template and its parameter count are checked against Meta's list when
    it can be read; otherwise Meta checks them and its error is returned.
    """
    tenant = await conversation_service.tenant_of(runtime, principal)
    await conversation_lists.get_conversation(runtime, principal, conversation_id)
    template = await _approved_template(runtime, tenant, name, language, params)
    components = [{"type": "body", "parameters": [{"type": "text", "text": value} for value in params]}] if params else []
    graph_body = {"type": "template", "template": {"name": name, "language": {"code": language}, "components": components}}
    request = OutboundRequest(
        type="TEMPLATE",
        content=_template_summary(template, name, params),
        graph_body=graph_body,
        sender=await attendant_sender(runtime, principal),
        metadata={"templateName": name, "language": language, "params": params},
        created_by=principal["id"],
    )
    return await send_as_attendant(runtime, principal, conversation_id, request, window_required=False)

