"""Authentication routes: login, refresh, logout, me, password change."""

from __future__ import annotations

import datetime as dt
import json

import pydantic
from quart import Blueprint, Response, g, jsonify, request
from quart_rate_limiter import RateLimit, rate_limit

from hotelbot.errors import Unauthorized
from hotelbot.passwords import MAX_LENGTH, MIN_LENGTH
from hotelbot.serialize import tenant_json, user_json
from hotelbot.services import auth as auth_service
from hotelbot.storage import users as user_store
from hotelbot.web.guards import require_user, runtime
from hotelbot.web.requests import client_address, json_body

blueprint = Blueprint("auth", __name__)

REFRESH_COOKIE = "refresh_token"


class LoginRequest(pydantic.BaseModel):
    email: pydantic.EmailStr = pydantic.Field(max_length=254)
    password: str = pydantic.Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


class RefreshRequest(pydantic.BaseModel):
    refreshToken: str | None = pydantic.Field(default=None, max_length=4096)


class PasswordRequest(pydantic.BaseModel):
    currentPassword: str = pydantic.Field(min_length=1, max_length=MAX_LENGTH)
    newPassword: str = pydantic.Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


async def _email_key() -> str:
    # Runs before the route validates the body, so a body that json cannot parse
    # (including one nested past Python's recursion limit) counts under "-".
    try:
        data = json.loads(await request.get_data(as_text=False) or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        data = None
    email = data.get("email") if isinstance(data, dict) else None
    return "email:" + (email.strip().lower()[:254] if isinstance(email, str) else "-")


async def _address_key() -> str:
    return "address:" + client_address()


def _login_limits() -> list[RateLimit]:
    # Read at import time from the environment's default; the count per minute is a setting.
    from hotelbot.settings import load_settings

    per_minute = load_settings().login_rate_limit
    period = dt.timedelta(minutes=1)
    return [RateLimit(per_minute, period, _address_key), RateLimit(per_minute, period, _email_key)]


def _with_refresh_cookie(response: Response, refresh_token: str) -> Response:
    response.set_cookie(
        REFRESH_COOKIE,
        refresh_token,
        max_age=runtime().settings.refresh_token_ttl,
        httponly=True,
        secure=True,
        samesite="Strict",
        path="/auth",
    )
    return response


@blueprint.post("/auth/login")
@rate_limit(limits=_login_limits())
async def login() -> Response:
    body = await json_body(LoginRequest)
    result = await auth_service.login(runtime(), body.email, body.password, client_address())
    return _with_refresh_cookie(jsonify(result), result["refreshToken"])


@blueprint.post("/auth/refresh")
async def refresh() -> Response:
    token = None
    if request.is_json and await request.get_data():
        token = (await json_body(RefreshRequest)).refreshToken
    token = token or request.cookies.get(REFRESH_COOKIE)
    if not token:
        raise Unauthorized("Refresh token missing.")
    result = await auth_service.refresh(runtime(), token)
    return _with_refresh_cookie(jsonify(result), result["refreshToken"])


@blueprint.post("/auth/logout")
@require_user()
async def logout() -> Response:
    await auth_service.logout(runtime(), g.principal)
    response = jsonify({"ok": True})
    response.delete_cookie(REFRESH_COOKIE, path="/auth")
    return response


@blueprint.get("/auth/me")
@require_user()
async def me() -> Response:
    async with runtime().db.read() as connection:
        user = await user_store.select_user(connection, g.principal["tenant_id"], g.principal["id"])
    tenant = await runtime().tenants.get(g.principal["tenant_id"])
    return jsonify({
        "user": user_json(user, tenant.hotel_units if tenant else {}),
        "tenant": tenant_json(tenant) if tenant else None,
    })


@blueprint.post("/auth/password")
@require_user()
async def change_password() -> Response:
    body = await json_body(PasswordRequest)
    await auth_service.change_password(runtime(), g.principal, body.currentPassword, body.newPassword)
    return jsonify({"ok": True})
