"""The AI assistant's API: keys, tenants, guests by phone, the lock guard, escalation and hotel units."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid

from tests.support.db import eventually, rows
from tests.support.fakes import Reply, load_fixture
from tests.support.server import ServerProcess, TenantInfo
from tests.support.sockets import EventClient

PHONE = "5511987654321"
PHONE_WITHOUT_NINTH_DIGIT = "551187654321"
PHONE_AS_WRITTEN = "+55 (11) 98765-4321"

MISSING_KEY = {"error": "Chave de API ausente ou inválida.", "code": "UNAUTHORIZED"}
GUEST_NOT_FOUND = {"error": "Nenhuma conversa encontrada para este hóspede.", "code": "NOT_FOUND"}
IA_LOCKED = {
    "error": "O assistente não pode responder: uma pessoa está atendendo esta conversa.",
    "code": "IA_LOCKED",
    "locked": True,
}
UNKNOWN_UNIT = "Unidade hoteleira desconhecida. Unidades válidas: Campos do Jordão, Ubatuba."


def inbound_text(phone: str, tenant: TenantInfo, *, timestamp: int | None = None, text: str = "Olá!") -> dict:
    """Return an inbound text webhook from ``phone`` to ``tenant``'s number, stamped now by default."""
    payload = load_fixture("inbound-text.json")
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = tenant.phone_number_id
    value["contacts"][0]["wa_id"] = phone
    message = value["messages"][0]
    message["from"] = phone
    message["id"] = f"wamid.TEST{uuid.uuid4().hex}"
    message["timestamp"] = str(timestamp or int(time.time()))
    message["text"]["body"] = text
    return payload


async def open_conversation(server: ServerProcess, http, phone: str = PHONE, tenant: TenantInfo | None = None, **options) -> str:
    """Post a guest's message and return the id of the conversation it opens."""
    tenant = tenant or server.tenant
    response = await server.post_webhook(http, inbound_text(phone, tenant, **options), tenant)
    assert response.status_code == 200
    found = await eventually(lambda: rows(
        server,
        "SELECT c.id FROM conversations c JOIN contacts k ON k.id = c.contact_id WHERE c.tenant_id = ? AND k.phone = ?",
        (tenant.id, phone),
    ))
    return found[0]["id"]


async def call(server: ServerProcess, http, path: str, body: dict | None = None, *, key: str | None = None, params: dict | None = None):
    """Call an N8N route with the first tenant's key (or ``key``); GET when there is no body."""
    headers = {"X-API-Key": server.tenant.api_key if key is None else key}
    if body is None:
        return await http.get(server.base_url + path, params=params, headers=headers)
    return await http.post(server.base_url + path, json=body, headers=headers)


async def attendant_socket(server: ServerProcess, http, sockets: list, label: str) -> EventClient:
    client = EventClient()
    sockets.append(client)
    await client.connect(server.base_url, await server.token(http, label))
    return client


def count(server: ServerProcess, sql: str, params: tuple = ()) -> int:
    return rows(server, sql, params)[0]["n"]


# -- API keys and tenants ---------------------------------------------------------


async def test_missing_key_rejected(server, http):
    response = await http.get(server.base_url + "/n8n/check-ia-lock", params={"phone": PHONE})

    assert response.status_code == 401
    assert response.json() == MISSING_KEY


async def test_wrong_key_rejected_and_not_logged(server, http, graph):
    await open_conversation(server, http)
    wrong_key = "hbk_" + uuid.uuid4().hex

    responses = [
        await call(server, http, "/n8n/send-text", {"phone": PHONE, "body": "Olá"}, key=wrong_key),
        await call(server, http, "/n8n/check-ia-lock", key=wrong_key, params={"phone": PHONE}),
        await call(server, http, "/n8n/send-text", {"phone": PHONE, "body": "Olá"}, key="x" * 201),
    ]

    assert [response.status_code for response in responses] == [401, 401, 401]
    assert [response.json() for response in responses] == [MISSING_KEY] * 3
    assert graph.sends() == []
    assert wrong_key not in server.log()
    assert server.tenant.api_key not in server.log()


async def test_key_rejected_in_english_on_request(server, http):
    response = await http.get(
        server.base_url + "/n8n/check-ia-lock", params={"phone": PHONE}, headers={"Accept-Language": "en"}
    )

    assert response.status_code == 401
    assert response.json() == {"error": "Missing or invalid API key.", "code": "UNAUTHORIZED"}


