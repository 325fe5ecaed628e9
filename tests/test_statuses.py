"""Delivery ticks: Meta's statuses applied to the attendants' replies, end to end."""

from __future__ import annotations

import copy
import json
import time

import httpx
import pytest

from tests.support.attendants import Api, guest_writes, phone
from tests.support.db import eventually, rows
from tests.support.fakes import Recorded, Reply, load_fixture
from tests.support.webhooks import new_wamid

FIXTURES = {
    "SENT": "status-sent.json",
    "DELIVERED": "status-delivered.json",
    "READ": "status-read.json",
    "FAILED": "status-failed-131026.json",
}


@pytest.fixture
async def api(server, http) -> Api:
    return Api(server, http, server.tenant)


def status_webhook(api: Api, wamid: str, status: str, raw_status: str | None = None) -> dict:
    """Return a status webhook from the fixture of ``status``, about ``wamid``."""
    payload = copy.deepcopy(load_fixture(FIXTURES[status]))
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = api.tenant.phone_number_id
    value["statuses"][0]["id"] = wamid
    if raw_status:
        value["statuses"][0]["status"] = raw_status
    return payload


async def _post_status(api: Api, wamid: str, status: str, raw_status: str | None = None) -> None:
    response = await api.server.post_webhook(api.http, status_webhook(api, wamid, status, raw_status), api.tenant)
    assert response.status_code == 200


async def _processed(api: Api) -> None:
    """Wait until every stored webhook is processed."""
    await eventually(lambda: rows(api.server, "SELECT count(*) AS n FROM inbox WHERE processed_at IS NULL") == [{"n": 0}])


async def _reply(api: Api, wa_number: int) -> tuple[str, dict]:
    conversation_id = await guest_writes(api, wa_id=phone(wa_number))
    response = await api.call("POST", "/messages/send-text", "attendant", json={"conversationId": conversation_id, "content": "Olá!"})
    assert response.status_code == 201, response.text
    return conversation_id, response.json()["message"]


def _status(api: Api, message_id: str) -> str:
    return rows(api.server, "SELECT status FROM messages WHERE id = ?", (message_id,))[0]["status"]


async def test_statuses_move_forward(api, sockets):
    conversation_id, message = await _reply(api, 1)
    client = await api.socket("supervisor", sockets)
    joined = await client.call("join:conversation", {"conversationId": conversation_id})
    assert joined == {"ok": True}

    for status in ("DELIVERED", "READ"):
        await _post_status(api, message["whatsappMsgId"], status)
        event = await client.next("message:status")
        assert event == {
            "id": message["id"], "whatsappMsgId": message["whatsappMsgId"],
            "conversationId": conversation_id, "status": status, "error": None,
        }
        assert _status(api, message["id"]) == status

    await client.expect_none("message:status", within=0.5)
    assert len(client.received["message:status"]) == 2


async def test_out_of_order_statuses_end_read(api, sockets):
    _, message = await _reply(api, 2)
    client = await api.socket("attendant", sockets)

    for status in ("READ", "DELIVERED", "SENT"):
        await _post_status(api, message["whatsappMsgId"], status)
    await _processed(api)

    assert _status(api, message["id"]) == "READ"
    # Webhooks are processed by several workers, so an earlier status may be applied before READ arrives.
    seen = [(await client.next("message:status"))["status"]]
    while seen[-1] != "READ":
        seen.append((await client.next("message:status"))["status"])
    await client.expect_none("message:status", within=0.5)
    rank = {"SENT": 1, "DELIVERED": 2, "READ": 3}
    assert seen == sorted(set(seen), key=rank.__getitem__)


async def test_played_failed_late_and_unknown(api):
    _, played = await _reply(api, 3)
    _, delivered = await _reply(api, 6)
    unknown = new_wamid()

    await _post_status(api, played["whatsappMsgId"], "READ", raw_status="played")
    await _post_status(api, delivered["whatsappMsgId"], "DELIVERED")
    await _post_status(api, delivered["whatsappMsgId"], "FAILED")
    await _post_status(api, unknown, "DELIVERED")
    await _processed(api)

    assert _status(api, played["id"]) == "READ"
    assert _status(api, delivered["id"]) == "DELIVERED"
    assert rows(api.server, "SELECT error FROM messages WHERE id = ?", (delivered["id"],)) == [{"error": None}]
    assert rows(api.server, "SELECT whatsapp_msg_id, status FROM early_statuses") == [
        {"whatsapp_msg_id": unknown, "status": "DELIVERED"}
    ]


