"""The attendants' conversation API: the Kanban list, one conversation, messages, hand-over, read marks."""

from __future__ import annotations

import asyncio
import time

from collections.abc import Iterator

import pytest

from tests.support.attendants import Api, conversation_row, escalations_of, guest_writes, phone
from tests.support.db import rows
from tests.support.server import ServerProcess, launch
from tests.support.webhooks import execute


@pytest.fixture
async def api(server, http) -> Api:
    return Api(server, http, server.tenant)


@pytest.fixture
async def other(server, http) -> Api:
    """The second tenant's users."""
    return Api(server, http, server.tenants[1])


async def _ids(api: Api, label: str, query: str = "") -> list[str]:
    response = await api.call("GET", "/conversations" + query, label)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def _set_unit(api: Api, conversation_id: str, unit: str | None) -> None:
    response = await api.call("PATCH", f"/conversations/{conversation_id}", "supervisor", json={"hotelUnit": unit})
    assert response.status_code == 200, response.text


async def test_default_unit_filter_per_user(api):
    campos = await guest_writes(api, wa_id=phone(1))
    ubatuba = await guest_writes(api, wa_id=phone(2))
    no_unit = await guest_writes(api, wa_id=phone(3))
    await _set_unit(api, campos, "campos do jordao")
    await _set_unit(api, ubatuba, "Ubatuba")

    assert sorted(await _ids(api, "attendant_campos")) == sorted([campos, no_unit])
    assert sorted(await _ids(api, "attendant_ubatuba")) == sorted([ubatuba, no_unit])
    assert sorted(await _ids(api, "supervisor")) == sorted([campos, ubatuba, no_unit])
    assert sorted(await _ids(api, "attendant")) == sorted([campos, ubatuba, no_unit])
    assert sorted(await _ids(api, "attendant_campos", "?hotelUnit=all")) == sorted([campos, ubatuba, no_unit])
    assert await _ids(api, "attendant_campos", "?hotelUnit=Ubatuba") == [ubatuba]
    assert await _ids(api, "supervisor", "?hotelUnit=Campos%20do%20Jord%C3%A3o") == [campos]
    assert await _ids(api, "attendant_ubatuba", "?hotelUnit=none") == [no_unit]


async def test_list_item_shape(api):
    conversation_id = await guest_writes(api, "Quero reservar", wa_id=phone(7), name="Bruna Lima")

    response = await api.call("GET", "/conversations", "attendant")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["nextCursor"] is None
    item = body["items"][0]
    assert item["id"] == conversation_id
    assert item["tenantId"] == api.tenant.id
    assert item["contact"]["phone"] == phone(7)
    assert item["contact"]["name"] == "Bruna Lima"
    assert item["status"] == "BOT"
    assert item["priority"] == "MEDIUM"
    assert item["hotelUnit"] is None
    assert item["unreadCount"] == 1
    assert item["openEscalation"] is None
    assert item["lastMessage"]["content"] == "Quero reservar"
    assert item["lastMessage"]["direction"] == "INBOUND"
    assert item["canReply"] is True
    assert item["windowExpiresAt"] > item["lastInboundAt"]


async def test_filters_status_priority_assignee_search(api):
    ana = await guest_writes(api, "Tem estacionamento?", wa_id=phone(11), name="Ana Souza")
    bruno = await guest_writes(api, "Qual o horário do café?", wa_id=phone(12), name="Bruno Dias")
    carla = await guest_writes(api, "Obrigada", wa_id=phone(13), name="Carla Reis")
    me = await api.user_id("attendant")
    assert (await api.call("POST", f"/conversations/{bruno}/assign", "attendant", json={"assignedToId": me})).status_code == 200
    assert (await api.call("PATCH", f"/conversations/{carla}", "supervisor", json={"priority": "URGENT"})).status_code == 200

    assert await _ids(api, "attendant", "?status=IN_PROGRESS") == [bruno]
    assert sorted(await _ids(api, "attendant", "?status=BOT,IN_PROGRESS")) == sorted([ana, bruno, carla])
    assert await _ids(api, "attendant", "?priority=URGENT") == [carla]
    assert await _ids(api, "attendant", "?assignedToId=me") == [bruno]
    assert await _ids(api, "supervisor", f"?assignedToId={me}") == [bruno]
    assert await _ids(api, "supervisor", "?assignedToId=me") == []
    assert sorted(await _ids(api, "attendant", "?assignedToId=none")) == sorted([ana, carla])
    assert await _ids(api, "attendant", "?search=souza") == [ana]
    assert await _ids(api, "attendant", "?search=estacionamento") == [ana]
    assert await _ids(api, "attendant", "?search=caf%C3%A9") == [bruno]
    assert await _ids(api, "attendant", f"?search=%2B{phone(13)[:2]}%20{phone(13)[2:4]}%20{phone(13)[4:]}") == [carla]
    assert await _ids(api, "attendant", "?search=100%25") == []
    assert await _ids(api, "attendant", "?search=_") == []
    assert await _ids(api, "attendant", "?search=SOUZA") == [ana]
    assert await _ids(api, "attendant", "?search=ESTACIONAMENTO") == [ana]
    assert await _ids(api, "attendant", "?search=Re") == [carla]
    assert await _ids(api, "attendant", "?search=a%22b") == []
    assert await _ids(api, "attendant", f"?search={phone(12)[-5:]}") == [bruno]


