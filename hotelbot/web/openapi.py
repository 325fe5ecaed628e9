"""An OpenAPI 3.1 description of the HTTP API, built from the app's routes and request models.

Paths and methods come from the app's ``url_map``, so every route appears.
Request bodies come from the pydantic models in ``REQUEST_MODELS``, and query
parameters from ``QUERY_PARAMETERS`` and headers from ``HEADER_PARAMETERS``. Responses are described only as the one
JSON error shape, because the success bodies are documented in the README's
API section. The description serves ``GET /openapi.json`` and the
Schemathesis run in ``tests/test_api_schema.py``.
"""

from __future__ import annotations

import re
from typing import Any

import pydantic
from quart import Blueprint, Quart, Response, current_app, jsonify

from hotelbot import __version__

blueprint = Blueprint("openapi", __name__)

PUBLIC_ENDPOINTS = {"auth.login", "auth.refresh", "health.healthz", "health.livez", "health.prometheus_metrics",
                    "webhooks.verify", "webhooks.receive", "openapi.describe", "media.serve_file",
                    # The console's page and files are public, because the login happens inside the page through the API.
                    "console.root", "console.app_without_slash", "console.index", "console.asset_file"}
SKIPPED_ENDPOINTS = {"static"}
# Optional request headers of a route, besides its authentication.
HEADER_PARAMETERS: dict[str, tuple[str, ...]] = {
    f"n8n.{send}": ("Idempotency-Key",) for send in ("send_text", "send_buttons", "send_list", "send_carousel")
}
QUERY_PARAMETERS: dict[str, tuple[str, ...]] = {
    "conversations.list_conversations": ("status", "hotelUnit", "assignedToId", "priority", "search", "closedSince", "cursor", "limit"),
    "conversations.list_messages": ("cursor", "limit"),
    "audit.conversation_events": ("cursor", "limit"),
    "audit.list_audit_events": ("action", "userId", "conversationId", "from", "to", "cursor", "limit"),
    "users.list_users": ("cursor", "limit"),
    "stats.dashboard_stats": ("hotelUnit",),
    "stats.range_stats": ("hotelUnit", "from", "to"),
    "n8n.check_ia_lock": ("phone", "conversationId", "userId"),
    "webhooks.verify": ("hub.mode", "hub.verify_token", "hub.challenge"),
    "media.serve_file": ("expires", "sig"),
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "code"],
    "properties": {"error": {"type": "string"}, "code": {"type": "string"}, "details": {"type": "array"}},
}


def _request_models() -> dict[str, type[pydantic.BaseModel]]:
    """Return the request body model of each endpoint that reads a JSON body."""
    from hotelbot.web import auth, conversations, guests, messages, n8n, users

    return {
        "auth.login": auth.LoginRequest, "auth.refresh": auth.RefreshRequest, "auth.logout": auth.RefreshRequest,
        "auth.change_password": auth.PasswordRequest,
        "conversations.assign": conversations.AssignRequest, "conversations.update": conversations.UpdateRequest,
        "messages.send_text": messages.SendTextRequest, "messages.send_template": messages.SendTemplateRequest,
        "n8n.send_text": n8n.SendTextRequest, "n8n.send_buttons": n8n.SendButtonsRequest,
        "n8n.send_list": n8n.SendListRequest, "n8n.send_carousel": n8n.SendCarouselRequest,
        "n8n.escalate": n8n.EscalateRequest, "n8n.set_hotel_unit": n8n.SetHotelUnitRequest,
        "users.create_user": users.CreateUserRequest, "users.update_user": users.UpdateUserRequest,
        "users.reset_password": users.ResetPasswordRequest,
        "guests.export": guests.GuestRequest, "guests.erase": guests.EraseRequest,
    }


def _security(endpoint: str) -> list[dict[str, list]]:
    if endpoint in PUBLIC_ENDPOINTS:
        return []
    if endpoint.startswith("n8n."):
        return [{"apiKey": []}]
    return [{"bearer": []}]


def _body(endpoint: str, models: dict[str, type[pydantic.BaseModel]], components: dict[str, Any]) -> dict | None:
    """Return the requestBody object of ``endpoint``, adding nested model schemas to ``components``."""
    if endpoint == "media.send_media":
        form = {"type": "object", "required": ["file", "conversationId"], "properties": {
            "file": {"type": "string", "format": "binary"}, "conversationId": {"type": "string"},
            "caption": {"type": "string"}, "clientMessageId": {"type": "string"}}}
        return {"required": True, "content": {"multipart/form-data": {"schema": form}}}
    if endpoint == "webhooks.receive":
        return {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    model = models.get(endpoint)
    if model is None:
        return None
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _operation(endpoint: str, rule: Any, models: dict, components: dict) -> dict[str, Any]:
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in rule.arguments]
    parameters += [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                   for name in QUERY_PARAMETERS.get(endpoint, ())]
    parameters += [{"name": name, "in": "header", "required": False, "schema": {"type": "string", "maxLength": 100}}
                   for name in HEADER_PARAMETERS.get(endpoint, ())]
    operation: dict[str, Any] = {
        "operationId": endpoint,
        "parameters": parameters,
        "security": _security(endpoint),
        "responses": {"default": {"description": "The result, or an error in the one error shape.",
                                  "content": {"application/json": {"schema": ERROR_SCHEMA}}}},
    }
    body = _body(endpoint, models, components)
    if body is not None:
        operation["requestBody"] = body
    return operation


def build_openapi(app: Quart) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of every route of ``app`` except static files."""
    models = _request_models()
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIPPED_ENDPOINTS:
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-zA-Z_]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule.endpoint, rule, models, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "hotelbot", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


@blueprint.get("/openapi.json")
async def describe() -> Response:
    """Return the OpenAPI description; it names routes and fields, no tenant data."""
    return jsonify(build_openapi(current_app))
