"""N8N sends with an ``Idempotency-Key``: a retried send returns the first response and reaches the guest once."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.support.db import eventually, rows
from tests.support.fakes import FakeGraph, Handler, Reply
from tests.support.server import ServerProcess, TenantInfo, running_server
from tests.support.webhooks import text_message

KEY_REUSED = "Esta Idempotency-Key já foi usada para outra mensagem."


@dataclasses.dataclass
class Shared:
    server: ServerProcess
    graph: FakeGraph


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Iterator[Shared]:
    """One server for the module; every test uses guests and keys of its own."""
    with running_server(tmp_path_factory.mktemp("n8n-send-keys") / "data") as (server, graph, _):
        yield Shared(server, graph)


async def new_guest(shared: Shared, http, tenant: TenantInfo | None = None) -> str:
    """Create a conversation, inside the reply window, for a new guest of ``tenant``; return the guest's phone."""
    tenant = tenant or shared.server.tenant
    phone = "55119" + str(uuid.uuid4().int)[:8]
    response = await shared.server.post_webhook(http, text_message(
        "Olá", wa_id=phone, phone_number_id=tenant.phone_number_id, timestamp=str(int(time.time()))
    ), tenant)
    assert response.status_code == 200
    await eventually(lambda: rows(shared.server, "SELECT id FROM contacts WHERE phone = ?", (phone,)))
    return phone


async def send(shared: Shared, http, body: dict, key: str | bytes | None, path: str = "/n8n/send-text",
               tenant: TenantInfo | None = None):
    headers = {"X-API-Key": (tenant or shared.server.tenant).api_key}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await http.post(shared.server.base_url + path, json=body, headers=headers)


def sends_to(shared: Shared, phone: str) -> list:
    return [request for request in shared.graph.sends() if request.json()["to"] == phone]


async def test_repeat_returns_first_send(shared, http):
    phone = await new_guest(shared, http)
    key = f"reply-{uuid.uuid4()}"

    first = await send(shared, http, {"phone": phone, "body": "Temos quartos, sim."}, key)
    again = await send(shared, http, {"phone": phone, "body": "Temos quartos, sim."}, key)

    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert first.json()["status"] == "SENT"
    assert len(sends_to(shared, phone)) == 1
    assert rows(shared.server, "SELECT count(*) AS n FROM messages WHERE client_message_id = ?", (key,)) == [{"n": 1}]
    assert "Repeated send key: message " + first.json()["messageId"] in shared.server.log()


async def test_concurrent_repeats_send_once(shared, http):
    phone = await new_guest(shared, http)
    key = f"burst-{uuid.uuid4()}"

    responses = await asyncio.gather(*(send(shared, http, {"phone": phone, "body": "Um momento."}, key) for _ in range(5)))

    assert [response.status_code for response in responses] == [200] * 5
    assert len({response.json()["messageId"] for response in responses}) == 1
    assert len(sends_to(shared, phone)) == 1


async def test_other_keys_and_no_key_send_each_time(shared, http):
    phone = await new_guest(shared, http)
    body = {"phone": phone, "body": "Bom dia!"}

    responses = [
        await send(shared, http, body, f"a-{uuid.uuid4()}"),
        await send(shared, http, body, f"b-{uuid.uuid4()}"),
        await send(shared, http, body, None),
        await send(shared, http, body, None),
    ]

    assert [response.status_code for response in responses] == [200] * 4
    assert len({response.json()["messageId"] for response in responses}) == 4
    assert len(sends_to(shared, phone)) == 4


async def test_key_reused_for_other_text_refused(shared, http):
    phone = await new_guest(shared, http)
    key = f"reused-{uuid.uuid4()}"
    assert (await send(shared, http, {"phone": phone, "body": "Primeira resposta"}, key)).status_code == 200

    response = await send(shared, http, {"phone": phone, "body": "Segunda resposta"}, key)

    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert response.json()["error"] == KEY_REUSED
    assert [request.json()["text"]["body"] for request in sends_to(shared, phone)] == ["Primeira resposta"]
    assert rows(shared.server, "SELECT count(*) AS n FROM messages WHERE content = 'Segunda resposta'") == [{"n": 0}]


async def test_key_reused_for_other_guest_refused(shared, http):
    first_phone, second_phone = await new_guest(shared, http), await new_guest(shared, http)
    key = f"guest-{uuid.uuid4()}"
    assert (await send(shared, http, {"phone": first_phone, "body": "Confirmado."}, key)).status_code == 200

    response = await send(shared, http, {"phone": second_phone, "body": "Confirmado."}, key)

    assert response.status_code == 409
    assert response.json()["error"] == KEY_REUSED
    assert sends_to(shared, second_phone) == []


