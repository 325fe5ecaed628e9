"""X-Forwarded-* headers are believed from trusted proxies only."""

from __future__ import annotations

from typing import Any

import pytest

from hotelbot.web.proxy import ProxyHeaders

TRUSTED = ("127.0.0.1", "::1")


async def passed_scope(scope: dict[str, Any]) -> dict[str, Any]:
    """Run the middleware on ``scope``; return the scope the wrapped app received."""
    received: list[dict[str, Any]] = []

    async def app(inner_scope: dict[str, Any], receive: Any, send: Any) -> None:
        received.append(dict(inner_scope))

    await ProxyHeaders(app, TRUSTED)(scope, None, None)
    assert len(received) == 1
    return received[0]


def http_scope(client: str, headers: list[tuple[bytes, bytes]], kind: str = "http") -> dict[str, Any]:
    scheme = "http" if kind == "http" else "ws"
    return {"type": kind, "scheme": scheme, "client": (client, 50000), "headers": headers, "path": "/"}


@pytest.mark.parametrize(("kind", "proto", "expected"), [
    ("http", b"https", "https"),
    ("http", b"HTTPS", "https"),
    ("http", b"http", "http"),
    ("http", b"https, http", "https"),
    ("websocket", b"https", "wss"),
    ("websocket", b"http", "ws"),
])
async def test_trusted_proxy_sets_scheme(kind, proto, expected):
    headers = [(b"x-forwarded-proto", proto), (b"x-forwarded-for", b"203.0.113.7")]

    scope = await passed_scope(http_scope("127.0.0.1", headers, kind))

    assert scope["scheme"] == expected
    assert scope["headers"] == headers


@pytest.mark.parametrize("proto", [b"gopher", b"", b"javascript"])
async def test_invalid_proto_keeps_scheme(proto):
    scope = await passed_scope(http_scope("::1", [(b"x-forwarded-proto", proto)]))

    assert scope["scheme"] == "http"


async def test_untrusted_peer_headers_removed():
    headers = [
        (b"host", b"hotel.example"),
        (b"X-Forwarded-Proto", b"https"),
        (b"x-forwarded-for", b"10.0.0.1"),
        (b"x-forwarded-host", b"evil.example"),
        (b"x-forwarded-port", b"443"),
        (b"forwarded", b"for=10.0.0.1;proto=https"),
        (b"x-real-ip", b"10.0.0.1"),
        (b"x-api-key", b"kept"),
    ]

    scope = await passed_scope(http_scope("192.0.2.10", headers))

    assert scope["scheme"] == "http"
    assert scope["headers"] == [(b"host", b"hotel.example"), (b"x-api-key", b"kept")]


async def test_untrusted_websocket_keeps_ws():
    scope = await passed_scope(http_scope("192.0.2.10", [(b"x-forwarded-proto", b"https")], "websocket"))

    assert scope["scheme"] == "ws"
    assert scope["headers"] == []


async def test_missing_client_treated_untrusted():
    scope = await passed_scope({"type": "http", "scheme": "http", "client": None,
                                "headers": [(b"x-forwarded-proto", b"https")]})

    assert scope["scheme"] == "http"
    assert scope["headers"] == []


async def test_lifespan_passes_unchanged():
    original = {"type": "lifespan", "asgi": {"version": "3.0"}}

    scope = await passed_scope(dict(original))

    assert scope == original
