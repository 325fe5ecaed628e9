"""Socket.IO events with hostile payloads."""

from __future__ import annotations

import pytest

from tests.support.sockets import EventClient


@pytest.mark.parametrize("event", ["join:conversation", "leave:conversation"])
async def test_lone_surrogate_id_is_rejected(server, http, sockets, event):
    client = EventClient()
    sockets.append(client)
    await client.connect(server.base_url, await server.token(http))

    answer = await client.call(event, {"conversationId": "\ud800"})

    assert answer == {"ok": False, "error": "Requisição inválida.", "code": "VALIDATION_ERROR"}
    assert "surrogates not allowed" not in server.log()
