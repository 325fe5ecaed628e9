"""Reading requests: JSON bodies validated by pydantic models, client addresses, cursors."""

from __future__ import annotations

import base64
import ipaddress
import json
from typing import Any, TypeVar

import pydantic
from quart import current_app, request

from hotelbot.errors import ValidationFailed

Model = TypeVar("Model", bound=pydantic.BaseModel)

# pydantic error type -> English message with placeholders from the error's context.
_MESSAGES = {
    "missing": "Required field.",
    "string_too_short": "Must have at least {min_length} character(s).",
    "string_too_long": "Must have at most {max_length} character(s).",
    "too_short": "Must have at least {min_length} item(s).",
    "too_long": "Must have at most {max_length} item(s).",
    "string_type": "Must be text.",
    "int_type": "Must be a whole number.",
    "int_parsing": "Must be a whole number.",
    "bool_type": "Must be true or false.",
    "bool_parsing": "Must be true or false.",
    "list_type": "Must be a list.",
    "dict_type": "Must be an object.",
    "model_type": "Must be an object.",
    "literal_error": "Must be one of: {expected}.",
    "enum": "Must be one of: {expected}.",
    "value_error": "{reason}",
    "extra_forbidden": "Unknown field.",
    "greater_than_equal": "Must be at least {ge}.",
    "less_than_equal": "Must be at most {le}.",
    "string_pattern_mismatch": "Invalid format.",
    "control_character_line": "Must not contain line breaks or control characters.",
    "control_character_text": "Must not contain control characters.",
}


def validation_details(error: pydantic.ValidationError) -> list[dict[str, Any]]:
    """Turn pydantic's errors into ``[{field, message, params, limit?}]`` for the error body."""
    details = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "body"
        context = dict(item.get("ctx") or {})
        message = _MESSAGES.get(item["type"], "Invalid value.")
        if item["type"] == "value_error" and field.lower().endswith("email"):
            # email-validator's reasons are English prose; the field gets one translated message.
            message, context = "Invalid email address.", {}
        elif item["type"] == "value_error":
            context = {"reason": str(context.get("error", "Invalid value."))}
        detail: dict[str, Any] = {"field": field, "message": message, "params": {key: str(value) for key, value in context.items()}}
        for key in ("max_length", "min_length", "le", "ge"):
            if key in context:
                detail["limit"] = context[key]
        details.append(detail)
    return details


def parse_model(model: type[Model], data: Any) -> Model:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as error:
        raise ValidationFailed(details=validation_details(error)) from None


async def json_body(model: type[Model]) -> Model:
    """Read and validate the JSON body; raise ValidationFailed naming each invalid field."""
    if not request.is_json:
        raise ValidationFailed(
            "Content-Type must be application/json.",
            details=[{"field": "Content-Type", "message": "Content-Type must be application/json."}],
        )
    try:
        raw = await request.get_data(as_text=False)
        data = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValidationFailed("Malformed JSON body.") from None
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object.")
    return parse_model(model, data)


def client_address() -> str:
    """Return the client's address, from X-Forwarded-For only when the peer is a trusted proxy."""
    peer = request.remote_addr or "-"
    trusted = current_app.extensions["hotelbot"].settings.trusted_proxies
    if peer not in trusted:
        return peer
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
    for address in reversed(forwarded):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            return peer
        if address not in trusted:
            return address
    return peer


def encode_cursor(*values: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> tuple[str, ...] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError):
        raise ValidationFailed(details=[{"field": "cursor", "message": "Invalid value."}]) from None
    if not isinstance(values, list) or len(values) != size or not all(isinstance(value, str) for value in values):
        raise ValidationFailed(details=[{"field": "cursor", "message": "Invalid value."}])
    return tuple(values)


def page_limit() -> int:
    raw = request.args.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 200:
        raise ValidationFailed(
            details=[{"field": "limit", "message": "Must be between 1 and 200.", "limit": 200}]
        )
    return int(raw)
