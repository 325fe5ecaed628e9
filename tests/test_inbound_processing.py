"""What a processed webhook changes: reactions, statuses, account errors, batches, guests and conversations."""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.support.db import eventually, rows
from tests.support.fakes import load_fixture
from tests.support.server import PHONE_NUMBER_IDS, ServerProcess, launch
from tests.support.sockets import EventClient
from tests.support.webhooks import execute, first_message, insert_outbound, new_wamid, text_message, with_message_id


def status_payload(fixture: str, wamid: str) -> dict:
    """Return a copy of a status fixture whose status is about ``wamid``."""
    payload = copy.deepcopy(load_fixture(fixture))
    payload["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = wamid
    return payload


async def attendant(server, http, sockets) -> EventClient:
    client = EventClient()
    sockets.append(client)
    await client.connect(server.base_url, await server.token(http))
    return client


async def stored_conversation(server, http, client: EventClient, payload: dict) -> dict:
    """Post ``payload``, wait for its ``message:new`` and return the conversation of the event."""
    response = await server.post_webhook(http, payload)
    assert response.status_code == 200
    event = await client.next("message:new")
    return event["conversation"]


async def test_reaction_sets_and_removes_emoji(server, http, sockets):
    client = await attendant(server, http, sockets)
    reaction = load_fixture("inbound-reaction.json")
    target_wamid = first_message(reaction)["reaction"]["message_id"]
    await stored_conversation(server, http, client, text_message("Quarto 12 confirmado?", wamid=target_wamid))

    await server.post_webhook(http, reaction)
    added = await client.next("message:updated")
    assert added["message"]["whatsappMsgId"] == target_wamid
    assert added["message"]["reactions"] == [{"emoji": "👍", "from": "5511900000001"}]
    reaction_row = (await client.next("message:new"))["message"]
    assert reaction_row["type"] == "REACTION"
    assert reaction_row["content"] == "👍"

    removal = with_message_id(reaction, new_wamid())
    first_message(removal)["reaction"]["emoji"] = ""
    await server.post_webhook(http, removal)
    removed = await client.next("message:updated")
    assert removed["message"]["reactions"] == []

    target = rows(server, "SELECT reactions FROM messages WHERE whatsapp_msg_id = ?", (target_wamid,))
    assert target == [{"reactions": "[]"}]
    assert rows(server, "SELECT count(*) AS n FROM messages WHERE type = 'REACTION'") == [{"n": 2}]


async def test_reaction_replaces_guest_previous_emoji(server, http, sockets):
    client = await attendant(server, http, sockets)
    reaction = load_fixture("inbound-reaction.json")
    target_wamid = first_message(reaction)["reaction"]["message_id"]
    await stored_conversation(server, http, client, text_message("Tudo certo", wamid=target_wamid))

    await server.post_webhook(http, reaction)
    await client.next("message:updated")
    second = with_message_id(reaction, new_wamid())
    first_message(second)["reaction"]["emoji"] = "❤️"
    await server.post_webhook(http, second)
    updated = await client.next("message:updated")

    assert updated["message"]["reactions"] == [{"emoji": "❤️", "from": "5511900000001"}]


async def test_statuses_move_outbound_forward(server, http, sockets):
    client = await attendant(server, http, sockets)
    conversation = await stored_conversation(server, http, client, text_message())
    wamid = new_wamid()
    message_id = insert_outbound(server, server.tenant.id, conversation["id"], wamid, status="SENT")

    await server.post_webhook(http, status_payload("status-delivered.json", wamid))
    delivered = await client.next("message:status")
    assert delivered == {
        "id": message_id,
        "whatsappMsgId": wamid,
        "conversationId": conversation["id"],
        "status": "DELIVERED",
        "error": None,
    }

    await server.post_webhook(http, status_payload("status-delivered.json", wamid))
    await server.post_webhook(http, status_payload("status-sent.json", wamid))
    await server.post_webhook(http, status_payload("status-read.json", wamid))
    read = await client.next("message:status")
    assert read["status"] == "READ"
    await client.expect_none("message:status", within=0.5)

    assert rows(server, "SELECT status FROM messages WHERE id = ?", (message_id,)) == [{"status": "READ"}]


async def test_failed_status_records_meta_error(server, http, sockets):
    client = await attendant(server, http, sockets)
    conversation = await stored_conversation(server, http, client, text_message())
    wamid = new_wamid()
    message_id = insert_outbound(server, server.tenant.id, conversation["id"], wamid, status="SENT")

    await server.post_webhook(http, status_payload("status-failed-131026.json", wamid))
    failed = await client.next("message:status")

    expected_error = {
        "code": 131026,
        "title": "Message undeliverable",
        "details": "Message Undeliverable.",
        "message": "A mensagem não pôde ser entregue a este hóspede (número sem WhatsApp ou aplicativo desatualizado).",
    }
    assert failed["status"] == "FAILED"
    assert failed["error"] == expected_error
    stored = rows(server, "SELECT status, error FROM messages WHERE id = ?", (message_id,))[0]
    assert stored["status"] == "FAILED"
    assert json.loads(stored["error"]) == expected_error


async def test_failed_status_after_read_ignored(server, http, sockets):
    client = await attendant(server, http, sockets)
    conversation = await stored_conversation(server, http, client, text_message())
    wamid = new_wamid()
    message_id = insert_outbound(server, server.tenant.id, conversation["id"], wamid, status="READ")

    await server.post_webhook(http, status_payload("status-failed-131047.json", wamid))
    await eventually(lambda: rows(server, "SELECT 1 FROM inbox WHERE processed_at IS NULL") == [])

    assert rows(server, "SELECT status, error FROM messages WHERE id = ?", (message_id,)) == [{"status": "READ", "error": None}]
    await client.expect_none("message:status", within=0.3)


async def test_status_of_unknown_message_kept(server, http):
    payload = load_fixture("status-read.json")
    wamid = payload["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]

    response = await server.post_webhook(http, payload)
    assert response.status_code == 200

    early = await eventually(lambda: rows(server, "SELECT tenant_id, whatsapp_msg_id, status FROM early_statuses"))
    assert early == [{"tenant_id": server.tenant.id, "whatsapp_msg_id": wamid, "status": "READ"}]


async def test_account_error_recorded(server, http):
    response = await server.post_webhook(http, load_fixture("webhook-errors-value-130429.json"))
    assert response.status_code == 200

    recorded = await eventually(lambda: rows(server, "SELECT tenant_id, code, title, details FROM account_errors"))
    assert recorded == [{
        "tenant_id": server.tenant.id,
        "code": 130429,
        "title": "Rate limit hit",
        "details": "Message failed to send because there were too many messages sent from this phone number in a short period of time",
    }]
    await eventually(lambda: "Meta reported an account error" in server.log())
    assert "code=130429" in server.log()


def batch_payload(known: list[list[dict]], unknown_message: dict) -> dict:
    """Return one webhook body with an entry per list of changes, plus a change for a number no tenant has."""
    entries = [{"id": "109900000000001", "changes": [{"value": value, "field": "messages"} for value in changes]} for changes in known]
    entries[0]["changes"].insert(1, {
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "5511999999999", "phone_number_id": "999999999999999"},
            "messages": [unknown_message],
        },
        "field": "messages",
    })
    return {"object": "whatsapp_business_account", "entry": entries}


