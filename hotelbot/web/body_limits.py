"""Request body limits per path, for routes that take larger bodies than the app's default.

Quart fixes a request body's size limit (``MAX_CONTENT_LENGTH``) and its
receive timeout (``BODY_TIMEOUT``) when it creates the request, before any
hook or route runs, and drops the body as soon as a declared Content-Length
exceeds the limit. Setting ``request.max_content_length`` inside a route is
therefore too late for an upload. A route declares its limits here instead,
and the app uses :class:`SizedRequest` as its request class.
"""

from __future__ import annotations

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
