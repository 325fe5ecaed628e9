"""X-Forwarded-* headers, believed only from trusted proxies.

Caddy in front of hotelbot sends the client's address in ``X-Forwarded-For``
and the scheme the client used in ``X-Forwarded-Proto``. This ASGI middleware
sets the request's scheme from ``X-Forwarded-Proto`` when the connection comes
from an address in ``trusted_proxies``, and removes every forwarding header
from any other connection. So neither Quart nor engine.io (which reads
``X-Forwarded-Proto`` and ``X-Forwarded-Host`` from any client to build the
origin it accepts) can be given a false scheme or host by a client that
reaches hotelbot directly. The client's address itself is read by
:func:`hotelbot.web.requests.client_address`, with the same list of proxies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

FORWARDING_HEADERS = frozenset({
    b"forwarded",
    b"x-forwarded-for",
    b"x-forwarded-host",
    b"x-forwarded-port",
    b"x-forwarded-proto",
    b"x-real-ip",
})

# X-Forwarded-Proto value -> ASGI scheme, for HTTP and websocket connections.
_SCHEMES = {
    "http": {"http": "http", "https": "https"},
    "websocket": {"http": "ws", "https": "wss"},
}


def forwarded_scheme(scope: Scope) -> str | None:
    """Return the ASGI scheme that ``X-Forwarded-Proto`` names, or None when it is missing or invalid."""
    for name, value in scope.get("headers", ()):
        if name.lower() != b"x-forwarded-proto":
            continue
        first = value.decode("latin-1").split(",")[0].strip().lower()
        return _SCHEMES[scope["type"]].get(first)
    return None


class ProxyHeaders:
    """Wrap an ASGI app so that only trusted proxies can set the scheme and forwarding headers."""

    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[str]) -> None:
        self.app = app
        self.trusted_proxies = frozenset(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in _SCHEMES:
            await self.app(scope, receive, send)
            return

        peer = (scope.get("client") or ("",))[0]
        if peer in self.trusted_proxies:
            scheme = forwarded_scheme(scope)
            if scheme is not None:
                scope = {**scope, "scheme": scheme}
        else:
            headers = [(name, value) for name, value in scope.get("headers", ()) if name.lower() not in FORWARDING_HEADERS]
            scope = {**scope, "headers": headers}

        await self.app(scope, receive, send)
