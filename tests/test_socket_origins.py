"""Socket.IO accepts the server's own origin and the configured frontend, and no other."""

from __future__ import annotations

import aiohttp
import pytest
import socketio


async def connect_with_origin(server, token: str, origin: str) -> bool:
    session = aiohttp.ClientSession()
    client = socketio.AsyncClient(reconnection=False, http_session=session)
    try:
        await client.connect(
            server.base_url, auth={"token": token}, headers={"Origin": origin},
            transports=["websocket"], wait_timeout=5,
        )
    except socketio.exceptions.ConnectionError:
        return False
    else:
        await client.disconnect()
        return True
    finally:
        await client.shutdown()
        await session.close()


async def test_same_origin_accepted(server, http):
    assert await connect_with_origin(server, await server.token(http), server.base_url) is True


async def test_foreign_origin_refused(server, http):
    assert await connect_with_origin(server, await server.token(http), "https://evil.example") is False


@pytest.mark.parametrize("server_settings", [{"frontend_origin": "https://console.hotel.example"}])
async def test_configured_frontend_accepted(server, http, server_settings):
    token = await server.token(http)
    assert await connect_with_origin(server, token, "https://console.hotel.example") is True
    assert await connect_with_origin(server, token, "https://other.example") is False