def change_value(phone_number_id: str, messages: list[dict], statuses: list[dict] = ()) -> dict:
    contacts = [{"profile": {"name": f"Hóspede {m['from'][-2:]}"}, "wa_id": m["from"]} for m in messages]
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "5511900000000", "phone_number_id": phone_number_id},
        "contacts": contacts,
        "messages": messages,
        "statuses": list(statuses),
    }


def raw_text(wa_id: str, wamid: str, body: str) -> dict:
    return first_message(text_message(body, wa_id=wa_id, wamid=wamid))


@pytest.fixture
def one_app_server(tmp_path, graph, n8n) -> Iterator[ServerProcess]:
    """The server with both tenants on one Meta app: a body may then name both numbers under one signature."""
    process = launch(tmp_path / "data", graph.url, n8n.url, start=False)
    subprocess.run(
        [sys.executable, "-m", "hotelbot", "tenant", "update", "--tenant", process.tenants[1].id, "--app-secret-env", "SHARED_SECRET"],
        env={**process.env, "SHARED_SECRET": process.tenants[0].app_secret}, check=True, capture_output=True,
    )
    process.tenants[1].app_secret = process.tenants[0].app_secret
    process.start()
    yield process
    process.stop()


async def test_batch_processes_every_item(one_app_server, http):
    server = one_app_server
    wamids = [new_wamid() for _ in range(5)]
    status = copy.deepcopy(load_fixture("status-read.json")["entry"][0]["changes"][0]["value"]["statuses"][0])
    first_change = change_value(PHONE_NUMBER_IDS[0], [
        raw_text("5511900000011", wamids[0], "Um"),
        raw_text("5511900000012", wamids[1], "Dois"),
    ], [status])
    second_change = change_value(PHONE_NUMBER_IDS[0], [raw_text("5511900000011", wamids[2], "Três")])
    other_tenant = change_value(PHONE_NUMBER_IDS[1], [raw_text("5511900000013", wamids[3], "Quatro")])
    payload = batch_payload([[first_change, second_change], [other_tenant]], raw_text("5511900000014", wamids[4], "Cinco"))

    response = await server.post_webhook(http, payload)
    assert response.status_code == 200

    await eventually(lambda: len(rows(server, "SELECT 1 FROM messages")) == 4)
    stored = rows(server, "SELECT whatsapp_msg_id, tenant_id, content FROM messages ORDER BY content")
    assert stored == sorted([
        {"whatsapp_msg_id": wamids[0], "tenant_id": server.tenants[0].id, "content": "Um"},
        {"whatsapp_msg_id": wamids[1], "tenant_id": server.tenants[0].id, "content": "Dois"},
        {"whatsapp_msg_id": wamids[2], "tenant_id": server.tenants[0].id, "content": "Três"},
        {"whatsapp_msg_id": wamids[3], "tenant_id": server.tenants[1].id, "content": "Quatro"},
    ], key=lambda row: row["content"])
    assert rows(server, "SELECT count(*) AS n FROM conversations WHERE tenant_id = ?", (server.tenants[0].id,)) == [{"n": 2}]
    assert rows(server, "SELECT count(*) AS n FROM early_statuses") == [{"n": 1}]
    assert rows(server, "SELECT count(*) AS n FROM inbox WHERE processed_at IS NULL") == [{"n": 0}]
    assert "phone number id 999999999999999, which no tenant has" in server.log()


