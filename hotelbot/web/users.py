"""User administration for a tenant's admins."""

from __future__ import annotations

from typing import Literal

import pydantic
from quart import Blueprint, Response, g, jsonify, request

from hotelbot.errors import ValidationFailed
from hotelbot.passwords import MAX_LENGTH, MIN_LENGTH
from hotelbot.services import users
from hotelbot.services.conversations import UNSET
from hotelbot.web.fields import single_line
from hotelbot.web.guards import require_user, runtime
from hotelbot.web.requests import decode_cursor, encode_cursor, json_body, page_limit

blueprint = Blueprint("users", __name__)

Role = Literal["ADMIN", "SUPERVISOR", "ATTENDANT"]
Language = Literal["pt-BR", "en"]


class CreateUserRequest(pydantic.BaseModel):
    email: pydantic.EmailStr = pydantic.Field(max_length=254)
    name: single_line(min_length=1, max_length=100)
    role: Role
    password: str = pydantic.Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    hotelUnit: single_line(max_length=100) | None = None
    language: Language = "pt-BR"


class UpdateUserRequest(pydantic.BaseModel):
    """Only the fields sent are changed; ``hotelUnit: null`` makes the user work for every unit."""

    role: Role = "ATTENDANT"
    hotelUnit: single_line(max_length=100) | None = None
    language: Language = "pt-BR"
    name: single_line(min_length=1, max_length=100) = ""


class ResetPasswordRequest(pydantic.BaseModel):
    password: str = pydantic.Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


def _check_name(name: str) -> None:
    if not name.strip():
        raise ValidationFailed(details=[{"field": "name", "message": "Must not be blank."}])


@blueprint.post("/users")
@require_user("ADMIN")
async def create_user() -> Response:
    body = await json_body(CreateUserRequest)
    _check_name(body.name)
    user = await users.create_user(
        runtime(), g.principal, email=body.email, name=body.name, role=body.role, password=body.password,
        hotel_unit=body.hotelUnit, language=body.language,
    )
    response = jsonify({"user": user})
    response.status_code = 201
    return response


@blueprint.get("/users")
@require_user("ADMIN")
async def list_users() -> Response:
    limit = page_limit()
    after = decode_cursor(request.args.get("cursor"), 1)
    page = await users.list_users(runtime(), g.principal, limit, after[0] if after else None)
    cursor = encode_cursor(*page.next_cursor) if page.next_cursor else None
    return jsonify({"items": page.items, "nextCursor": cursor})


@blueprint.get("/team")
@require_user()
async def list_team() -> Response:
    """List every active colleague's id, name, role and unit, for any user of the tenant."""
    return jsonify({"items": await users.list_team(runtime(), g.principal)})


@blueprint.patch("/users/<user_id>")
@require_user("ADMIN")
async def update_user(user_id: str) -> Response:
    body = await json_body(UpdateUserRequest)
    sent = body.model_fields_set
    if not sent:
        fields = "role, hotelUnit, language, name"
        raise ValidationFailed(
            "Send at least one of: {fields}.", params={"fields": fields},
            details=[{"field": "body", "message": "Send at least one of: {fields}.", "params": {"fields": fields}}],
        )
    if "name" in sent:
        _check_name(body.name)
    user = await users.update_user(
        runtime(), g.principal, user_id,
        role=body.role if "role" in sent else UNSET,
        hotel_unit=body.hotelUnit if "hotelUnit" in sent else UNSET,
        language=body.language if "language" in sent else UNSET,
        name=body.name if "name" in sent else UNSET,
    )
    return jsonify({"user": user})


@blueprint.post("/users/<user_id>/deactivate")
@require_user("ADMIN")
async def deactivate_user(user_id: str) -> Response:
    return jsonify({"user": await users.deactivate_user(runtime(), g.principal, user_id)})


@blueprint.post("/users/<user_id>/reset-password")
@require_user("ADMIN")
async def reset_password(user_id: str) -> Response:
    body = await json_body(ResetPasswordRequest)
    return jsonify({"user": await users.reset_password(runtime(), g.principal, user_id, body.password)})


@blueprint.post("/users/<user_id>/unlock")
@require_user("ADMIN")
async def unlock_user(user_id: str) -> Response:
    return jsonify({"user": await users.unlock_user(runtime(), g.principal, user_id)})