async def test_search_ignores_case_of_accented_letters(api):
    accented = await guest_writes(api, "Bom dia", wa_id=phone(14), name="Ana Conceição")
    await guest_writes(api, "Olá", wa_id=phone(15), name="Bruno Dias")
    assert await _ids(api, "attendant", "?search=CONCEI%C3%87%C3%83O") == [accented]
    assert await _ids(api, "attendant", "?search=ol%C3%81") == [await _id_of(api, phone(15))]


async def _id_of(api: Api, wa_id: str) -> str:
    return rows(
        api.server, "SELECT c.id FROM conversations c JOIN contacts k ON k.id = c.contact_id WHERE k.phone = ?", (wa_id,)
    )[0]["id"]


BAD_QUERIES = [
    ("?status=WAITING", "status"),
    ("?priority=SOON", "priority"),
    ("?hotelUnit=Paraty", "hotelUnit"),
    ("?limit=0", "limit"),
    ("?limit=201", "limit"),
    ("?limit=abc", "limit"),
    ("?cursor=not-a-cursor", "cursor"),
    ("?search=" + "a" * 101, "search"),
]


async def test_list_rejects_bad_query(api):
    for query, field in BAD_QUERIES:
        response = await api.call("GET", "/conversations" + query, "attendant")
        assert (query, response.status_code) == (query, 400)
        body = response.json()
        assert body["code"] == "VALIDATION_ERROR"
        assert [detail["field"] for detail in body["details"]] == [field]


async def test_list_pages_by_last_message(api):
    start = time.time() - 600
    created = [
        await guest_writes(api, f"Mensagem {number}", wa_id=phone(20 + number), at=start + 60 * number)
        for number in range(5)
    ]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = await api.call("GET", "/conversations" + query, "supervisor")
        assert response.status_code == 200
        body = response.json()
        seen.extend(item["id"] for item in body["items"])
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == list(reversed(created))


async def test_get_conversation_and_messages(api):
    start = time.time() - 60
    conversation_id = await guest_writes(api, "primeira", wa_id=phone(30), at=start)
    for offset, text in enumerate(("segunda", "terceira"), start=1):
        await guest_writes(api, text, wa_id=phone(30), at=start + offset)

    response = await api.call("GET", f"/conversations/{conversation_id}", "attendant")
    assert response.status_code == 200
    conversation = response.json()["conversation"]
    assert conversation["id"] == conversation_id
    assert conversation["unreadCount"] == 3

    first = await api.call("GET", f"/conversations/{conversation_id}/messages?limit=2", "attendant")
    assert first.status_code == 200
    assert [message["content"] for message in first.json()["items"]] == ["terceira", "segunda"]
    cursor = first.json()["nextCursor"]
    assert cursor is not None
    second = await api.call("GET", f"/conversations/{conversation_id}/messages?limit=2&cursor={cursor}", "attendant")
    assert [message["content"] for message in second.json()["items"]] == ["primeira"]
    assert second.json()["nextCursor"] is None

    unknown = await api.call("GET", "/conversations/0123456789abcdef/messages", "attendant")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "NOT_FOUND"