async def test_ninth_digit_variants_one_guest(server, http, sockets, n8n):
    client = await attendant(server, http, sockets)

    first = await stored_conversation(server, http, client, text_message("Com nono dígito", wa_id="5511900000021"))
    second = await stored_conversation(server, http, client, text_message("Sem nono dígito", wa_id="551100000021"))

    assert second["id"] == first["id"]
    assert second["contact"]["id"] == first["contact"]["id"]
    assert second["contact"]["phone"] == "551100000021"
    assert second["unreadCount"] == 2
    assert rows(server, "SELECT count(*) AS n FROM contacts") == [{"n": 1}]
    assert rows(server, "SELECT count(*) AS n FROM conversations") == [{"n": 1}]
    forwarded = await asyncio.to_thread(n8n.wait_for, 2)
    # Forwards run on several threads, so N8N may receive the two in either order.
    assert sorted(request.json()["phone"] for request in forwarded) == ["551100000021", "5511900000021"]
    assert {request.json()["conversationId"] for request in forwarded} == {first["id"]}


async def test_twelve_digit_first_then_thirteen(server, http, sockets):
    client = await attendant(server, http, sockets)

    first = await stored_conversation(server, http, client, text_message("Oi", wa_id="551100000022"))
    second = await stored_conversation(server, http, client, text_message("Oi de novo", wa_id="5511900000022"))

    assert second["id"] == first["id"]
    assert rows(server, "SELECT count(*) AS n FROM contacts") == [{"n": 1}]