async def test_duplicate_status_is_noop(api, sockets):
    _, message = await _reply(api, 4)
    client = await api.socket("attendant", sockets)

    await _post_status(api, message["whatsappMsgId"], "DELIVERED")
    assert (await client.next("message:status"))["status"] == "DELIVERED"
    updated_at = rows(api.server, "SELECT updated_at FROM messages WHERE id = ?", (message["id"],))[0]["updated_at"]

    await _post_status(api, message["whatsappMsgId"], "DELIVERED")
    await _processed(api)

    await client.expect_none("message:status", within=0.5)
    assert rows(api.server, "SELECT updated_at FROM messages WHERE id = ?", (message["id"],))[0]["updated_at"] == updated_at


async def test_failed_status_stores_meta_error(api, sockets):
    conversation_id, message = await _reply(api, 5)
    client = await api.socket("attendant", sockets)

    await _post_status(api, message["whatsappMsgId"], "FAILED")
    event = await client.next("message:status")

    expected_error = {
        "code": 131026,
        "title": "Message undeliverable",
        "details": "Message Undeliverable.",
        "message": "A mensagem não pôde ser entregue a este hóspede (número sem WhatsApp ou aplicativo desatualizado).",
    }
    assert event["status"] == "FAILED"
    assert event["error"] == expected_error
    listed = await api.call("GET", f"/conversations/{conversation_id}/messages", "attendant")
    shown = [item for item in listed.json()["items"] if item["id"] == message["id"]][0]
    assert shown["status"] == "FAILED"
    assert shown["error"] == expected_error


async def test_status_before_send_response_applied(api, graph, sockets):
    """Meta's status webhook reaches hotelbot before Meta's response to the send."""
    conversation_id = await guest_writes(api, wa_id=phone(7))
    wamid = new_wamid()
    client = await api.socket("attendant", sockets)

    def answer_after_status(request: Recorded) -> Reply:
        body = json.dumps(status_webhook(api, wamid, "DELIVERED"), ensure_ascii=True).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": api.server.sign(body)}
        posted = httpx.post(api.server.base_url + "/webhooks/whatsapp", content=body, headers=headers, timeout=5)
        assert posted.status_code == 200
        _wait_sync(lambda: rows(api.server, "SELECT 1 FROM early_statuses WHERE whatsapp_msg_id = ?", (wamid,)))
        return Reply(200, {"messaging_product": "whatsapp", "messages": [{"id": wamid}]})

    graph.handler = answer_after_status
    response = await api.call("POST", "/messages/send-text", "attendant", json={"conversationId": conversation_id, "content": "Olá!"})

    assert response.status_code == 201
    message = response.json()["message"]
    assert message["whatsappMsgId"] == wamid
    assert message["status"] == "DELIVERED"
    assert (await client.next("message:new"))["message"]["id"] == message["id"]
    status_event = await client.next("message:status")
    assert (status_event["id"], status_event["status"]) == (message["id"], "DELIVERED")
    assert rows(api.server, "SELECT count(*) AS n FROM early_statuses") == [{"n": 0}]


def _wait_sync(check, timeout: float = 10.0) -> None:
    """Block the fake's thread until ``check()`` is true; raise TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.02)


async def test_status_of_other_tenant_not_applied(api, server, http):
    _, message = await _reply(api, 8)
    other = Api(server, http, server.tenants[1])
    response = await server.post_webhook(http, status_webhook(other, message["whatsappMsgId"], "READ"), other.tenant)
    assert response.status_code == 200
    await _processed(api)
    assert _status(api, message["id"]) == "SENT"


async def test_events_reach_each_client_once(api, sockets):
    """A client in several target rooms (tenant, unit, conversation) gets each event once."""
    conversation_id, message = await _reply(api, 9)
    unit = await api.call("PATCH", f"/conversations/{conversation_id}", "supervisor", json={"hotelUnit": "Campos do Jordão"})
    assert unit.status_code == 200
    campos = await api.socket("attendant_campos", sockets)
    supervisor = await api.socket("supervisor", sockets)
    for client in (campos, supervisor):
        assert await client.call("join:conversation", {"conversationId": conversation_id}) == {"ok": True}

    await _post_status(api, message["whatsappMsgId"], "READ")
    escalated = await api.http.post(
        api.server.base_url + "/n8n/escalate", headers={"X-API-Key": api.tenant.api_key},
        json={"conversationId": conversation_id, "reason": "Reclamação", "priority": "HIGH"},
    )
    assert escalated.status_code == 200

    for client in (campos, supervisor):
        assert (await client.next("message:status"))["status"] == "READ"
        assert (await client.next("escalation:new"))["conversation"]["id"] == conversation_id
        await client.expect_none("message:status", within=0.3)
        await client.expect_none("escalation:new", within=0.3)
        assert len(client.received["message:status"]) == 1
        assert len(client.received["escalation:new"]) == 1