async def test_rotated_key_replaces_old(server, http):
    result = subprocess.run(
        [sys.executable, "-m", "hotelbot", "tenant", "rotate-key", "--data-dir", str(server.data_dir),
         "--tenant", server.tenant.id, "--json"],
        env=server.env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    new_key = json.loads(result.stdout)["apiKey"]

    old = await call(server, http, "/n8n/check-ia-lock", params={"phone": PHONE})
    new = await call(server, http, "/n8n/check-ia-lock", key=new_key, params={"phone": PHONE})

    assert old.status_code == 401
    assert new.status_code == 200
    assert new.json() == {"locked": False}


async def test_other_tenant_key_sees_no_guest(server, http, graph):
    conversation_id = await open_conversation(server, http)
    other_key = server.tenants[1].api_key

    by_phone = await call(server, http, "/n8n/send-text", {"phone": PHONE, "body": "Olá"}, key=other_key)
    by_id = await call(server, http, "/n8n/send-text", {"conversationId": conversation_id, "body": "Olá"}, key=other_key)
    unknown_id = await call(server, http, "/n8n/send-text", {"conversationId": uuid.uuid4().hex, "body": "Olá"}, key=other_key)
    escalated = await call(server, http, "/n8n/escalate", {"phone": PHONE, "reason": "Reserva", "priority": "HIGH"}, key=other_key)
    unit = await call(server, http, "/n8n/set-hotel-unit", {"conversationId": conversation_id, "hotelUnit": "Ubatuba"}, key=other_key)
    lock = await call(server, http, "/n8n/check-ia-lock", key=other_key, params={"conversationId": conversation_id})

    assert by_phone.status_code == 404
    assert by_phone.json() == GUEST_NOT_FOUND
    assert by_id.status_code == 404
    assert by_id.json() == GUEST_NOT_FOUND
    assert unknown_id.json() == by_id.json()
    assert escalated.status_code == 404
    assert escalated.json() == GUEST_NOT_FOUND
    assert unit.status_code == 404
    assert unit.json() == GUEST_NOT_FOUND
    assert lock.status_code == 200
    assert lock.json() == {"locked": False}
    assert graph.sends() == []
    assert count(server, "SELECT count(*) AS n FROM escalations") == 0
    assert rows(server, "SELECT status, hotel_unit, ia_locked FROM conversations") == [
        {"status": "BOT", "hotel_unit": None, "ia_locked": 0}
    ]


# -- guests ------------------------------------------------------------------------


async def test_check_ia_lock_unknown_guest(server, http):
    response = await call(server, http, "/n8n/check-ia-lock", params={"phone": PHONE})

    assert response.status_code == 200
    assert response.json() == {"locked": False}


async def test_phone_variants_name_one_contact(server, http, graph):
    conversation_id = await open_conversation(server, http, PHONE)

    answers = [
        (await call(server, http, "/n8n/check-ia-lock", params={"phone": phone})).json()
        for phone in (PHONE, PHONE_WITHOUT_NINTH_DIGIT, PHONE_AS_WRITTEN)
    ]
    sent = await call(server, http, "/n8n/send-text", {"phone": PHONE_AS_WRITTEN, "body": "Olá, Ana!"})
    await open_conversation(server, http, PHONE_WITHOUT_NINTH_DIGIT)

    expected = {"locked": False, "conversationId": conversation_id, "status": "BOT"}
    assert answers == [expected, expected, expected]
    assert sent.status_code == 200
    assert graph.sends()[0].json()["to"] == PHONE
    assert count(server, "SELECT count(*) AS n FROM contacts") == 1
    assert count(server, "SELECT count(*) AS n FROM conversations") == 1


async def test_guest_by_user_id(server, http):
    payload = inbound_text("", server.tenant)
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["user_id"] = "BR.1234567890"
    value["messages"][0]["from_user_id"] = "BR.1234567890"
    response = await server.post_webhook(http, payload)
    assert response.status_code == 200
    found = await eventually(lambda: rows(server, "SELECT id FROM conversations"))

    answer = await call(server, http, "/n8n/check-ia-lock", params={"userId": "BR.1234567890"})

    assert answer.status_code == 200
    assert answer.json() == {"locked": False, "conversationId": found[0]["id"], "status": "BOT"}


async def test_guest_missing_or_invalid(server, http):
    missing = await call(server, http, "/n8n/send-text", {"body": "Olá"})
    letters = await call(server, http, "/n8n/check-ia-lock", params={"phone": "ana-silva"})
    too_long = await call(server, http, "/n8n/send-text", {"phone": "5" * 41, "body": "Olá"})

    assert missing.status_code == 400
    assert missing.json()["details"] == [{"field": "phone", "message": "Identifique o hóspede por phone, conversationId ou userId."}]
    assert letters.status_code == 400
    assert letters.json()["details"] == [
        {"field": "phone", "message": "Telefone inválido: informe com o código do país, por exemplo 5511987654321."}
    ]
    assert too_long.status_code == 400
    assert too_long.json()["details"] == [{"field": "phone", "message": "Deve ter no máximo 40 caractere(s).", "limit": 40}]


async def test_unknown_guest_send_is_404(server, http, graph):
    response = await call(server, http, "/n8n/send-buttons", {"phone": PHONE, "body": "Olá", "buttons": ["Sim"]})

    assert response.status_code == 404
    assert response.json() == GUEST_NOT_FOUND
    assert graph.sends() == []


async def test_malformed_bodies_rejected(server, http, graph):
    await open_conversation(server, http)
    headers = {"X-API-Key": server.tenant.api_key, "Content-Type": "application/json"}
    url = server.base_url + "/n8n/send-text"

    broken = await http.post(url, content=b'{"phone": "5511', headers=headers)
    not_object = await http.post(url, content=b'["Ol\xc3\xa1"]', headers=headers)
    not_json = await http.post(url, content=b"phone=5511987654321", headers={**headers, "Content-Type": "text/plain"})
    oversized = await http.post(url, content=b'{"body": "' + b"a" * (1024 * 1024) + b'"}', headers=headers)

    assert broken.status_code == 400
    assert broken.json() == {"error": "Corpo JSON malformado.", "code": "VALIDATION_ERROR"}
    assert not_object.status_code == 400
    assert not_object.json() == {"error": "O corpo deve ser um objeto JSON.", "code": "VALIDATION_ERROR"}
    assert not_json.status_code == 400
    assert not_json.json()["error"] == "O Content-Type deve ser application/json."
    assert oversized.status_code == 413
    assert oversized.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert graph.sends() == []
    assert count(server, "SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND'") == 0


# -- sending -----------------------------------------------------------------------


async def test_send_emits_message_new(server, http, sockets):
    conversation_id = await open_conversation(server, http)
    client = await attendant_socket(server, http, sockets, "attendant")

    response = await call(server, http, "/n8n/send-buttons", {"conversationId": conversation_id, "body": "Posso ajudar?", "buttons": ["Sim", "Não"]})
    event = await client.next("message:new")
    while event["message"]["direction"] != "OUTBOUND":
        event = await client.next("message:new")

    assert response.status_code == 200
    assert event["message"]["id"] == response.json()["messageId"]
    assert event["message"]["type"] == "INTERACTIVE"
    assert event["message"]["sender"] == {"type": "N8N"}
    assert event["message"]["content"] == "Posso ajudar?"
    assert event["conversation"]["id"] == conversation_id


async def test_window_closed_rejects_free_form(server, http, graph):
    yesterday = int(time.time()) - 25 * 3600
    conversation_id = await open_conversation(server, http, timestamp=yesterday)
    carousel = {
        "conversationId": conversation_id,
        "templateName": "hotel_quartos_v1",
        "cards": [
            {"imageUrl": f"https://hotel.example.com/{index}.jpg", "buttonPayloads": [f"quarto-{index}"]}
            for index in range(2)
        ],
    }

    text = await call(server, http, "/n8n/send-text", {"conversationId": conversation_id, "body": "Olá"})
    template = await call(server, http, "/n8n/send-carousel", carousel)

    assert text.status_code == 422
    assert text.json()["code"] == "WINDOW_CLOSED"
    assert template.status_code == 200
    assert template.json()["cardsCount"] == 2
    assert len(graph.sends()) == 1
    assert graph.sends()[0].json()["type"] == "template"


async def test_meta_unreachable_send_queued(server, http, graph):
    conversation_id = await open_conversation(server, http)
    graph.handler = lambda request: Reply(503, {"error": {"message": "Service unavailable", "code": 2}})

    response = await call(server, http, "/n8n/send-text", {"phone": PHONE, "body": "Já verifico!"})
    graph.handler = graph.default_handler
    sent = await eventually(lambda: rows(
        server, "SELECT status, whatsapp_msg_id FROM messages WHERE id = ? AND status = 'SENT'", (response.json()["messageId"],)
    ))

    assert response.status_code == 200
    assert response.json()["status"] == "PENDING"
    assert response.json()["whatsappMsgId"] is None
    assert sent[0]["whatsapp_msg_id"].startswith("wamid.FAKE")
    assert rows(server, "SELECT conversation_id FROM messages WHERE id = ?", (response.json()["messageId"],)) == [
        {"conversation_id": conversation_id}
    ]


async def test_meta_rejection_reported(server, http, graph):
    await open_conversation(server, http)
    error = load_fixture("graph-error-131030-recipient-not-allowed.json")
    graph.handler = lambda request: Reply(400, error)

    response = await call(server, http, "/n8n/send-text", {"phone": PHONE, "body": "Olá"})

    assert response.status_code == 422
    assert response.json()["code"] == "WHATSAPP_ERROR"
    assert response.json()["whatsappCode"] == 131030
    assert rows(server, "SELECT status FROM messages WHERE direction = 'OUTBOUND'") == [{"status": "FAILED"}]


# -- the lock guard and escalation -------------------------------------------------


async def test_locked_conversation_sends_nothing(server, http, graph):
    conversation_id = await open_conversation(server, http)
    escalated = await call(server, http, "/n8n/escalate", {"phone": PHONE, "reason": "Pediu um atendente", "priority": "HIGH"})
    cards = [{"imageUrl": f"https://hotel.example.com/{index}.jpg", "buttonPayloads": ["a"]} for index in range(2)]

    answers = [
        await call(server, http, "/n8n/send-buttons", {"phone": PHONE, "body": "Posso ajudar?", "buttons": ["Sim", "Não"]}),
        await call(server, http, "/n8n/send-text", {"phone": PHONE, "body": "Olá"}),
        await call(server, http, "/n8n/send-list", {"phone": PHONE, "body": "Quartos", "buttonText": "Ver",
                                                     "sections": [{"title": "A", "rows": [{"id": "1", "title": "Luxo"}]}]}),
        await call(server, http, "/n8n/send-carousel", {"phone": PHONE, "templateName": "quartos", "cards": cards}),
    ]
    lock = await call(server, http, "/n8n/check-ia-lock", params={"phone": PHONE})

    assert escalated.status_code == 200
    assert [answer.status_code for answer in answers] == [409, 409, 409, 409]
    assert [answer.json() for answer in answers] == [IA_LOCKED] * 4
    assert graph.sends() == []
    assert count(server, "SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND'") == 0
    assert lock.json() == {"locked": True, "conversationId": conversation_id, "status": "OPEN"}


async def test_escalation_twice_one_row(server, http):
    conversation_id = await open_conversation(server, http)
    body = {"phone": PHONE, "reason": "Quer falar com a recepção", "priority": "URGENT", "hotelUnit": " campos do jordao "}

    first = await call(server, http, "/n8n/escalate", body)
    concurrent = await asyncio.gather(*(call(server, http, "/n8n/escalate", body) for _ in range(3)))

    assert first.status_code == 200
    assert first.json() == {"escalationId": first.json()["escalationId"], "iaLocked": True}
    assert [answer.json() for answer in concurrent] == [first.json()] * 3
    assert rows(server, "SELECT id, reason, hotel_unit, priority, status FROM escalations") == [{
        "id": first.json()["escalationId"], "reason": "Quer falar com a recepção",
        "hotel_unit": "campos-do-jordao", "priority": "URGENT", "status": "PENDING",
    }]
    assert rows(server, "SELECT id, status, ia_locked, ia_locked_by, priority, hotel_unit FROM conversations") == [{
        "id": conversation_id, "status": "OPEN", "ia_locked": 1, "ia_locked_by": "N8N",
        "priority": "URGENT", "hotel_unit": "campos-do-jordao",
    }]


async def test_escalation_reaches_unit_attendants(server, http, sockets):
    conversation_id = await open_conversation(server, http)
    campos = await attendant_socket(server, http, sockets, "attendant_campos")
    every_unit = await attendant_socket(server, http, sockets, "attendant")
    ubatuba = await attendant_socket(server, http, sockets, "attendant_ubatuba")

    response = await call(server, http, "/n8n/escalate", {
        "phone": PHONE_AS_WRITTEN, "reason": "Reclamação do quarto", "priority": "HIGH", "hotelUnit": "CAMPOS DO JORDÃO",
    })
    to_campos = await campos.next("escalation:new")
    to_every_unit = await every_unit.next("escalation:new")
    updated = await ubatuba.next("conversation:updated")

    assert response.status_code == 200
    assert to_campos == to_every_unit
    assert to_campos["escalation"]["id"] == response.json()["escalationId"]
    assert to_campos["escalation"]["reason"] == "Reclamação do quarto"
    assert to_campos["escalation"]["hotelUnit"] == "Campos do Jordão"
    assert to_campos["escalation"]["priority"] == "HIGH"
    assert to_campos["escalation"]["status"] == "PENDING"
    assert to_campos["conversation"]["id"] == conversation_id
    assert to_campos["conversation"]["iaLocked"] is True
    assert to_campos["conversation"]["status"] == "OPEN"
    assert updated["conversation"]["hotelUnit"] == "Campos do Jordão"
    await ubatuba.expect_none("escalation:new", within=1.0)


async def test_escalation_without_unit_reaches_everyone(server, http, sockets):
    await open_conversation(server, http)
    clients = [await attendant_socket(server, http, sockets, label) for label in ("attendant_campos", "attendant_ubatuba", "attendant")]

    response = await call(server, http, "/n8n/escalate", {"phone": PHONE, "reason": "Dúvida", "priority": "LOW"})
    events = [await client.next("escalation:new") for client in clients]

    assert response.status_code == 200
    assert [event["escalation"]["id"] for event in events] == [response.json()["escalationId"]] * 3
    assert [event["escalation"]["hotelUnit"] for event in events] == [None, None, None]
    for client in clients:
        await client.expect_none("escalation:new", within=0.3)


async def test_escalation_input_rejected(server, http):
    await open_conversation(server, http)

    priority = await call(server, http, "/n8n/escalate", {"phone": PHONE, "reason": "Dúvida", "priority": "ALTA"})
    no_reason = await call(server, http, "/n8n/escalate", {"phone": PHONE, "reason": "   ", "priority": "LOW"})
    unit = await call(server, http, "/n8n/escalate", {"phone": PHONE, "reason": "Dúvida", "priority": "LOW", "hotelUnit": "Paraty"})

    assert priority.status_code == 400
    assert priority.json()["details"] == [
        {"field": "priority", "message": "Deve ser um destes: LOW, MEDIUM, HIGH, URGENT."}
    ]
    assert no_reason.status_code == 400
    assert no_reason.json()["details"] == [{"field": "reason", "message": "Deve ter pelo menos 1 caractere(s).", "limit": 1}]
    assert unit.status_code == 400
    assert unit.json() == {
        "error": UNKNOWN_UNIT, "code": "VALIDATION_ERROR", "details": [{"field": "hotelUnit", "message": UNKNOWN_UNIT}],
    }
    assert count(server, "SELECT count(*) AS n FROM escalations") == 0
    assert rows(server, "SELECT status, ia_locked FROM conversations") == [{"status": "BOT", "ia_locked": 0}]


# -- hotel units -------------------------------------------------------------------


async def test_set_hotel_unit_moves_conversation(server, http, sockets):
    conversation_id = await open_conversation(server, http)
    client = await attendant_socket(server, http, sockets, "attendant_ubatuba")

    response = await call(server, http, "/n8n/set-hotel-unit", {"phone": PHONE, "hotelUnit": "  ubatuba "})
    event = await client.next("conversation:updated")
    again = await call(server, http, "/n8n/set-hotel-unit", {"phone": PHONE, "hotelUnit": "Ubatuba"})

    assert response.status_code == 200
    assert response.json() == {"conversationId": conversation_id, "hotelUnit": "Ubatuba"}
    assert event["conversation"]["id"] == conversation_id
    assert event["conversation"]["hotelUnit"] == "Ubatuba"
    assert rows(server, "SELECT hotel_unit FROM conversations") == [{"hotel_unit": "ubatuba"}]
    assert again.json() == response.json()
    await client.expect_none("conversation:updated", within=0.5)


async def test_set_unknown_hotel_unit_rejected(server, http):
    await open_conversation(server, http)

    unknown = await call(server, http, "/n8n/set-hotel-unit", {"phone": PHONE, "hotelUnit": "Paraty"})
    empty = await call(server, http, "/n8n/set-hotel-unit", {"phone": PHONE, "hotelUnit": ""})

    assert unknown.status_code == 400
    assert unknown.json()["error"] == UNKNOWN_UNIT
    assert unknown.json()["details"] == [{"field": "hotelUnit", "message": UNKNOWN_UNIT}]
    assert empty.status_code == 400
    assert empty.json()["details"] == [{"field": "hotelUnit", "message": "Deve ter pelo menos 1 caractere(s).", "limit": 1}]
    assert rows(server, "SELECT hotel_unit FROM conversations") == [{"hotel_unit": None}]