async def test_locked_conversation_not_forwarded(server, http, sockets, n8n):
    client = await attendant(server, http, sockets)
    conversation = await stored_conversation(server, http, client, text_message("Primeira"))
    await asyncio.to_thread(n8n.wait_for, 1)
    execute(server, "UPDATE conversations SET status = 'OPEN', ia_locked = 1, ia_locked_by = 'N8N' WHERE id = ?", (conversation["id"],))

    locked_wamid = new_wamid()
    after = await stored_conversation(server, http, client, text_message("Quero falar com alguém", wamid=locked_wamid))
    assert after["status"] == "OPEN"
    assert after["iaLocked"] is True
    stored = rows(server, "SELECT forward_state FROM messages WHERE whatsapp_msg_id = ?", (locked_wamid,))
    assert stored == [{"forward_state": "NONE"}]

    # Another guest's message is forwarded after the locked one was processed: N8N got only the first and this one.
    await stored_conversation(server, http, client, text_message("Outro hóspede", wa_id="5511900000031"))
    forwarded = await asyncio.to_thread(n8n.wait_for, 2)
    assert [request.json()["message"] for request in forwarded] == ["Primeira", "Outro hóspede"]


async def test_closed_conversation_reopens_as_bot(server, http, sockets, n8n):
    client = await attendant(server, http, sockets)
    conversation = await stored_conversation(server, http, client, text_message("Obrigada!"))
    await client.next("conversation:updated")
    await asyncio.to_thread(n8n.wait_for, 1)
    admin_id = rows(server, "SELECT id FROM users WHERE email = ?", (server.tenant.users["admin"],))[0]["id"]
    execute(
        server,
        "UPDATE conversations SET status = 'CLOSED', ia_locked = 1, ia_locked_by = ?, assigned_to_id = ?,"
        " closed_at = '2026-01-01T00:00:00.000Z' WHERE id = ?",
        (admin_id, admin_id, conversation["id"]),
    )

    reopened = await stored_conversation(server, http, client, text_message("Voltei, preciso de outra reserva"))
    updated = await client.next("conversation:updated")

    assert reopened["id"] == conversation["id"]
    assert reopened["status"] == "BOT"
    assert reopened["iaLocked"] is False
    assert reopened["iaLockedBy"] is None
    assert reopened["assignedToId"] is None
    assert reopened["closedAt"] is None
    assert updated["conversation"]["status"] == "BOT"
    forwarded = await asyncio.to_thread(n8n.wait_for, 2)
    assert forwarded[1].json()["message"] == "Voltei, preciso de outra reserva"


async def test_new_conversation_fields(server, http, sockets):
    client = await attendant(server, http, sockets)

    response = await server.post_webhook(http, text_message("Olá", timestamp="1767268800"))
    assert response.status_code == 200
    created = await client.next("conversation:updated")
    conversation = created["conversation"]

    assert conversation["status"] == "BOT"
    assert conversation["priority"] == "MEDIUM"
    assert conversation["iaLocked"] is False
    assert conversation["unreadCount"] == 1
    assert conversation["lastInboundAt"] == "2026-01-01T12:00:00.000Z"
    assert conversation["lastMessageAt"] == "2026-01-01T12:00:00.000Z"
    assert conversation["openEscalation"] is None
    assert conversation["contact"]["phone"] == "5511900000001"
    assert conversation["contact"]["name"] == "Ana Conceição"


async def test_escalated_conversation_not_forwarded(server, http, sockets, n8n):
    client = await attendant(server, http, sockets)
    await stored_conversation(server, http, client, text_message("Quero falar com a recepção"))
    await asyncio.to_thread(n8n.wait_for, 1)
    response = await http.post(
        server.base_url + "/n8n/escalate", headers={"X-API-Key": server.tenant.api_key},
        json={"phone": "+55 (11) 90000-0001", "reason": "Hóspede pediu a recepção", "priority": "HIGH"},
    )
    assert response.status_code == 200

    wamid = new_wamid()
    after = await stored_conversation(server, http, client, text_message("Alguém pode me ligar?", wamid=wamid))

    assert after["status"] == "OPEN"
    assert after["iaLocked"] is True
    assert rows(server, "SELECT forward_state FROM messages WHERE whatsapp_msg_id = ?", (wamid,)) == [{"forward_state": "NONE"}]
    await stored_conversation(server, http, client, text_message("Outro hóspede", wa_id="5511900000032"))
    forwarded = await asyncio.to_thread(n8n.wait_for, 2)
    assert [request.json()["message"] for request in forwarded] == ["Quero falar com a recepção", "Outro hóspede"]
