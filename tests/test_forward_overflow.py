"""Forwards past the in-memory limit wait on disk and start from there as soon as N8N catches up."""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import threading

import pytest

from tests.support.db import eventually, rows
from tests.support.fakes import Reply
from tests.support.webhooks import execute, new_wamid, post_from_guests


@pytest.fixture
def server_settings() -> dict:
    # The sweep would queue forwards left on disk only after 10 minutes: here the refill must.
    return {"forward_workers": 1, "forward_max_waiting": 2, "forward_timeout": 15, "sweep_interval": 600}


async def test_overflow_forwards_start_from_disk(server, http, n8n):
    gate = threading.Event()
    n8n.handler = lambda request: Reply(200, {"ok": True}) if gate.wait(15) else Reply(504)
    wamids = [new_wamid() for _ in range(12)]

    await post_from_guests(server, http, wamids, "Pedido", "55118")
    await asyncio.to_thread(n8n.wait_for, 1)
    await eventually(lambda: "forwards are waiting for N8N" in server.log())
    gate.set()
    forwarded = await asyncio.to_thread(n8n.wait_for, 12)
    await eventually(lambda: rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'DONE'") == [{"n": 12}])

    keys = collections.Counter(request.headers["idempotency-key"] for request in forwarded)
    assert keys == {wamid: 1 for wamid in wamids}
    assert rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'PENDING'") == [{"n": 0}]
    assert "Forwards waiting on disk are all started again" in server.log()
    assert "Unfinished forward work without a job queued again" not in server.log()


async def test_many_pending_forwards_at_start_each_sent_once(server, http, n8n):
    """The start-up pass fills the in-memory places; the refill starts the rest, each forward once."""
    wamids = [new_wamid() for _ in range(12)]
    await post_from_guests(server, http, wamids, "Reserva", "55117")
    await asyncio.to_thread(n8n.wait_for, 12)
    await eventually(lambda: rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'DONE'") == [{"n": 12}])
    server.stop()
    execute(server, "UPDATE messages SET forward_state = 'PENDING'")

    server.start()

    forwarded = await asyncio.to_thread(n8n.wait_for, 24)
    await eventually(lambda: rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'DONE'") == [{"n": 12}])
    keys = collections.Counter(request.headers["idempotency-key"] for request in forwarded)
    assert keys == {wamid: 2 for wamid in wamids}
    assert "Forwards waiting on disk are all started again" in server.log()


OUTAGE_SETTINGS = {"forward_workers": 1, "forward_max_waiting": 2, "forward_timeout": 15, "sweep_interval": 600, "retry_delay": 60}


@pytest.mark.parametrize("server_settings", [OUTAGE_SETTINGS])
async def test_refill_passes_retrying_forwards(server, http, n8n, server_settings):
    """More messages wait for their retry than one page of the refill contains, and the later ones still start."""
    gate = threading.Event()
    failing = [new_wamid() for _ in range(150)]
    later = [new_wamid() for _ in range(5)]
    rejected = set(failing)

    def answer(request):
        gate.wait(15)
        return Reply(500) if request.headers["idempotency-key"] in rejected else Reply(200, {"ok": True})

    n8n.handler = answer
    await post_from_guests(server, http, failing + later, "Pedido", "55116")
    await asyncio.to_thread(n8n.wait_for, 1)
    gate.set()

    await asyncio.to_thread(n8n.wait_for, len(later), lambda request: request.headers["idempotency-key"] in later)
    await eventually(lambda: rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'DONE'") == [{"n": 5}])
    keys = collections.Counter(request.headers["idempotency-key"] for request in n8n.requests)
    # Each failed message waits 60 s for attempt 2, so every key was sent once.
    assert keys == {wamid: 1 for wamid in failing + later}
    assert "Unfinished forward work without a job queued again" not in server.log()


SWEEPING_SETTINGS = {"forward_workers": 1, "forward_max_waiting": 2, "forward_timeout": 15, "sweep_interval": 0.5}


@pytest.mark.parametrize("server_settings", [SWEEPING_SETTINGS])
async def test_refill_skips_forward_being_queued(server, http, n8n, server_settings):
    """A refill skips a forward whose job the sweep is still writing to the queue's file."""
    gate = threading.Event()
    n8n.handler = lambda request: Reply(200, {"ok": True}, delay=0.5) if gate.wait(15) else Reply(504)
    wamids = [new_wamid() for _ in range(6)]
    await post_from_guests(server, http, wamids, "Quarto", "55115")
    await asyncio.to_thread(n8n.wait_for, 1)

    # A write lock on the queue's file blocks the sweep's job for the oldest forward on disk until the COMMIT.
    queue_file = sqlite3.connect(server.data_dir / "queue.db", timeout=5, isolation_level=None)
    try:
        queue_file.execute("BEGIN IMMEDIATE")
        await asyncio.sleep(1.2)
        gate.set()
        await asyncio.sleep(0.7)
        queue_file.execute("COMMIT")
    finally:
        queue_file.close()

    await asyncio.to_thread(n8n.wait_for, len(wamids))
    await eventually(lambda: rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'DONE'") == [{"n": 6}])
    await asyncio.sleep(1)
    keys = collections.Counter(request.headers["idempotency-key"] for request in n8n.requests)
    assert keys == {wamid: 1 for wamid in wamids}
    assert "Unfinished forward work without a job queued again" in server.log()