async def test_repeat_after_people_took_over_returns_first_send(shared, http):
    """The first send went out before the lock, so its retry gets that response, not IA_LOCKED."""
    phone = await new_guest(shared, http)
    key = f"locked-{uuid.uuid4()}"
    first = await send(shared, http, {"phone": phone, "body": "Vou verificar."}, key)
    escalated = await send(shared, http, {"phone": phone, "reason": "Pedido de reembolso", "priority": "HIGH"}, None,
                           path="/n8n/escalate")
    assert escalated.status_code == 200, escalated.text

    again = await send(shared, http, {"phone": phone, "body": "Vou verificar."}, key)
    other = await send(shared, http, {"phone": phone, "body": "Vou verificar."}, f"new-{uuid.uuid4()}")

    assert again.status_code == 200
    assert again.json() == first.json()
    assert other.status_code == 409
    assert other.json()["code"] == "IA_LOCKED"
    assert len(sends_to(shared, phone)) == 1


async def test_same_key_in_another_tenant_sends(shared, http):
    other = shared.server.tenants[1]
    phone, other_phone = await new_guest(shared, http), await new_guest(shared, http, other)
    key = f"tenant-{uuid.uuid4()}"

    first = await send(shared, http, {"phone": phone, "body": "Olá!"}, key)
    second = await send(shared, http, {"phone": other_phone, "body": "Olá!"}, key, tenant=other)

    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert first.json()["messageId"] != second.json()["messageId"]
    assert len(sends_to(shared, phone)) == 1
    assert len(sends_to(shared, other_phone)) == 1


async def test_buttons_repeat_sent_once(shared, http):
    phone = await new_guest(shared, http)
    key = f"buttons-{uuid.uuid4()}"
    body = {"phone": phone, "body": "Deseja reservar?", "buttons": ["Sim", "Não"]}

    first = await send(shared, http, body, key, path="/n8n/send-buttons")
    again = await send(shared, http, body, key, path="/n8n/send-buttons")

    assert first.status_code == 200, first.text
    assert again.json() == first.json()
    assert len(sends_to(shared, phone)) == 1


async def test_longest_key_accepted(shared, http):
    phone = await new_guest(shared, http)

    response = await send(shared, http, {"phone": phone, "body": "Ok"}, "k" * 100)

    assert response.status_code == 200, response.text
    assert rows(shared.server, "SELECT client_message_id FROM messages WHERE id = ?", (response.json()["messageId"],)) == [
        {"client_message_id": "k" * 100}
    ]


@pytest.mark.parametrize(("key", "message"), [
    ("", "Deve ter pelo menos 1 caractere(s)."),
    ("k" * 101, "Deve ter no máximo 100 caractere(s)."),
    ("a\tb", "Não pode conter quebras de linha nem caracteres de controle."),
    ("reserva-ç".encode(), "Deve conter só letras, dígitos, pontuação e espaços ASCII."),
])
async def test_bad_key_refused_before_anything_is_sent(shared, http, key, message):
    phone = await new_guest(shared, http)

    response = await send(shared, http, {"phone": phone, "body": "Não deve sair"}, key)

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"][0]["field"] == "Idempotency-Key"
    assert response.json()["details"][0]["message"] == message
    assert sends_to(shared, phone) == []
    assert rows(shared.server, "SELECT count(*) AS n FROM messages WHERE content = 'Não deve sair'") == [{"n": 0}]


async def test_unauthenticated_send_with_key_refused(shared, http):
    phone = await new_guest(shared, http)

    response = await http.post(shared.server.base_url + "/n8n/send-text", json={"phone": phone, "body": "Oi"},
                               headers={"Idempotency-Key": f"anon-{uuid.uuid4()}"})

    assert response.status_code == 401
    assert sends_to(shared, phone) == []


def undeliverable(fallback: Handler) -> Handler:
    """Return a Graph API handler that rejects every send as Meta does for a number without WhatsApp."""
    meta_error = {"error": {"message": "(#131026) Message undeliverable", "type": "OAuthException", "code": 131026}}
    return lambda request: Reply(400, meta_error) if request.path.endswith("/messages") else fallback(request)


async def test_repeat_of_rejected_send_fails(shared, http):
    """A retry after WhatsApp rejected the message gets the same error, because a 200 would pass for a delivered reply."""
    phone = await new_guest(shared, http)
    key = f"refused-{uuid.uuid4()}"
    body = {"phone": phone, "body": "Não vai chegar"}
    shared.graph.handler = undeliverable(shared.graph.default_handler)
    try:
        first = await send(shared, http, body, key)
    finally:
        shared.graph.handler = shared.graph.default_handler

    again = await send(shared, http, body, key)

    assert first.status_code == 422, first.text
    assert again.status_code == 422, again.text
    assert again.json()["code"] == first.json()["code"] == "WHATSAPP_ERROR"
    assert again.json()["error"] == first.json()["error"]
    assert again.json()["whatsappCode"] == 131026
    assert again.json()["message"]["id"] == first.json()["message"]["id"]
    assert len(sends_to(shared, phone)) == 1