async def test_get_one_message(api, other):
    conversation_id = await guest_writes(api, "só esta", wa_id=phone(31))
    listed = (await api.call("GET", f"/conversations/{conversation_id}/messages", "attendant")).json()["items"][0]
    foreign_conversation = await guest_writes(other, "de outro hotel", wa_id=phone(32))
    foreign_id = (await other.call("GET", f"/conversations/{foreign_conversation}/messages", "attendant")).json()["items"][0]["id"]

    response = await api.call("GET", f"/messages/{listed['id']}", "attendant")
    foreign = await api.call("GET", f"/messages/{foreign_id}", "attendant")
    too_long = await api.call("GET", "/messages/" + "a" * 65, "attendant")
    anonymous = await api.call("GET", f"/messages/{listed['id']}", None)

    assert response.status_code == 200
    assert response.json() == {"message": listed}
    assert foreign.status_code == 404
    assert foreign.json() == {"error": "Mensagem não encontrada.", "code": "NOT_FOUND"}
    assert too_long.status_code == 404
    assert too_long.json() == foreign.json()
    assert anonymous.status_code == 401


async def test_assign_emits_updated_and_assigned_once(api, sockets):
    conversation_id = await guest_writes(api, wa_id=phone(40))
    attendant_id = await api.user_id("attendant")
    watcher = await api.socket("supervisor", sockets)
    assignee = await api.socket("attendant", sockets)

    response = await api.call("POST", f"/conversations/{conversation_id}/assign", "supervisor", json={"assignedToId": attendant_id})
    assert response.status_code == 200
    conversation = response.json()["conversation"]
    assert conversation["status"] == "IN_PROGRESS"
    assert conversation["assignedToId"] == attendant_id
    assert conversation["iaLocked"] is True

    updated = await watcher.next("conversation:updated")
    assert updated["conversation"]["assignedToId"] == attendant_id
    assigned = await assignee.next("conversation:assigned")
    assert assigned["conversation"]["id"] == conversation_id
    await watcher.expect_none("conversation:assigned", within=0.3)
    await watcher.expect_none("conversation:updated", within=0.3)
    await assignee.expect_none("conversation:assigned", within=0.3)
    assert len(assignee.received["conversation:updated"]) == 1

    again = await api.call("POST", f"/conversations/{conversation_id}/assign", "supervisor", json={"assignedToId": attendant_id})
    assert again.status_code == 200
    await watcher.expect_none("conversation:updated", within=0.5)


async def test_attendant_cannot_take_anothers_conversation(api):
    conversation_id = await guest_writes(api, wa_id=phone(41))
    campos_id = await api.user_id("attendant_campos")
    ubatuba_id = await api.user_id("attendant_ubatuba")
    taken = await api.call("POST", f"/conversations/{conversation_id}/assign", "attendant_campos", json={"assignedToId": campos_id})
    assert taken.status_code == 200

    refused = await api.call("POST", f"/conversations/{conversation_id}/assign", "attendant_ubatuba", json={"assignedToId": ubatuba_id})
    assert refused.status_code == 409
    assert refused.json()["code"] == "ALREADY_ASSIGNED"
    assert refused.json()["error"] == "Esta conversa já está atribuída a outro atendente."

    forbidden = await api.call("POST", f"/conversations/{conversation_id}/assign", "attendant_campos", json={"assignedToId": ubatuba_id})
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "FORBIDDEN"
    assert conversation_row(api.server, conversation_id)["assigned_to_id"] == campos_id


async def test_simultaneous_assign_one_wins(api):
    conversation_id = await guest_writes(api, wa_id=phone(42))
    campos_id = await api.user_id("attendant_campos")
    ubatuba_id = await api.user_id("attendant_ubatuba")

    first, second = await asyncio.gather(
        api.call("POST", f"/conversations/{conversation_id}/assign", "attendant_campos", json={"assignedToId": campos_id}),
        api.call("POST", f"/conversations/{conversation_id}/assign", "attendant_ubatuba", json={"assignedToId": ubatuba_id}),
    )

    assert sorted([first.status_code, second.status_code]) == [200, 409]
    loser = first if first.status_code == 409 else second
    winner_id = campos_id if first.status_code == 200 else ubatuba_id
    assert loser.json()["code"] == "ALREADY_ASSIGNED"
    assert conversation_row(api.server, conversation_id)["assigned_to_id"] == winner_id


