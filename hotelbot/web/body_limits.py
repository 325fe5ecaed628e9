"""Request body limits per path, for routes that take larger bodies than the app's default.

Quart fixes a request body's size limit (``MAX_CONTENT_LENGTH``) and its
receive timeout (``BODY_TIMEOUT``) when it creates the request, before any
hook or route runs, and drops the body as soon as a declared Content-Length
exceeds the limit. Setting ``request.max_content_length`` inside a route is
therefore too late for an upload. A route declares its limits here instead,
and the app uses :class:`SizedRequest` as its request class.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from quart import Request


class SizedRequest(Request):
    """Quart's request, with the body limits that :func:`allow_large_body` declared for its path."""

    body_limits: ClassVar[dict[str, tuple[int, int]]] = {}

    def __init__(self, method: str, scheme: str, path: str, *args: Any, **kwargs: Any) -> None:
        limits = self.body_limits.get(path)
        if limits is not None:
            kwargs["max_content_length"], kwargs["body_timeout"] = limits
        super().__init__(method, scheme, path, *args, **kwargs)
        if limits is not None:
            # Quart's Request keeps the limit only in its body, so set it here for the 413 message.
            self.max_content_length = limits[0]


def allow_large_body(path: str, max_bytes: int, timeout_seconds: int) -> None:
    """Let requests to exactly ``path`` carry up to ``max_bytes``, received within ``timeout_seconds``."""
    SizedRequest.body_limits[path] = (max_bytes, timeout_seconds)


# Oversized bodies up to this many bytes are read and dropped before the 413 is sent.
DRAIN_LIMIT = 16 * 1024 * 1024
# Draining stops when no part of the body arrives for this long.
DRAIN_WAIT_SECONDS = 1.0


class OversizedBodies:
    """ASGI middleware that answers a too-large declared body with 413 after reading it.

    Answering before the body is read makes the server close the connection
    while the client is still sending, so many clients report a reset instead
    of the 413. Bodies declared larger than ``DRAIN_LIMIT`` are left to Quart,
    which closes the connection.
    """

    def __init__(self, app: Any, default_limit: int, error_body: Any) -> None:
        self._app = app
        self._default_limit = default_limit
        self._error_body = error_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        limit = SizedRequest.body_limits.get(scope["path"], (self._default_limit, 0))[0]
        declared = _content_length(scope)
        if declared is None or declared <= limit or declared > DRAIN_LIMIT:
            await self._app(scope, receive, send)
            return

        while True:
            try:
                message = await asyncio.wait_for(receive(), DRAIN_WAIT_SECONDS)
            except asyncio.TimeoutError:
                break  # The client waits for an answer before sending its body.
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        body = self._error_body(scope, limit)
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
        ]})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: dict) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
