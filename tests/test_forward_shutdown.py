"""Forwards still waiting for a slot when the server stops are left for the next start."""

from __future__ import annotations

import asyncio
import collections
import signal
import threading

import pytest

from tests.support.db import eventually, rows
from tests.support.fakes import Reply
from tests.support.webhooks import new_wamid, post_from_guests


@pytest.fixture
def server_settings() -> dict:
    return {"forward_workers": 1, "forward_timeout": 15}


async def test_sigterm_skips_waiting_forwards(server, http, n8n):
    gate = threading.Event()
    n8n.handler = lambda request: Reply(200, {"ok": True}) if gate.wait(15) else Reply(504)
    wamids = [new_wamid() for _ in range(4)]

    await post_from_guests(server, http, wamids, "Pedido", "55117")
    await asyncio.to_thread(n8n.wait_for, 1)
    await http.aclose()
    server.process.send_signal(signal.SIGTERM)
    await eventually(lambda: "Job queue stopped" in server.log(), timeout=15.0)
    gate.set()
    exit_code = await asyncio.to_thread(server.process.wait, 20)

    assert exit_code == 0
    assert len(n8n.matching()) == 1
    assert rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'PENDING'") == [{"n": 3}]

    server.start()
    forwarded = await asyncio.to_thread(n8n.wait_for, 4)
    await eventually(lambda: rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'DONE'") == [{"n": 4}])

    assert collections.Counter(request.headers["idempotency-key"] for request in forwarded) == {wamid: 1 for wamid in wamids}
