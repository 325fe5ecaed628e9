"""Forwards past the in-memory limit wait on disk and go through the queue once N8N responds again."""

from __future__ import annotations

import asyncio
import collections
import threading

import pytest

from tests.support.db import eventually, rows
from tests.support.fakes import Reply
from tests.support.webhooks import new_wamid, text_message


@pytest.fixture
def server_settings() -> dict:
    return {"forward_workers": 1, "forward_max_waiting": 2, "forward_timeout": 15, "sweep_interval": 1}


async def test_overflow_forwards_go_through_sweep(server, http, n8n):
    gate = threading.Event()
    n8n.handler = lambda request: Reply(200, {"ok": True}) if gate.wait(15) else Reply(504)
    wamids = [new_wamid() for _ in range(5)]

    for index, wamid in enumerate(wamids):
        response = await server.post_webhook(http, text_message(f"Pedido {index}", wa_id=f"55118{index:08d}", wamid=wamid))
        assert response.status_code == 200
    await asyncio.to_thread(n8n.wait_for, 1)
    await eventually(lambda: "forwards are waiting for N8N" in server.log())
    gate.set()
    forwarded = await asyncio.to_thread(n8n.wait_for, 5)
    await eventually(lambda: rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'DONE'") == [{"n": 5}])

    keys = collections.Counter(request.headers["idempotency-key"] for request in forwarded)
    assert keys == {wamid: 1 for wamid in wamids}
    assert rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'PENDING'") == [{"n": 0}]