async def test_assign_inactive_or_unknown_user(api, other):
    conversation_id = await guest_writes(api, wa_id=phone(43))
    inactive_id = await api.user_id("attendant_ubatuba")
    deactivated = await api.call("POST", f"/users/{inactive_id}/deactivate", "admin")
    assert deactivated.status_code == 200
    foreign_id = await other.user_id("attendant")

    inactive = await api.call("POST", f"/conversations/{conversation_id}/assign", "supervisor", json={"assignedToId": inactive_id})
    assert inactive.status_code == 409
    assert inactive.json()["code"] == "INVALID_TRANSITION"
    assert inactive.json()["error"] == "Este usuário está inativo e não pode receber conversas."

    foreign = await api.call("POST", f"/conversations/{conversation_id}/assign", "supervisor", json={"assignedToId": foreign_id})
    unknown = await api.call("POST", f"/conversations/{conversation_id}/assign", "supervisor", json={"assignedToId": "f" * 32})
    assert foreign.status_code == 404
    assert foreign.json() == unknown.json()
    assert conversation_row(api.server, conversation_id)["status"] == "BOT"


async def test_assign_rejects_bad_body(api):
    conversation_id = await guest_writes(api, wa_id=phone(44))
    for body in ({}, {"assignedToId": ""}, {"assignedToId": 7}, {"assignedToId": "x" * 65}):
        response = await api.call("POST", f"/conversations/{conversation_id}/assign", "supervisor", json=body)
        assert (body, response.status_code) == (body, 400)
        assert response.json()["details"][0]["field"] == "assignedToId"

    malformed = await api.call(
        "POST", f"/conversations/{conversation_id}/assign", "supervisor",
        content=b"{not json", headers={"Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "VALIDATION_ERROR"
    assert conversation_row(api.server, conversation_id)["status"] == "BOT"


async def test_patch_unit_and_priority(api, sockets):
    conversation_id = await guest_writes(api, wa_id=phone(50))
    escalated = await api.http.post(
        api.server.base_url + "/n8n/escalate", headers={"X-API-Key": api.tenant.api_key},
        json={"conversationId": conversation_id, "reason": "Pedido de reembolso", "priority": "LOW"},
    )
    assert escalated.status_code == 200, escalated.text
    watcher = await api.socket("admin", sockets)

    response = await api.call(
        "PATCH", f"/conversations/{conversation_id}", "supervisor", json={"hotelUnit": " UBATUBA ", "priority": "HIGH"}
    )
    assert response.status_code == 200
    conversation = response.json()["conversation"]
    assert conversation["hotelUnit"] == "Ubatuba"
    assert conversation["priority"] == "HIGH"
    assert conversation["openEscalation"]["hotelUnit"] == "Ubatuba"
    assert conversation["openEscalation"]["priority"] == "HIGH"
    event = await watcher.next("conversation:updated")
    assert event["conversation"]["hotelUnit"] == "Ubatuba"

    cleared = await api.call("PATCH", f"/conversations/{conversation_id}", "admin", json={"hotelUnit": None})
    assert cleared.status_code == 200
    assert cleared.json()["conversation"]["hotelUnit"] is None
    assert cleared.json()["conversation"]["priority"] == "HIGH"


BAD_PATCHES = [
    ({}, "body"),
    ({"priority": "SOON"}, "priority"),
    ({"priority": None}, "priority"),
    ({"hotelUnit": "Paraty"}, "hotelUnit"),
    ({"hotelUnit": "x" * 101}, "hotelUnit"),
]


async def test_patch_rejects_bad_body(api):
    conversation_id = await guest_writes(api, wa_id=phone(51))
    for body, field in BAD_PATCHES:
        response = await api.call("PATCH", f"/conversations/{conversation_id}", "supervisor", json=body)
        assert (body, response.status_code) == (body, 400)
        assert response.json()["details"][0]["field"] == field
    row = conversation_row(api.server, conversation_id)
    assert (row["hotel_unit"], row["priority"]) == (None, "MEDIUM")

    listed = await api.call("PATCH", f"/conversations/{conversation_id}", "supervisor", json={"hotelUnit": "Paraty"})
    assert listed.json()["error"] == "Unidade hoteleira desconhecida. Unidades válidas: Campos do Jordão, Ubatuba."

    by_attendant = await api.call("PATCH", f"/conversations/{conversation_id}", "attendant", json={"priority": "HIGH"})
    assert by_attendant.status_code == 403
    assert by_attendant.json()["code"] == "FORBIDDEN"
    assert conversation_row(api.server, conversation_id)["priority"] == "MEDIUM"


@pytest.fixture
def receipts_server(tmp_path, graph, n8n) -> Iterator[ServerProcess]:
    """A server whose first tenant sends read receipts, set before it starts."""
    process = launch(tmp_path / "data", graph.url, n8n.url, start=False)
    execute(process, "UPDATE tenants SET read_receipts = 1 WHERE id = ?", (process.tenant.id,))
    process.start()
    yield process
    process.stop()


async def test_read_resets_unread_and_sends_receipt(receipts_server, http, graph, sockets):
    api = Api(receipts_server, http, receipts_server.tenant)
    conversation_id = await guest_writes(api, "oi", wa_id=phone(60), at=time.time() - 10)
    await guest_writes(api, "tem vaga?", wa_id=phone(60), at=time.time() - 5)
    last_wamid = rows(api.server, "SELECT whatsapp_msg_id FROM messages WHERE content = 'tem vaga?'")[0]["whatsapp_msg_id"]
    watcher = await api.socket("attendant", sockets)

    response = await api.call("POST", f"/conversations/{conversation_id}/read", "attendant")
    assert response.status_code == 200
    assert response.json()["conversation"]["unreadCount"] == 0
    event = await watcher.next("conversation:updated")
    assert event["conversation"]["unreadCount"] == 0

    receipts = await asyncio.to_thread(graph.wait_for, 1)
    assert receipts[0].json() == {"messaging_product": "whatsapp", "status": "read", "message_id": last_wamid}
    assert receipts[0].path == f"/v21.0/{api.tenant.phone_number_id}/messages"

    again = await api.call("POST", f"/conversations/{conversation_id}/read", "attendant")
    assert again.status_code == 200
    await watcher.expect_none("conversation:updated", within=0.5)
    assert len(graph.requests) == 1


async def test_read_without_receipts_calls_no_graph(api, graph):
    conversation_id = await guest_writes(api, wa_id=phone(61))
    response = await api.call("POST", f"/conversations/{conversation_id}/read", "attendant")
    assert response.status_code == 200
    assert conversation_row(api.server, conversation_id)["unread_count"] == 0
    assert graph.requests == []


ENDPOINTS = [
    ("GET", "/conversations/{id}", None),
    ("GET", "/conversations/{id}/messages", None),
    ("POST", "/conversations/{id}/assign", {"assignedToId": "{user}"}),
    ("POST", "/conversations/{id}/close", None),
    ("POST", "/conversations/{id}/release", None),
    ("PATCH", "/conversations/{id}", {"priority": "HIGH"}),
    ("POST", "/conversations/{id}/read", None),
    ("POST", "/messages/send-text", {"conversationId": "{id}", "content": "Olá"}),
    ("POST", "/messages/send-template", {"conversationId": "{id}", "templateName": "boas_vindas", "language": "pt_BR"}),
]


def _fill(value, conversation_id: str, user_id: str):
    if isinstance(value, dict):
        return {key: _fill(item, conversation_id, user_id) for key, item in value.items()}
    if isinstance(value, str):
        return value.replace("{id}", conversation_id).replace("{user}", user_id)
    return value


async def test_other_tenants_conversation_is_not_found(api, other, graph):
    foreign = await guest_writes(other, wa_id=phone(70))
    own_user = await api.user_id("supervisor")
    before = conversation_row(api.server, foreign)

    for method, path, body in ENDPOINTS:
        foreign_response = await api.call(method, _fill(path, foreign, own_user), "supervisor", json=_fill(body, foreign, own_user))
        unknown_response = await api.call(method, _fill(path, "f" * 32, own_user), "supervisor", json=_fill(body, "f" * 32, own_user))
        assert (method, path, foreign_response.status_code) == (method, path, 404)
        assert foreign_response.json() == unknown_response.json()

    assert conversation_row(api.server, foreign) == before
    assert rows(api.server, "SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND'") == [{"n": 0}]
    assert graph.sends() == []


async def test_every_route_needs_a_token(api):
    conversation_id = await guest_writes(api, wa_id=phone(71))
    routes = [("GET", "/conversations", None), ("GET", "/templates", None), *ENDPOINTS]
    for method, path, body in routes:
        response = await api.call(method, _fill(path, conversation_id, "u"), None, json=_fill(body, conversation_id, "u"))
        assert (method, path, response.status_code) == (method, path, 401)
        assert response.json()["code"] == "UNAUTHORIZED"
    assert conversation_row(api.server, conversation_id)["status"] == "BOT"


async def test_close_and_release_resolve_escalation(api, sockets):
    conversation_id = await guest_writes(api, wa_id=phone(80))
    escalated = await api.http.post(
        api.server.base_url + "/n8n/escalate", headers={"X-API-Key": api.tenant.api_key},
        json={"conversationId": conversation_id, "reason": "Reclamação", "priority": "HIGH"},
    )
    assert escalated.status_code == 200, escalated.text
    watcher = await api.socket("attendant", sockets)

    released = await api.call("POST", f"/conversations/{conversation_id}/release", "attendant")
    assert released.status_code == 200
    conversation = released.json()["conversation"]
    assert conversation["status"] == "BOT"
    assert conversation["iaLocked"] is False
    assert conversation["openEscalation"] is None
    assert (await watcher.next("conversation:updated"))["conversation"]["status"] == "BOT"
    [escalation] = escalations_of(api.server, conversation_id)
    assert escalation["status"] == "RESOLVED"
    assert escalation["resolved_at"] is not None

    closed = await api.call("POST", f"/conversations/{conversation_id}/close", "attendant")
    assert closed.status_code == 200
    assert closed.json()["conversation"]["status"] == "CLOSED"
    assert closed.json()["conversation"]["closedAt"] is not None
    assert (await watcher.next("conversation:updated"))["conversation"]["status"] == "CLOSED"


async def test_closed_since_filter(api):
    first = await guest_writes(api, "Obrigado", wa_id=phone(8101))
    second = await guest_writes(api, "Até logo", wa_id=phone(8102))
    assert (await api.call("POST", f"/conversations/{first}/close", "supervisor")).status_code == 200
    before_second = await api.call("GET", f"/conversations/{first}", "supervisor")
    first_closed_at = before_second.json()["conversation"]["closedAt"]
    assert (await api.call("POST", f"/conversations/{second}/close", "supervisor")).status_code == 200

    everything = await _ids(api, "supervisor", "?status=CLOSED&closedSince=2000-01-01T00:00:00Z")
    assert set(everything) >= {first, second}

    # Sao Paulo's offset, as the console sends its local midnight.
    future = await _ids(api, "supervisor", "?status=CLOSED&closedSince=2999-01-01T00:00:00-03:00")
    assert future == []

    since_first = await _ids(api, "supervisor", f"?closedSince={first_closed_at}")
    assert first in since_first
    assert second in since_first

    open_now = await _ids(api, "supervisor", "?status=BOT&closedSince=2000-01-01T00:00:00Z")
    assert open_now == []


@pytest.mark.parametrize("value", ["yesterday", "2026-12-04", "2026-12-04T03:00:00", "2026-13-40T00:00:00Z"])
async def test_closed_since_invalid(api, value):
    response = await api.call("GET", "/conversations?closedSince=" + value, "supervisor")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"][0]["field"] == "closedSince"
    assert response.json()["error"] == "Requisição inválida."


async def test_same_second_messages_keep_arrival_order(api):
    moment = time.time() - 30
    conversation_id = await guest_writes(api, "Primeira", wa_id=phone(8201), at=moment)
    texts = ["Segunda", "Terceira", "Quarta"]
    for text in texts:
        await guest_writes(api, text, wa_id=phone(8201), at=moment)

    newest_first = await api.call("GET", f"/conversations/{conversation_id}/messages?limit=2", "supervisor")
    assert [item["content"] for item in newest_first.json()["items"]] == ["Quarta", "Terceira"]
    cursor = newest_first.json()["nextCursor"]
    older = await api.call("GET", f"/conversations/{conversation_id}/messages?limit=2&cursor={cursor}", "supervisor")
    assert [item["content"] for item in older.json()["items"]] == ["Segunda", "Primeira"]
    assert older.json()["nextCursor"] is None

    conversation = await api.call("GET", f"/conversations/{conversation_id}", "supervisor")
    assert conversation.json()["conversation"]["lastMessage"]["content"] == "Quarta"
