"""Acknowledged webhooks survive a killed process, and a stop signal ends the server cleanly."""

from __future__ import annotations

import asyncio
import json
import signal

import socketio

from hotelbot.clock import now_iso
from tests.support.db import eventually, rows
from tests.support.fakes import Reply
from tests.support.sockets import EventClient
from tests.support.webhooks import execute, new_wamid, text_message


async def test_killed_server_finishes_work_after_restart(server, http, n8n):
    n8n.handler = lambda request: Reply(200, {"ok": True}, delay=0.2)
    wamids = [new_wamid() for _ in range(20)]
    payloads = [text_message(f"Pedido {index}", wa_id=f"55119000001{index:02d}", wamid=wamid) for index, wamid in enumerate(wamids)]

    responses = await asyncio.gather(*(server.post_webhook(http, payload) for payload in payloads))
    assert [response.status_code for response in responses] == [200] * 20
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)
    unfinished = rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state != 'DONE'")[0]["n"]
    unprocessed = rows(server, "SELECT count(*) AS n FROM inbox WHERE processed_at IS NULL")[0]["n"]
    assert unfinished + unprocessed > 0, "every message was done before the kill; the restart proves nothing"

    server.start()

    await eventually(lambda: rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'DONE'") == [{"n": 20}], timeout=30.0)
    assert rows(server, "SELECT count(*) AS n FROM messages") == [{"n": 20}]
    assert rows(server, "SELECT count(*) AS n FROM inbox WHERE processed_at IS NULL") == [{"n": 0}]
    forwarded = {request.headers["idempotency-key"] for request in n8n.requests}
    assert forwarded == set(wamids)
    for request in n8n.requests:
        assert request.json()["whatsappMsgId"] == request.headers["idempotency-key"]


async def test_unprocessed_inbox_row_processed_at_start(server, http, n8n):
    server.stop()
    wamid = new_wamid()
    body = json.dumps(text_message("Recebida antes da queda", wamid=wamid)).encode()
    execute(server, "INSERT INTO inbox (received_at, body) VALUES (?, ?)", (now_iso(), body))

    server.start()

    await eventually(lambda: rows(server, "SELECT forward_state FROM messages") == [{"forward_state": "DONE"}])
    assert [request.headers["idempotency-key"] for request in n8n.requests] == [wamid]
    assert rows(server, "SELECT count(*) AS n FROM inbox WHERE processed_at IS NULL") == [{"n": 0}]
    assert "Queued unfinished work again: 1 webhook(s)" in server.log()


async def test_pending_forward_sent_at_start(server, http, n8n):
    wamid = new_wamid()
    await server.post_webhook(http, text_message("Esperando o N8N", wamid=wamid))
    await asyncio.to_thread(n8n.wait_for, 1)
    await eventually(lambda: rows(server, "SELECT forward_state FROM messages") == [{"forward_state": "DONE"}])
    server.stop()
    execute(server, "UPDATE messages SET forward_state = 'PENDING'")

    server.start()

    forwarded = await asyncio.to_thread(n8n.wait_for, 2)
    assert [request.headers["idempotency-key"] for request in forwarded] == [wamid, wamid]
    await eventually(lambda: rows(server, "SELECT forward_state FROM messages") == [{"forward_state": "DONE"}])


async def test_sigterm_stops_cleanly(server, http, n8n):
    client = EventClient()
    await client.connect(server.base_url, await server.token(http))
    polling = socketio.AsyncClient(reconnection=False)
    polled = asyncio.Event()
    polling.on("message:new", lambda data: polled.set())
    await polling.connect(server.base_url, auth={"token": await server.token(http)}, transports=["polling"], wait_timeout=5)
    n8n.handler = lambda request: Reply(200, {"ok": True}, delay=1.0)
    await server.post_webhook(http, text_message("Chegando agora"))
    await asyncio.to_thread(n8n.wait_for, 1)
    # A stop between two polls of the long-polling client gets its next poll refused, which must log no error.
    await client.next("message:new")
    await asyncio.wait_for(polled.wait(), 5.0)

    exit_code = await asyncio.to_thread(server.stop)
    await client.close()
    await polling.disconnect()

    log = server.log()
    assert exit_code == 0
    assert "Received SIGTERM; stopping" in log
    assert "hotelbot stopped" in log
    assert "Traceback" not in log
    assert " ERROR " not in log
    assert rows(server, "SELECT forward_state FROM messages") == [{"forward_state": "DONE"}]


async def test_sigint_stops_cleanly(server):
    server.process.send_signal(signal.SIGINT)
    exit_code = await asyncio.to_thread(server.process.wait, 20)

    log = server.log()
    assert exit_code == 0
    assert "Received SIGINT; stopping" in log
    assert "hotelbot stopped" in log
    assert "Traceback" not in log
