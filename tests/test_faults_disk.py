"""A full disk and a read-only database: webhooks get 5xx so Meta retries, nothing is half-written, service recovers.

The full disk is a file-size limit of 0 bytes set on the running server
(``RLIMIT_FSIZE`` through prlimit), so every write to a file fails as it would
on a full file system. Its log file cannot grow either while the limit holds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sqlite3
import threading

import pytest

from hotelbot.clock import now, to_iso
from tests.support.db import eventually, rows
from tests.support.fakes import Reply
from tests.support.faults import database_files, limit_file_size, metric, permission_checked_options
from tests.support.webhooks import execute, new_wamid, text_message

UNAVAILABLE = {"error": "Serviço temporariamente indisponível. Tente novamente em instantes.", "code": "UNAVAILABLE"}


@pytest.fixture
def server_settings() -> dict:
    return {"sweep_interval": 1}


async def healthz(server, http) -> tuple[int, dict]:
    response = await http.get(server.base_url + "/healthz")
    return response.status_code, response.json()


def integrity(server) -> str:
    connection = sqlite3.connect(server.data_dir / "hotelbot.db")
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


async def test_disk_full_answers_503_then_recovers(server, http, n8n):
    first = new_wamid()
    assert (await server.post_webhook(http, text_message("Antes", wamid=first))).status_code == 200
    await eventually(lambda: rows(server, "SELECT forward_state FROM messages") == [{"forward_state": "DONE"}])

    # N8N delays its 200 until the disk is full, so the forward's commit fails after N8N has the message.
    in_flight = new_wamid()
    release = threading.Event()
    n8n.handler = lambda request: Reply(200, {"ok": True}) if release.wait(10) else Reply(500)
    assert (await server.post_webhook(http, text_message("Durante", wa_id="5511900000002", wamid=in_flight))).status_code == 200
    await asyncio.to_thread(n8n.wait_for, 2)
    limit_file_size(server.process.pid, 0)
    release.set()
    await eventually(lambda: metric(server, "hotelbot_jobs_total", kind="forward", outcome="retried") == 1)

    rejected = [new_wamid() for _ in range(3)]
    payloads = [text_message(f"Cheio {index}", wa_id=f"551190000001{index}", wamid=wamid) for index, wamid in enumerate(rejected)]
    responses = [await server.post_webhook(http, payload) for payload in payloads]
    status, report = await healthz(server, http)
    rows_during = rows(server, "SELECT count(*) AS n FROM inbox")
    limit_file_size(server.process.pid, None)

    assert [response.status_code for response in responses] == [503, 503, 503]
    assert [response.json() for response in responses] == [UNAVAILABLE] * 3
    assert status == 503
    assert report["status"] == "failing"
    assert report["checks"]["database"]["status"] == "failing"
    assert rows_during == [{"n": 2}]

    n8n.handler = lambda request: Reply(200, {"ok": True})
    retried = [await server.post_webhook(http, payload) for payload in payloads]
    assert [response.status_code for response in retried] == [200, 200, 200]
    await eventually(
        lambda: rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'DONE'") == [{"n": 5}], timeout=30.0
    )
    await eventually(lambda: _status(server) == 200, timeout=10.0)
    status, report = await healthz(server, http)

    assert status == 200
    assert report["checks"]["database"] == {"status": "ok"}
    assert integrity(server) == "ok"
    assert rows(server, "SELECT count(*) AS n FROM inbox") == [{"n": 5}]
    assert rows(server, "SELECT count(*) AS n FROM inbox WHERE processed_at IS NULL") == [{"n": 0}]
    stored = rows(server, "SELECT whatsapp_msg_id FROM messages ORDER BY whatsapp_msg_id")
    assert [row["whatsapp_msg_id"] for row in stored] == sorted([first, in_flight, *rejected])
    keys = [request.headers["idempotency-key"] for request in n8n.requests]
    assert keys.count(in_flight) == 2, "the forward whose commit failed is sent again with the same key"
    assert sorted(set(keys)) == sorted([first, in_flight, *rejected])
    assert rows(server, "SELECT count(*) AS n FROM dead_letters") == [{"n": 0}]
    assert "Unfinished forward work without a job queued again" in server.log()


async def test_read_only_database_answers_503_until_writable(server, http, n8n):
    server.stop()
    files = database_files(server.data_dir)
    for path in files:
        os.chmod(path, 0o444)
    server.popen_options = permission_checked_options()
    await asyncio.to_thread(server.start, 20.0, (503,))

    status, report = await healthz(server, http)
    webhook = text_message("Somente leitura")
    response = await server.post_webhook(http, webhook)

    assert status == 503
    assert report["checks"]["database"]["status"] == "failing"
    assert "readonly" in report["checks"]["database"]["error"]
    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert rows(server, "SELECT count(*) AS n FROM inbox") == [{"n": 0}]

    for path in database_files(server.data_dir):
        os.chmod(path, 0o644)
    await eventually(lambda: _status(server) == 200, timeout=10.0)
    again = await server.post_webhook(http, webhook)

    assert again.status_code == 200
    await eventually(lambda: rows(server, "SELECT forward_state FROM messages") == [{"forward_state": "DONE"}])
    assert "Database file is read-only (attempt to write a readonly database)" in server.log()
    assert "Database takes writes again" in server.log()
    assert integrity(server) == "ok"


def _status(server) -> int:
    import httpx

    return httpx.get(server.base_url + "/healthz", timeout=5.0).status_code


async def test_stored_webhook_without_job_swept(server, http, n8n):
    # As when the inbox insert committed but queuing its job failed: the row exists, no job does.
    wamid = new_wamid()
    body = json.dumps(text_message("Sem job", wamid=wamid)).encode()
    received = to_iso(now() - dt.timedelta(seconds=5))
    execute(server, "INSERT INTO inbox (received_at, body) VALUES (?, ?)", (received, body))

    await eventually(lambda: rows(server, "SELECT forward_state FROM messages") == [{"forward_state": "DONE"}], timeout=15.0)

    assert rows(server, "SELECT count(*) AS n FROM inbox WHERE processed_at IS NULL") == [{"n": 0}]
    assert [request.headers["idempotency-key"] for request in n8n.requests] == [wamid]
    assert "Unfinished inbound work without a job queued again: {'inboxId': 1}" in server.log()
