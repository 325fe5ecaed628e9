"""The forward of a guest's message to N8N: retries, the idempotency key and the hand-over to people."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from hotelbot.forwarding import sign_body
from tests.support.db import eventually, rows
from tests.support.fakes import Recorded, Reply, load_fixture
from tests.support.sockets import EventClient
from tests.support.webhooks import execute, new_wamid, text_message, with_message_id

ASSISTANT_UNAVAILABLE = "Assistente indisponível: a mensagem não pôde ser entregue ao N8N."
NO_ASSISTANT = "Este hotel não tem assistente de IA configurado (sem URL do N8N): uma pessoa responde."


def failing_first(count: int, status: int = 500):
    """Return an N8N handler that responds ``status`` to the first ``count`` requests, then 200."""
    seen = 0
    lock = threading.Lock()

    def handler(request: Recorded) -> Reply:
        nonlocal seen
        with lock:
            seen += 1
            current = seen
        if current <= count:
            return Reply(status, {"message": "Workflow could not be started"})
        return Reply(200, {"ok": True})

    return handler


async def attendant(server, http, sockets) -> EventClient:
    client = EventClient()
    sockets.append(client)
    await client.connect(server.base_url, await server.token(http))
    return client


async def test_accepted_on_third_attempt(server, http, n8n):
    n8n.handler = failing_first(2)
    wamid = new_wamid()

    response = await server.post_webhook(http, text_message("Tem estacionamento?", wamid=wamid))
    assert response.status_code == 200

    attempts = await asyncio.to_thread(n8n.wait_for, 3, timeout=20.0)
    await eventually(lambda: rows(server, "SELECT forward_state FROM messages") == [{"forward_state": "DONE"}])
    assert [request.headers["idempotency-key"] for request in attempts] == [wamid, wamid, wamid]
    assert attempts[0].body == attempts[1].body == attempts[2].body
    assert attempts[2].headers["x-hotelbot-signature"] == sign_body(attempts[2].body, server.tenant.forward_secret)
    assert attempts[2].json()["whatsappMsgId"] == wamid
    assert rows(server, "SELECT count(*) AS n FROM messages") == [{"n": 1}]
    assert rows(server, "SELECT count(*) AS n FROM escalations") == [{"n": 0}]
    assert rows(server, "SELECT count(*) AS n FROM dead_letters") == [{"n": 0}]
    assert rows(server, "SELECT status, ia_locked FROM conversations") == [{"status": "BOT", "ia_locked": 0}]
    assert "Job forward failed" in server.log()


async def test_forward_body_fields(server, http, n8n):
    wamid = new_wamid()
    payload = load_button_reply(wamid)

    await server.post_webhook(http, payload)
    request = (await asyncio.to_thread(n8n.wait_for, 1))[0]

    stored = rows(server, "SELECT id, conversation_id FROM messages")[0]
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "tenantId": server.tenant.id,
        "conversationId": stored["conversation_id"],
        "messageId": stored["id"],
        "whatsappMsgId": wamid,
        "phone": "5511900000001",
        "userId": None,
        "name": "Ana Conceição",
        "message": "Change",
        "messageType": "INTERACTIVE",
        "replyId": "change-button",
        "mediaUrl": None,
        "hotelUnit": None,
    }


def load_button_reply(wamid: str) -> dict:
    return with_message_id(load_fixture("inbound-interactive-button-reply.json"), wamid)


async def test_unreachable_n8n_escalates(server, http, sockets, n8n):
    client = await attendant(server, http, sockets)
    n8n.stop()
    wamid = new_wamid()

    response = await server.post_webhook(http, text_message("Alguém aí?", wamid=wamid))
    assert response.status_code == 200

    created = await client.next("escalation:new", timeout=20.0)
    escalation = created["escalation"]
    assert escalation["reason"] == ASSISTANT_UNAVAILABLE
    assert escalation["status"] == "PENDING"
    assert escalation["priority"] == "HIGH"
    assert created["conversation"]["status"] == "OPEN"
    assert created["conversation"]["iaLocked"] is True
    assert created["conversation"]["openEscalation"]["id"] == escalation["id"]
    assert created["conversation"]["openEscalation"]["reason"] == ASSISTANT_UNAVAILABLE

    updated = await client.next("conversation:updated")
    while updated["conversation"]["status"] != "OPEN":
        updated = await client.next("conversation:updated")
    assert updated["conversation"]["iaLocked"] is True

    conversation = rows(server, "SELECT status, ia_locked, ia_locked_by FROM conversations")
    assert conversation == [{"status": "OPEN", "ia_locked": 1, "ia_locked_by": "N8N"}]
    stored = rows(server, "SELECT reason, status, priority FROM escalations")
    assert stored == [{"reason": ASSISTANT_UNAVAILABLE, "status": "PENDING", "priority": "HIGH"}]
    dead = rows(server, "SELECT kind, tenant_id, attempts, payload, error FROM dead_letters")
    assert len(dead) == 1
    assert dead[0]["kind"] == "forward"
    assert dead[0]["tenant_id"] == server.tenant.id
    assert dead[0]["attempts"] == 3
    assert json.loads(dead[0]["payload"])["messageId"] == rows(server, "SELECT id FROM messages")[0]["id"]
    assert dead[0]["error"].startswith("N8N unreachable")
    assert rows(server, "SELECT forward_state FROM messages") == [{"forward_state": "DEAD"}]


async def test_n8n_always_failing_escalates_once(server, http, sockets, n8n):
    client = await attendant(server, http, sockets)
    n8n.handler = lambda request: Reply(500, {"message": "Error in workflow"})

    await server.post_webhook(http, text_message("Primeira"))
    first = await client.next("escalation:new", timeout=20.0)
    assert len(n8n.requests) == 3

    await server.post_webhook(http, text_message("Segunda"))
    await client.next("message:new")
    await client.next("message:new")

    assert rows(server, "SELECT count(*) AS n FROM escalations") == [{"n": 1}]
    assert rows(server, "SELECT id FROM escalations") == [{"id": first["escalation"]["id"]}]
    assert rows(server, "SELECT error FROM dead_letters") == [{"error": "N8N answered 500"}]
    second = rows(server, "SELECT forward_state FROM messages WHERE content = 'Segunda'")
    assert second == [{"forward_state": "NONE"}]
    await client.expect_none("escalation:new", within=0.5)


async def test_tenant_without_n8n_hands_to_people_at_once(server, http, sockets, n8n):
    """With no N8N URL there is no assistant to retry: the first message escalates, later ones wait for people."""
    server.stop()
    execute(server, "UPDATE tenants SET n8n_url = NULL WHERE id = ?", (server.tenant.id,))
    server.start()
    client = await attendant(server, http, sockets)

    await server.post_webhook(http, text_message("Tem vaga para sábado?"))

    created = await client.next("escalation:new", timeout=5.0)
    assert created["escalation"]["reason"] == NO_ASSISTANT
    assert created["escalation"]["status"] == "PENDING"
    assert created["conversation"]["status"] == "OPEN"
    assert created["conversation"]["iaLocked"] is True
    await eventually(lambda: rows(server, "SELECT forward_state FROM messages") == [{"forward_state": "NONE"}])

    await server.post_webhook(http, text_message("Alguém pode me responder?"))
    await client.next("message:new")
    await eventually(lambda: rows(server, "SELECT count(*) AS n FROM messages") == [{"n": 2}])

    assert rows(server, "SELECT forward_state FROM messages ORDER BY created_at, received_at") == [
        {"forward_state": "NONE"}, {"forward_state": "NONE"}
    ]
    assert rows(server, "SELECT reason FROM escalations") == [{"reason": NO_ASSISTANT}]
    assert rows(server, "SELECT count(*) AS n FROM dead_letters") == [{"n": 0}]
    assert n8n.requests == []
    assert "has no N8N URL: message" in server.log()
    assert "attempt 2" not in server.log()
    await client.expect_none("escalation:new", within=0.5)


@pytest.mark.parametrize("server_settings", [{"retry_delay": 2}])
async def test_failed_hand_over_retried(server, http, sockets):
    """A failed hand-over to people runs again on the queue's retry, because the message stays PENDING until then."""
    server.stop()
    execute(server, "UPDATE tenants SET n8n_url = '' WHERE id = ?", (server.tenant.id,))
    execute(server, "CREATE TRIGGER refuse_escalations BEFORE INSERT ON escalations"
                    " BEGIN SELECT RAISE(ABORT, 'escalations refused by the test'); END")
    server.start()
    client = await attendant(server, http, sockets)

    await server.post_webhook(http, text_message("Tem vaga para sábado?"))
    await eventually(lambda: "escalations refused by the test" in server.log())
    execute(server, "DROP TRIGGER refuse_escalations")

    created = await client.next("escalation:new", timeout=10.0)
    assert created["escalation"]["reason"] == NO_ASSISTANT
    assert created["conversation"]["iaLocked"] is True
    await eventually(lambda: rows(server, "SELECT forward_state FROM messages") == [{"forward_state": "NONE"}])
    assert rows(server, "SELECT count(*) AS n FROM dead_letters") == [{"n": 0}]


@pytest.mark.parametrize("server_settings", [{"forward_timeout": 30, "forward_workers": 2, "workers": 2}])
async def test_slow_n8n_does_not_delay_messages(server, http, sockets, n8n):
    client = await attendant(server, http, sockets)
    release = threading.Event()

    def blocked(request: Recorded) -> Reply:
        release.wait(30)
        return Reply(200, {"ok": True})

    n8n.handler = blocked
    contents = []
    try:
        for index in range(3):
            await server.post_webhook(http, text_message(f"Pergunta {index}", wa_id=f"55119000005{index:02d}"))
        await asyncio.to_thread(n8n.wait_for, 2)
        for index in range(3, 10):
            await server.post_webhook(http, text_message(f"Pergunta {index}", wa_id=f"55119000005{index:02d}"))
        for _ in range(10):
            contents.append((await client.next("message:new", timeout=5.0))["message"]["content"])
    finally:
        release.set()

    assert sorted(contents) == sorted(f"Pergunta {index}" for index in range(10))
    await eventually(lambda: rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'DONE'") == [{"n": 10}], timeout=20.0)
