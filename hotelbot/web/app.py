"""The ASGI application: Quart for HTTP, wrapped by the Socket.IO server.

Routes live in blueprints; this module wires them, owns the runtime's
lifecycle (opened before serving, closed after) and turns every error into the
one JSON error shape in the caller's language.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from typing import Any

from quart import Quart, Response, current_app, jsonify, request
from quart_rate_limiter import RateLimiter, RateLimitExceeded
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from hotelbot.errors import AppError, NotFound, PayloadTooLarge, RateLimited, ValidationFailed, error_body
from hotelbot.i18n import current_language, language_from_accept
from hotelbot.runtime import Runtime
from hotelbot.services import auth as auth_service
from hotelbot.settings import Settings
from hotelbot.storage import conversations as conversation_store
from hotelbot.web.body_limits import OversizedBodies, SizedRequest
from hotelbot.web.requests import client_address

logger = logging.getLogger(__name__)

# Pages may load only what this server serves: no inline script, no third-party origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def error_response(error: AppError, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(error_body(error, current_language.get()))
    response.status_code = error.status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _register_error_handlers(app: Quart) -> None:
    @app.errorhandler(AppError)
    async def handle_app_error(error: AppError) -> Response:
        if error.status >= 500:
            logger.error("Request %s %s failed: %s", request.method, request.path, error.code)
        return error_response(error)

    @app.errorhandler(RateLimitExceeded)
    async def handle_rate_limit(error: RateLimitExceeded) -> Response:
        retry_after = str(error.retry_after)
        logger.warning("Rate limit hit on %s from %s", request.path, client_address())
        return error_response(RateLimited(params={"retry_after": retry_after}), {"Retry-After": retry_after})

    @app.errorhandler(RequestEntityTooLarge)
    async def handle_too_large(error: RequestEntityTooLarge) -> Response:
        limit = request.max_content_length or current_app.config["MAX_CONTENT_LENGTH"]
        return error_response(PayloadTooLarge(params={"limit": limit}))

    @app.errorhandler(HTTPException)
    async def handle_http(error: HTTPException) -> Response:
        if error.code == 404:
            return error_response(NotFound())
        if error.code == 405:
            return error_response(_status_error(405, "METHOD_NOT_ALLOWED", "Method not allowed."))
        if error.code == 400:
            return error_response(ValidationFailed())
        return error_response(_status_error(error.code or 500, "HTTP_ERROR", error.description or "Request failed."))

    @app.errorhandler(Exception)
    async def handle_unexpected(error: Exception) -> Response:
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(AppError())


def _status_error(status: int, code: str, message: str) -> AppError:
    error = AppError(message, code=code)
    error.status = status
    return error


def _register_hooks(app: Quart, runtime: Runtime) -> None:
    @app.before_serving
    async def open_runtime() -> None:
        await runtime.open()
        runtime.realtime.bind(
            lambda token: auth_service.authenticate(runtime, token),
            lambda tenant_id, conversation_id: _conversation_exists(runtime, tenant_id, conversation_id),
        )

    @app.after_serving
    async def close_runtime() -> None:
        await runtime.close()

    @app.before_request
    async def choose_language() -> None:
        current_language.set(language_from_accept(request.headers.get("Accept-Language")) or runtime.settings.language)

    @app.after_request
    async def finish_reading_body(response: Response) -> Response:
        # A response sent before the request body was read (a 401 or 429 raised first)
        # made Hypercorn drop the keep-alive connection now and then, so the client's
        # next request on it failed with no response. Reading the rest avoids that.
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            with contextlib.suppress(HTTPException):
                await request.get_data(cache=False)
        return response

    @app.after_request
    async def add_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if response.mimetype == "application/json":
            response.headers["Cache-Control"] = "no-store"
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        origin = runtime.settings.frontend_origin
        if origin and request.headers.get("Origin") == origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Vary"] = "Origin"
            if request.method == "OPTIONS":
                response.headers["Access-Control-Allow-Methods"] = "GET, POST, PATCH, DELETE, OPTIONS"
                response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Accept-Language"
                response.headers["Access-Control-Max-Age"] = "600"
        return response


async def _conversation_exists(runtime: Runtime, tenant_id: str, conversation_id: str) -> bool:
    async with runtime.db.read() as connection:
        return await conversation_store.select_conversation(connection, tenant_id, conversation_id) is not None


def _too_large_body(default_language: str, scope: dict, limit: int) -> bytes:
    """Build the 413 JSON body in the Accept-Language's language, else ``default_language``."""
    accept = next((value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"accept-language"), None)
    language = language_from_accept(accept) or default_language
    body = error_body(PayloadTooLarge(params={"limit": limit}), language)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


async def _rate_limit_key() -> str:
    return client_address()


def create_app(settings: Settings) -> tuple[Any, Quart, Runtime]:
    """Build the ASGI app; return (asgi app, Quart app, runtime)."""
    from hotelbot.web import admin, auth, conversations, health, media, messages, n8n, users, webhooks
    from hotelbot.web import stats
    from hotelbot.web import audit, guests
    from hotelbot.web import openapi
    from hotelbot.web import console

    runtime = Runtime(settings)
    app = Quart("hotelbot")
    app.request_class = SizedRequest
    app.config["MAX_CONTENT_LENGTH"] = settings.request_max_bytes
    app.config["JSON_SORT_KEYS"] = False
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["hotelbot"] = runtime
    RateLimiter(app, key_function=_rate_limit_key)

    _register_error_handlers(app)
    _register_hooks(app, runtime)
    for blueprint in (auth.blueprint, webhooks.blueprint, health.blueprint, admin.blueprint, n8n.blueprint,
                      conversations.blueprint, messages.blueprint, users.blueprint, media.blueprint):
        app.register_blueprint(blueprint)
    app.register_blueprint(stats.blueprint)
    app.register_blueprint(audit.blueprint)
    app.register_blueprint(guests.blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(console.blueprint)
    console.check_assets()

    asgi_app = runtime.realtime.asgi_app(OversizedBodies(app, settings.request_max_bytes, functools.partial(_too_large_body, settings.language)))
    return asgi_app, app, runtime


__all__ = ["create_app", "error_response"]
