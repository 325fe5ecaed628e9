"""Webhooks committed to the inbox in groups and processed in batches, with failures kept per row."""

from __future__ import annotations

import asyncio
import collections
import json
import subprocess
import sys

import pytest

from hotelbot.clock import now_iso
from tests.support.db import eventually, rows
from tests.support.sockets import EventClient
from tests.support.webhooks import execute, new_wamid, text_message

# Makes the processing of one guest's message fail inside its transaction, every time.
POISON_TRIGGER = (
    "CREATE TRIGGER poison_message BEFORE INSERT ON messages WHEN NEW.content = 'veneno'"
    " BEGIN SELECT RAISE(ABORT, 'poisoned message'); END"
)


@pytest.fixture
def server_settings() -> dict:
    return {"retry_delay": 0.2}


def insert_inbox(server, payload: dict, last_error: str | None = None) -> int:
    """Store a webhook body as the intake would (or after a failed attempt); return its inbox id."""
    body = json.dumps(payload).encode()
    execute(server, "INSERT INTO inbox (received_at, body, last_error) VALUES (?, ?, ?)", (now_iso(), body, last_error))
    return rows(server, "SELECT max(id) AS id FROM inbox")[0]["id"]


async def test_fifty_concurrent_webhooks_each_once(server, http, n8n, sockets):
    client = EventClient()
    sockets.append(client)
    await client.connect(server.base_url, await server.token(http))
    wamids = [new_wamid() for _ in range(50)]
    payloads = [
        text_message(f"Pedido {index}", wa_id=f"55119{index:08d}", wamid=wamid) for index, wamid in enumerate(wamids)
    ]

    responses = await asyncio.gather(*(server.post_webhook(http, payload) for payload in payloads))
    events = [await client.next("message:new", timeout=20.0) for _ in wamids]
    forwarded = await asyncio.to_thread(n8n.wait_for, 50, timeout=20.0)
    await eventually(lambda: rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'DONE'") == [{"n": 50}])

    assert [response.status_code for response in responses] == [200] * 50
    assert sorted(event["message"]["whatsappMsgId"] for event in events) == sorted(wamids)
    await client.expect_none("message:new", within=0.5)
    assert collections.Counter(request.headers["idempotency-key"] for request in forwarded) == {wamid: 1 for wamid in wamids}
    assert rows(server, "SELECT count(*) AS n FROM inbox") == [{"n": 50}]
    assert rows(server, "SELECT count(*) AS n FROM inbox WHERE processed_at IS NULL") == [{"n": 0}]
    assert rows(server, "SELECT count(*) AS n FROM messages") == [{"n": 50}]
    assert rows(server, "SELECT count(*) AS n FROM conversations") == [{"n": 50}]
    log = server.log()
    assert log.count("Job inbound_drain attempt 1/1 started") < 50
    assert "Job inbound attempt" not in log


async def test_poisoned_row_dead_letter_batch_processed(server, http, n8n):
    server.stop()
    execute(server, POISON_TRIGGER)
    good = [new_wamid() for _ in range(9)]
    poisoned = new_wamid()
    ids = [insert_inbox(server, text_message(f"Pedido {index}", wa_id=f"55118{index:08d}", wamid=wamid)) for index, wamid in enumerate(good[:4])]
    poisoned_id = insert_inbox(server, text_message("veneno", wa_id="5511700000001", wamid=poisoned))
    ids += [insert_inbox(server, text_message(f"Pedido {index}", wa_id=f"55118{index:08d}", wamid=wamid)) for index, wamid in enumerate(good[4:], 4)]

    server.start()

    forwarded = await asyncio.to_thread(n8n.wait_for, 9, timeout=20.0)
    await eventually(lambda: rows(server, "SELECT kind FROM dead_letters") == [{"kind": "inbound"}], timeout=20.0)
    log = server.log()
    dead = rows(server, "SELECT kind, tenant_id, reference_id, payload, error, attempts FROM dead_letters")[0]
    assert sorted(request.headers["idempotency-key"] for request in forwarded) == sorted(good)
    assert sorted(row["whatsapp_msg_id"] for row in rows(server, "SELECT whatsapp_msg_id FROM messages")) == sorted(good)
    assert dead["tenant_id"] is None
    assert dead["reference_id"] == str(poisoned_id)
    assert json.loads(dead["payload"]) == {"inboxId": poisoned_id}
    assert dead["error"] == "IntegrityError: poisoned message"
    assert dead["attempts"] == 3
    assert rows(server, "SELECT count(*) AS n FROM inbox WHERE processed_at IS NULL") == [{"n": 0}]
    assert rows(server, "SELECT last_error FROM inbox WHERE id = ?", (poisoned_id,)) == [{"last_error": "IntegrityError: poisoned message"}]
    assert f"Inbox batch {ids[0]}-{ids[-1]} failed (IntegrityError: poisoned message); processing its 10 rows one by one" in log
    assert f"Processing inbox {poisoned_id} failed (attempt 1): IntegrityError: poisoned message" in log
    assert f"Job inbound attempt 2/3 started (inbox {poisoned_id})" in log
    assert f"Job inbound attempt 3/3 started (inbox {poisoned_id})" in log
    assert f"Job inbound gave up after 3 attempt(s) (inbox {poisoned_id}): IntegrityError: poisoned message" in log


async def test_dead_inbox_row_replayed(server, http, n8n):
    server.stop()
    execute(server, POISON_TRIGGER)
    wamid = new_wamid()
    inbox_id = insert_inbox(server, text_message("veneno", wamid=wamid))
    server.start()
    await eventually(lambda: rows(server, "SELECT id FROM dead_letters"), timeout=20.0)
    dead_letter_id = rows(server, "SELECT id FROM dead_letters")[0]["id"]
    execute(server, "DROP TRIGGER poison_message")

    environment = {key: value for key, value in server.env.items() if key != "HOTELBOT_LOG_LEVEL"}
    replay = subprocess.run(
        [sys.executable, "-m", "hotelbot", "jobs", "retry", dead_letter_id], env=environment, capture_output=True, text=True, timeout=60
    )
    forwarded = await asyncio.to_thread(n8n.wait_for, 1, timeout=20.0)

    assert replay.returncode == 0, replay.stderr
    assert [request.headers["idempotency-key"] for request in forwarded] == [wamid]
    assert rows(server, "SELECT content FROM messages") == [{"content": "veneno"}]
    assert rows(server, "SELECT processed_at IS NOT NULL AS done FROM inbox WHERE id = ?", (inbox_id,)) == [{"done": 1}]
    assert rows(server, "SELECT retried_at IS NOT NULL AS retried FROM dead_letters") == [{"retried": 1}]


async def test_row_that_failed_gets_own_job_at_start(server, http, n8n):
    server.stop()
    wamid = new_wamid()
    waiting_id = insert_inbox(server, text_message("Primeira", wa_id="5511600000001"))
    failed_id = insert_inbox(server, text_message("Já falhou uma vez", wa_id="5511600000002", wamid=wamid), last_error="OperationalError: disk I/O error")

    server.start()

    await asyncio.to_thread(n8n.wait_for, 2, timeout=20.0)
    await eventually(lambda: rows(server, "SELECT count(*) AS n FROM inbox WHERE processed_at IS NULL") == [{"n": 0}])
    log = server.log()
    assert "Queued unfinished work again: 2 webhook(s)" in log
    assert f"Job inbound attempt 1/3 started (inbox {failed_id})" in log
    assert f"(inbox {waiting_id})" not in log
    assert "Job inbound_drain attempt 1/1 started" in log
    assert rows(server, "SELECT count(*) AS n FROM messages") == [{"n": 2}]
