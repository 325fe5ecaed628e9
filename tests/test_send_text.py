"""Attendants' replies: send-text inside and outside the window, Meta's errors, outages, templates."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.support.attendants import Api, conversation_row, escalations_of, guest_writes, phone
from tests.support.db import eventually, rows
from tests.support.fakes import Reply, load_fixture
from tests.support.server import ServerProcess, launch
from tests.support.webhooks import execute


@pytest.fixture
async def api(server, http) -> Api:
    return Api(server, http, server.tenant)


async def _send(api: Api, conversation_id: str, content: str, label: str = "attendant", **extra) -> dict:
    response = await api.call(
        "POST", "/messages/send-text", label, json={"conversationId": conversation_id, "content": content, **extra}
    )
    return {"status": response.status_code, "body": response.json()}


def _outbound(server) -> list[dict]:
    return rows(server, "SELECT * FROM messages WHERE direction = 'OUTBOUND' ORDER BY created_at, rowid")


async def test_reply_inside_window_sent_and_takes_over(api, graph, sockets):
    conversation_id = await guest_writes(api, "Tem vaga?", wa_id=phone(1))
    attendant_id = await api.user_id("attendant")
    watcher = await api.socket("supervisor", sockets)
    replier = await api.socket("attendant", sockets)

    sent = await _send(api, conversation_id, "Temos sim! 😊")

    assert sent["status"] == 201
    message = sent["body"]["message"]
    assert message["direction"] == "OUTBOUND"
    assert message["type"] == "TEXT"
    assert message["content"] == "Temos sim! 😊"
    assert message["status"] == "SENT"
    assert message["whatsappMsgId"] == "wamid.FAKE00000001"
    assert message["sender"] == {"type": "ATTENDANT", "userId": attendant_id, "name": "Attendant"}
    assert message["conversationId"] == conversation_id

    [request] = graph.sends()
    assert request.path == f"/v21.0/{api.tenant.phone_number_id}/messages"
    assert request.headers["authorization"] == "Bearer access-token-0"
    assert request.json() == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": phone(1),
        "type": "text", "text": {"body": "Temos sim! 😊"},
    }

    event = await watcher.next("message:new")
    assert event["message"]["id"] == message["id"]
    assert event["conversation"]["status"] == "IN_PROGRESS"
    assigned = await replier.next("conversation:assigned")
    assert assigned["conversation"]["assignedToId"] == attendant_id
    await watcher.expect_none("conversation:assigned", within=0.3)

    row = conversation_row(api.server, conversation_id)
    assert row["status"] == "IN_PROGRESS"
    assert row["assigned_to_id"] == attendant_id
    assert row["ia_locked"] == 1
    assert row["ia_locked_by"] == attendant_id
    assert [(item["status"], item["whatsapp_msg_id"]) for item in _outbound(api.server)] == [("SENT", "wamid.FAKE00000001")]


async def test_reply_outside_window_rejected(api, graph):
    conversation_id = await guest_writes(api, wa_id=phone(3))
    execute(api.server, "UPDATE conversations SET last_inbound_at = ? WHERE id = ?", ("2020-01-01T00:00:00.000Z", conversation_id))
    before = conversation_row(api.server, conversation_id)

    sent = await _send(api, conversation_id, "Olá?")

    assert sent["status"] == 422
    assert sent["body"]["code"] == "WINDOW_CLOSED"
    assert sent["body"]["error"] == (
        "A janela de 24 horas para responder a este hóspede foi encerrada. Envie um modelo (template) aprovado."
    )
    assert graph.sends() == []
    assert _outbound(api.server) == []
    assert conversation_row(api.server, conversation_id) == before

    execute(api.server, "UPDATE users SET language = 'en' WHERE email = ?", (api.tenant.users["attendant"],))
    in_english = await _send(api, conversation_id, "Hello?")
    assert in_english["body"]["error"] == "The 24-hour window to reply to this guest has closed. Send an approved template instead."


async def test_repeated_client_message_id_sends_once(api, graph):
    conversation_id = await guest_writes(api, wa_id=phone(5))

    first = await _send(api, conversation_id, "Uma vez", clientMessageId="c-1")
    second = await _send(api, conversation_id, "Uma vez", clientMessageId="c-1")
    other_user = await _send(api, conversation_id, "Uma vez", label="supervisor", clientMessageId="c-1")

    assert first["status"] == 201
    assert second["status"] == 200
    assert second["body"]["message"] == first["body"]["message"]
    assert other_user["status"] == 201
    assert len(graph.sends()) == 2
    assert len(_outbound(api.server)) == 2


async def test_send_text_rejects_bad_input(api, graph):
    conversation_id = await guest_writes(api, wa_id=phone(6))
    cases = [
        ({"conversationId": conversation_id, "content": ""}, "content"),
        ({"conversationId": conversation_id, "content": "   \n "}, "content"),
        ({"conversationId": conversation_id, "content": "a" * 4097}, "content"),
        ({"conversationId": conversation_id, "content": "😊" * 4097}, "content"),
        ({"conversationId": conversation_id}, "content"),
        ({"conversationId": conversation_id, "content": 12}, "content"),
        ({"content": "Olá"}, "conversationId"),
        ({"conversationId": conversation_id, "content": "Olá", "clientMessageId": "x" * 101}, "clientMessageId"),
    ]
    for body, field in cases:
        response = await api.call("POST", "/messages/send-text", "attendant", json=body)
        assert (field, response.status_code) == (field, 400)
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert [detail["field"] for detail in response.json()["details"]] == [field]

    not_json = await api.call("POST", "/messages/send-text", "attendant", content=b"content=Ola")
    assert not_json.status_code == 400
    status_line, body = await _declare_oversized_body(api, "/messages/send-text", 2 * 1024 * 1024)
    assert status_line.startswith(b"HTTP/1.1 413")
    assert b'"code":"PAYLOAD_TOO_LARGE"' in body

    assert graph.sends() == []
    assert _outbound(api.server) == []
    assert conversation_row(api.server, conversation_id)["status"] == "BOT"


async def _declare_oversized_body(api: Api, path: str, length: int) -> tuple[bytes, bytes]:
    """Send only the headers of a request announcing ``length`` body bytes; return the status line and body.

    The server responds before the body arrives, so no upload races the response.
    """
    host, port = api.server.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    token = await api.token("attendant")
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    declared = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    body = await asyncio.wait_for(reader.readexactly(int(declared[0].split(b":")[1])), 10) if declared else b""
    writer.close()
    await writer.wait_closed()
    return head.split(b"\r\n")[0], body


async def test_text_sent_as_written(api, graph):
    emoji = await guest_writes(api, wa_id=phone(7))
    link = await guest_writes(api, wa_id=phone(2))

    longest = await _send(api, emoji, "😊" * 4096)
    with_link = await _send(api, link, "Veja https://hotel.example.com/r/1")

    assert longest["status"] == 201
    assert with_link["status"] == 201
    bodies = [request.json()["text"] for request in graph.sends()]
    assert bodies == [{"body": "😊" * 4096}, {"body": "Veja https://hotel.example.com/r/1", "preview_url": True}]


async def test_graph_down_then_back_sends_in_order(api, graph, sockets):
    conversation_id = await guest_writes(api, wa_id=phone(8))
    watcher = await api.socket("attendant", sockets)
    graph.handler = lambda request: Reply(500, {"error": {"message": "Service temporarily unavailable", "code": 2}})

    results = [await _send(api, conversation_id, f"Resposta {number}") for number in range(3)]

    assert [result["status"] for result in results] == [202, 202, 202]
    assert [result["body"]["message"]["status"] for result in results] == ["PENDING"] * 3
    assert [result["body"]["message"]["whatsappMsgId"] for result in results] == [None] * 3
    for number in range(3):
        assert (await watcher.next("message:new"))["message"]["content"] == f"Resposta {number}"

    graph.handler = graph.default_handler
    statuses = [await watcher.next("message:status", timeout=20) for _ in range(3)]

    assert [status["id"] for status in statuses] == [result["body"]["message"]["id"] for result in results]
    assert [status["status"] for status in statuses] == ["SENT"] * 3
    accepted = [request.json()["text"]["body"] for request in graph.sends() if request.json().get("type") == "text"]
    assert accepted[-3:] == ["Resposta 0", "Resposta 1", "Resposta 2"]
    stored = _outbound(api.server)
    assert [(row["content"], row["status"]) for row in stored] == [(f"Resposta {n}", "SENT") for n in range(3)]
    assert [row["error"] for row in stored] == [None] * 3


ERROR_CASES = [
    # fixture, HTTP status of Meta's response, code, API status, stored pt-BR message
    ("graph-error-100-invalid-parameter.json", 400, 100, 422, "O WhatsApp recusou um parâmetro da mensagem."),
    ("graph-error-131030-recipient-not-allowed.json", 400, 131030, 422,
     "Este número não está na lista de destinatários permitidos da conta de teste."),
    ("graph-error-131047-reengagement.json", 400, 131047, 422,
     "Passaram-se mais de 24 horas desde a última mensagem do hóspede. Envie um modelo (template) aprovado."),
    ("graph-error-190-token-expired.json", 401, 190, 502,
     "O WhatsApp recusou o token de acesso do hotel. Um administrador precisa atualizá-lo."),
]


async def test_meta_errors_stored_and_explained(api, graph):
    for number, (fixture, http_status, code, api_status, text) in enumerate(ERROR_CASES, start=90):
        conversation_id = await guest_writes(api, wa_id=phone(number))
        envelope = load_fixture(fixture)
        graph.handler = lambda request, envelope=envelope, http_status=http_status: Reply(http_status, envelope)

        sent = await _send(api, conversation_id, "Olá")

        assert (fixture, sent["status"]) == (fixture, api_status)
        assert sent["body"]["code"] == "WHATSAPP_ERROR"
        assert sent["body"]["whatsappCode"] == code
        assert sent["body"]["error"] == text
        failed = sent["body"]["message"]
        assert failed["status"] == "FAILED"
        assert failed["error"] == {
            "code": code, "title": envelope["error"]["message"],
            "details": envelope["error"].get("error_data", {}).get("details"), "message": text,
        }
        [row] = [row for row in _outbound(api.server) if row["conversation_id"] == conversation_id]
        assert row["status"] == "FAILED"
        assert row["whatsapp_msg_id"] is None


async def test_rate_limit_kept_pending_then_sent(api, graph):
    conversation_id = await guest_writes(api, wa_id=phone(10))
    envelope = load_fixture("graph-error-130429-rate-limit.json")
    graph.handler = lambda request: Reply(400, envelope)

    sent = await _send(api, conversation_id, "Olá")

    assert sent["status"] == 202
    assert sent["body"]["message"]["status"] == "PENDING"
    stored_error = await eventually(lambda: _outbound(api.server)[0]["error"])
    assert '"code": 130429' in stored_error
    assert "Muitas mensagens enviadas pelo número do hotel. A mensagem será reenviada." in stored_error

    graph.handler = graph.default_handler
    sent_row = await eventually(lambda: [row for row in _outbound(api.server) if row["status"] == "SENT"], timeout=20)
    assert sent_row[0]["error"] is None


async def test_reply_on_anothers_conversation_keeps_assignee(api, graph):
    conversation_id = await guest_writes(api, wa_id=phone(11))
    campos_id = await api.user_id("attendant_campos")
    taken = await api.call("POST", f"/conversations/{conversation_id}/assign", "attendant_campos", json={"assignedToId": campos_id})
    assert taken.status_code == 200

    sent = await _send(api, conversation_id, "Posso ajudar também", label="supervisor")

    assert sent["status"] == 201
    assert conversation_row(api.server, conversation_id)["assigned_to_id"] == campos_id


async def test_reply_starts_open_escalation(api, graph):
    conversation_id = await guest_writes(api, wa_id=phone(12))
    escalated = await api.http.post(
        api.server.base_url + "/n8n/escalate", headers={"X-API-Key": api.tenant.api_key},
        json={"conversationId": conversation_id, "reason": "Quer falar com uma pessoa", "priority": "HIGH"},
    )
    assert escalated.status_code == 200, escalated.text

    sent = await _send(api, conversation_id, "Oi, aqui é a recepção")

    assert sent["status"] == 201
    [escalation] = escalations_of(api.server, conversation_id)
    assert escalation["status"] == "IN_PROGRESS"
    assert escalation["first_response_at"] is not None
    row = conversation_row(api.server, conversation_id)
    assert row["status"] == "IN_PROGRESS"
    assert row["ia_locked_by"] == "N8N"


TEMPLATE = {
    "name": "reserva_confirmada", "language": "pt_BR", "status": "APPROVED", "category": "UTILITY",
    "components": [{"type": "BODY", "text": "Olá {{1}}, sua reserva {{2}} está confirmada."}],
}


async def test_template_outside_window(api, graph):
    graph.templates = [TEMPLATE]
    conversation_id = await guest_writes(api, wa_id=phone(13), at=time.time() - 3 * 86400)
    attendant_id = await api.user_id("attendant")

    response = await api.call("POST", "/messages/send-template", "attendant", json={
        "conversationId": conversation_id, "templateName": "reserva_confirmada", "language": "pt_BR",
        "params": ["Ana", "R-123"],
    })

    assert response.status_code == 201
    message = response.json()["message"]
    assert message["type"] == "TEMPLATE"
    assert message["content"] == "Olá Ana, sua reserva R-123 está confirmada."
    assert message["metadata"]["templateName"] == "reserva_confirmada"
    assert message["status"] == "SENT"
    [request] = graph.sends()
    assert request.json() == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": phone(13), "type": "template",
        "template": {
            "name": "reserva_confirmada", "language": {"code": "pt_BR"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "R-123"}]}],
        },
    }
    row = conversation_row(api.server, conversation_id)
    assert (row["status"], row["assigned_to_id"]) == ("IN_PROGRESS", attendant_id)


async def test_template_checked_against_approved_list(api, graph):
    graph.templates = [TEMPLATE]
    conversation_id = await guest_writes(api, wa_id=phone(14))
    unknown = await api.call("POST", "/messages/send-template", "attendant", json={
        "conversationId": conversation_id, "templateName": "promocao", "language": "pt_BR", "params": [],
    })
    wrong_count = await api.call("POST", "/messages/send-template", "attendant", json={
        "conversationId": conversation_id, "templateName": "reserva_confirmada", "language": "pt_BR", "params": ["Ana"],
    })
    bad_name = await api.call("POST", "/messages/send-template", "attendant", json={
        "conversationId": conversation_id, "templateName": "Promoção!", "language": "pt_BR",
    })

    assert unknown.status_code == 400
    assert unknown.json()["error"] == "Modelo promocao (pt_BR) desconhecido. Modelos aprovados: reserva_confirmada."
    assert wrong_count.status_code == 400
    assert wrong_count.json()["details"] == [{"field": "params", "message": "Este modelo recebe 2 parâmetro(s).", "limit": 2}]
    assert bad_name.status_code == 400
    assert bad_name.json()["details"][0]["field"] == "templateName"
    assert graph.sends() == []


async def test_templates_listed_and_cached(api, graph):
    graph.templates = [TEMPLATE]
    graph.handler = lambda request: Reply(503, {"error": {"message": "down", "code": 2}})
    unavailable = await api.call("GET", "/templates", "attendant")
    assert unavailable.status_code == 503
    assert unavailable.json()["code"] == "UNAVAILABLE"
    graph.handler = graph.default_handler

    first = await api.call("GET", "/templates", "attendant")
    second = await api.call("GET", "/templates", "supervisor")

    assert first.status_code == 200
    assert first.json() == {"items": [TEMPLATE], "nextCursor": None}
    assert second.json() == first.json()
    listed = graph.matching(lambda request: request.method == "GET" and "message_templates" in request.path)
    assert len(listed) == 2
    assert listed[-1].path.startswith("/v21.0/109900000000000/message_templates?")


@pytest.fixture
def server_without_waba(tmp_path, graph, n8n) -> Iterator[ServerProcess]:
    process = launch(tmp_path / "data", graph.url, n8n.url, start=False)
    execute(process, "UPDATE tenants SET waba_id = NULL WHERE id = ?", (process.tenant.id,))
    process.start()
    yield process
    process.stop()


async def test_templates_need_waba_id(server_without_waba, http, graph):
    api = Api(server_without_waba, http, server_without_waba.tenant)
    response = await api.call("GET", "/templates", "attendant")
    assert response.status_code == 409
    assert response.json()["code"] == "NOT_CONFIGURED"
    assert graph.requests == []


async def test_graph_unreachable_reply_survives_restart(api, graph):
    conversation_id = await guest_writes(api, wa_id=phone(15))
    graph.refuse_connections()

    sent = await _send(api, conversation_id, "Enviada depois")

    assert sent["status"] == 202
    assert sent["body"]["message"]["status"] == "PENDING"
    assert sent["body"]["message"]["error"] is None
    api.server.stop()
    graph.accept_connections()
    api.server.start()

    sent_rows = await eventually(lambda: [row for row in _outbound(api.server) if row["status"] == "SENT"], timeout=20)
    assert [row["content"] for row in sent_rows] == ["Enviada depois"]
    assert [request.json()["text"]["body"] for request in graph.sends()] == ["Enviada depois"]
