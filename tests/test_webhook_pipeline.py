"""A guest's message from the webhook to the database, N8N and the attendants' sockets."""

from __future__ import annotations

import asyncio
import json

from hotelbot.forwarding import sign_body
from tests.support.db import eventually, rows
from tests.support.fakes import load_fixture
from tests.support.sockets import EventClient


async def test_text_message_stored_forwarded_and_emitted(server, n8n, http, sockets):
    client = EventClient()
    sockets.append(client)
    await client.connect(server.base_url, await server.token(http))

    response = await server.post_webhook(http, load_fixture("inbound-text.json"))
    assert response.status_code == 200

    event = await client.next("message:new")
    assert event["message"]["type"] == "TEXT"
    assert event["message"]["content"].startswith("Olá! Vocês têm quarto")
    assert event["message"]["direction"] == "INBOUND"
    assert event["message"]["sender"] == {"type": "CONTACT", "name": "Ana Conceição"}
    assert event["message"]["createdAt"] == "2025-06-08T20:59:43.000Z"
    assert event["conversation"]["status"] == "BOT"
    assert event["conversation"]["contact"]["phone"] == "5511900000001"
    assert event["conversation"]["unreadCount"] == 1

    forwarded = await asyncio.to_thread(n8n.wait_for, 1)
    body = forwarded[0].json()
    assert body["tenantId"] == server.tenant.id
    assert body["messageId"] == event["message"]["id"]
    assert body["conversationId"] == event["conversation"]["id"]
    assert body["phone"] == "5511900000001"
    assert body["name"] == "Ana Conceição"
    assert body["messageType"] == "TEXT"
    assert body["message"] == event["message"]["content"]
    assert forwarded[0].headers["idempotency-key"] == event["message"]["whatsappMsgId"]
    assert forwarded[0].headers["x-hotelbot-signature"] == sign_body(forwarded[0].body, server.tenant.forward_secret)

    await eventually(lambda: rows(server, "SELECT 1 FROM messages WHERE forward_state = 'DONE'"))
    stored = rows(server, "SELECT type, direction, status, forward_state FROM messages")
    assert stored == [{"type": "TEXT", "direction": "INBOUND", "status": "RECEIVED", "forward_state": "DONE"}]


async def test_duplicate_deliveries_store_one_message(server, n8n, http, sockets):
    client = EventClient()
    sockets.append(client)
    await client.connect(server.base_url, await server.token(http))
    payload = load_fixture("inbound-text.json")

    first, second = await asyncio.gather(server.post_webhook(http, payload), server.post_webhook(http, payload))
    assert (first.status_code, second.status_code) == (200, 200)
    await client.next("message:new")
    await asyncio.to_thread(n8n.wait_for, 1)

    third = await server.post_webhook(http, payload)
    assert third.status_code == 200
    await client.expect_none("message:new", within=1.0)

    assert rows(server, "SELECT count(*) AS n FROM messages") == [{"n": 1}]
    assert rows(server, "SELECT count(*) AS n FROM conversations") == [{"n": 1}]
    assert len(n8n.requests) == 1


async def test_unsigned_webhook_rejected(server, http):
    body = json.dumps(load_fixture("inbound-text.json")).encode()
    response = await http.post(server.base_url + "/webhooks/whatsapp", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"
    assert rows(server, "SELECT count(*) AS n FROM inbox") == [{"n": 0}]
