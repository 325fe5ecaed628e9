"""hotelbot's error vocabulary.

Every error a person or a client may see is an :class:`AppError` carrying an
HTTP status, a stable code and an English message that is translated at the
edge::

    AppError
    ├── ValidationFailed      400 VALIDATION_ERROR (details name each field)
    ├── Unauthorized          401 UNAUTHORIZED / INVALID_CREDENTIALS / TOKEN_EXPIRED
    ├── Forbidden             403 FORBIDDEN
    ├── NotFound              404 NOT_FOUND (also for another tenant's ids)
    ├── Conflict              409 INVALID_TRANSITION / ALREADY_ASSIGNED / IA_LOCKED
    ├── PayloadTooLarge       413 PAYLOAD_TOO_LARGE
    ├── WindowClosed          422 WINDOW_CLOSED
    ├── WhatsAppRejected      422 or 502 WHATSAPP_ERROR (with whatsappCode)
    ├── RateLimited           429 RATE_LIMITED (with Retry-After)
    └── ServiceUnavailable    503 UNAVAILABLE

:func:`error_body` builds every JSON error body, ``{error, code, details?}``.
"""

from __future__ import annotations

from typing import Any

from hotelbot.i18n import translate


class AppError(Exception):
    status = 500
    code = "INTERNAL"
    message = "Internal error. The team was notified; try again in a moment."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
        params: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details
        self.params = params or {}
        self.extra = extra or {}
        super().__init__(self.message.format(**self.params) if self.params else self.message)


class ValidationFailed(AppError):
    status = 400
    code = "VALIDATION_ERROR"
    message = "Invalid request."


class Unauthorized(AppError):
    status = 401
    code = "UNAUTHORIZED"
    message = "Authentication required."


class InvalidCredentials(Unauthorized):
    code = "INVALID_CREDENTIALS"
    message = "Invalid credentials"


class TokenExpired(Unauthorized):
    code = "TOKEN_EXPIRED"
    message = "Session expired. Sign in again."


class Forbidden(AppError):
    status = 403
    code = "FORBIDDEN"
    message = "You are not allowed to do this."


class NotFound(AppError):
    status = 404
    code = "NOT_FOUND"
    message = "Not found."


class Conflict(AppError):
    status = 409
    code = "INVALID_TRANSITION"
    message = "This change is not allowed in the conversation's current state."


class PayloadTooLarge(AppError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    message = "Request body too large (limit {limit} bytes)."


class WindowClosed(AppError):
    status = 422
    code = "WINDOW_CLOSED"
    message = (
        "The 24-hour window to reply to this guest has closed. Send an approved template instead."
    )


class WhatsAppRejected(AppError):
    status = 422
    code = "WHATSAPP_ERROR"
    message = "WhatsApp rejected the message."


class RateLimited(AppError):
    status = 429
    code = "RATE_LIMITED"
    message = "Too many requests. Try again in {retry_after} seconds."


class ServiceUnavailable(AppError):
    status = 503
    code = "UNAVAILABLE"
    message = "Service temporarily unavailable. Try again in a moment."


def error_body(error: AppError, language: str | None = None) -> dict[str, Any]:
    """Return the JSON body of ``error`` in ``language``: ``{error, code, details?}`` plus extras."""
    body: dict[str, Any] = {
        "error": translate(error.message, language, **error.params),
        "code": error.code,
    }
    if error.details:
        body["details"] = [
            {**detail, "message": translate(detail["message"], language, **detail.get("params", {}))}
            if "message" in detail
            else detail
            for detail in error.details
        ]
        for detail in body["details"]:
            detail.pop("params", None)
    body.update(error.extra)
    return body
