"""Tenant isolation: every route and socket event, called with tenant B's credentials and tenant A's ids.

The route table is checked against the app's url_map, so a new route without a
row here fails ``test_every_route_has_a_row``. Each row names how B calls the
route (JWT, API key or nothing) and the status B must get. Beyond the status,
no value of tenant A (ids, phone, guest name, texts, e-mails) may appear in any
body or any of B's socket events, and A's rows must be unchanged afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hotelbot.settings import load_settings
from hotelbot.web.app import create_app
from tests.support.attendants import Api, phone
from tests.support.db import eventually, rows
from tests.support.fakes import FakeGraph
from tests.support.media import media_webhook, ogg_opus
from tests.support.server import ServerProcess, running_server
from tests.support.webhooks import execute, new_wamid, text_message

A_GUEST_PHONE = phone(4242)
A_GUEST_NAME = "Beatriz Isolada"
A_TEXT = "Quarto 512, meu passaporte segue em anexo"


@dataclasses.dataclass(frozen=True)
class Case:
    """How tenant B calls one route; ``path`` may hold {placeholders}.

    ``auth`` is user (B's admin), fresh_user (a new session of B's admin, for logout), key (B's API key) or none.
    """

    method: str
    path: str
    auth: str
    status: int
    json: Any = None
    multipart: bool = False


# Keyed by (method, url_map rule). Ids in {braces} are tenant A's; {b_user} is one of B's users.
CASES: dict[tuple[str, str], Case] = {
    ("GET", "/admin/dead-letters"): Case("GET", "/admin/dead-letters", "user", 200),
    ("DELETE", "/admin/dead-letters/<dead_letter_id>"): Case("DELETE", "/admin/dead-letters/{dead_letter}", "user", 404),
    ("POST", "/admin/dead-letters/<dead_letter_id>/retry"):
        Case("POST", "/admin/dead-letters/{dead_letter}/retry", "user", 404),
    ("POST", "/admin/guests/erase"): Case("POST", "/admin/guests/erase", "user", 404, json={"phone": "{phone}"}),
    ("POST", "/admin/guests/export"):
        Case("POST", "/admin/guests/export", "user", 404, json={"conversationId": "{conversation}"}),
    ("GET", "/api/media/<tenant_id>/<file_id>"): Case("GET", "/api/media/{tenant}/{file}", "user", 404),
    ("POST", "/auth/login"): Case("POST", "/auth/login", "none", 401,
                                  json={"email": "{a_email}", "password": "senha-errada-123"}),
    ("POST", "/auth/logout"): Case("POST", "/auth/logout", "fresh_user", 200, json={"refreshToken": "{a_refresh}"}),
    ("GET", "/audit"): Case("GET", "/audit?conversationId={conversation}", "user", 200),
    ("GET", "/auth/me"): Case("GET", "/auth/me", "user", 200),
    ("POST", "/auth/password"): Case("POST", "/auth/password", "user", 400,
                                     json={"currentPassword": "senha-errada-123", "newPassword": "outra-senha-456"}),
    ("POST", "/auth/refresh"): Case("POST", "/auth/refresh", "none", 401, json={"refreshToken": "{a_refresh_used}"}),
    ("GET", "/conversations"): Case("GET", "/conversations?search=Beatriz", "user", 200),
    ("GET", "/conversations/<conversation_id>"): Case("GET", "/conversations/{conversation}", "user", 404),
    ("PATCH", "/conversations/<conversation_id>"):
        Case("PATCH", "/conversations/{conversation}", "user", 404, json={"hotelUnit": "Ubatuba"}),
    ("POST", "/conversations/<conversation_id>/assign"):
        Case("POST", "/conversations/{conversation}/assign", "user", 404, json={"assignedToId": "{b_user}"}),
    ("POST", "/conversations/<conversation_id>/close"): Case("POST", "/conversations/{conversation}/close", "user", 404),
    ("GET", "/conversations/<conversation_id>/messages"):
        Case("GET", "/conversations/{conversation}/messages", "user", 404),
    ("GET", "/conversations/<conversation_id>/events"):
        Case("GET", "/conversations/{conversation}/events", "user", 404),
    ("POST", "/conversations/<conversation_id>/read"): Case("POST", "/conversations/{conversation}/read", "user", 404),
    ("POST", "/conversations/<conversation_id>/release"):
        Case("POST", "/conversations/{conversation}/release", "user", 404),
    ("GET", "/conversations/stats"): Case("GET", "/conversations/stats", "user", 200),
    ("GET", "/conversations/stats/range"):
        Case("GET", "/conversations/stats/range?from=2026-01-01&to=2026-12-31", "user", 200),
    ("GET", "/healthz"): Case("GET", "/healthz", "none", 200),
    ("GET", "/livez"): Case("GET", "/livez", "none", 200),
    ("GET", "/messages/<message_id>"): Case("GET", "/messages/{message}", "user", 404),
    ("POST", "/messages/<message_id>/media/retry"): Case("POST", "/messages/{message}/media/retry", "user", 404),
    ("POST", "/messages/send-media"): Case("POST", "/messages/send-media", "user", 404, multipart=True),
    ("POST", "/messages/send-template"): Case("POST", "/messages/send-template", "user", 404, json={
        "conversationId": "{conversation}", "templateName": "reserva_confirmada", "language": "pt_BR"}),
    ("POST", "/messages/send-text"):
        Case("POST", "/messages/send-text", "user", 404, json={"conversationId": "{conversation}", "content": "Oi"}),
    ("GET", "/metrics"): Case("GET", "/metrics", "none", 200),
    ("GET", "/n8n/check-ia-lock"): Case("GET", "/n8n/check-ia-lock?phone={phone}", "key", 200),
    ("POST", "/n8n/escalate"): Case("POST", "/n8n/escalate", "key", 404, json={
        "conversationId": "{conversation}", "reason": "Hóspede pediu um atendente", "priority": "HIGH"}),
    ("POST", "/n8n/send-buttons"): Case("POST", "/n8n/send-buttons", "key", 404, json={
        "phone": "{phone}", "body": "Escolha", "buttons": [{"id": "sim", "title": "Sim"}]}),
    ("POST", "/n8n/send-carousel"): Case("POST", "/n8n/send-carousel", "key", 404, json={
        "conversationId": "{conversation}", "templateName": "quartos", "cards": [
            {"imageUrl": "https://example.com/a.jpg", "bodyParams": ["Suíte"], "buttonPayloads": ["suite"]},
            {"imageUrl": "https://example.com/b.jpg", "bodyParams": ["Chalé"], "buttonPayloads": ["chale"]}]}),
    ("POST", "/n8n/send-list"): Case("POST", "/n8n/send-list", "key", 404, json={
        "conversationId": "{conversation}", "body": "Escolha", "buttonText": "Ver",
        "sections": [{"title": "Quartos", "rows": [{"id": "suite", "title": "Suíte"}]}]}),
    ("POST", "/n8n/send-text"): Case("POST", "/n8n/send-text", "key", 404, json={"phone": "{phone}", "body": "Oi"}),
    ("POST", "/n8n/set-hotel-unit"):
        Case("POST", "/n8n/set-hotel-unit", "key", 404, json={"userId": "{phone}", "hotelUnit": "Ubatuba"}),
    ("GET", "/static/<path:filename>"): Case("GET", "/static/../hotelbot.db", "none", 404),
    ("GET", "/openapi.json"): Case("GET", "/openapi.json", "none", 200),
    ("GET", "/templates"): Case("GET", "/templates", "user", 200),
    ("GET", "/team"): Case("GET", "/team", "user", 200),
    ("GET", "/"): Case("GET", "/", "none", 302),
    ("GET", "/app"): Case("GET", "/app", "none", 301),
    ("GET", "/app/"): Case("GET", "/app/", "none", 200),
    ("GET", "/app/<path:asset>"): Case("GET", "/app/js/main.js", "none", 200),
    ("GET", "/users"): Case("GET", "/users", "user", 200),
    ("POST", "/users"): Case("POST", "/users", "user", 409, json={
        "email": "{a_email}", "name": "Intrusa", "role": "ADMIN", "password": "senha-segura-123"}),
    ("PATCH", "/users/<user_id>"): Case("PATCH", "/users/{user}", "user", 404, json={"role": "ADMIN"}),
    ("POST", "/users/<user_id>/deactivate"): Case("POST", "/users/{user}/deactivate", "user", 404),
    ("POST", "/users/<user_id>/reset-password"):
        Case("POST", "/users/{user}/reset-password", "user", 404, json={"password": "senha-trocada-789"}),
    ("POST", "/users/<user_id>/unlock"): Case("POST", "/users/{user}/unlock", "user", 404),
    ("GET", "/webhooks/whatsapp"): Case(
        "GET", "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nao-e-o-token&hub.challenge=42", "none", 403),
    ("POST", "/webhooks/whatsapp"): Case("POST", "/webhooks/whatsapp", "none", 401, json={"entry": []}),
}

# Ids that exist in no tenant: a request with tenant A's ids must get the same response as with these.
UNKNOWN_IDS = {
    "tenant": "0" * 32, "conversation": "0" * 32, "message": "0" * 32, "file": "0" * 32 + ".ogg",
    "dead_letter": "0" * 32, "user": "0" * 32, "phone": "5511900009999",
}

# Client events of the Socket.IO server and what B's socket gets for A's conversation.
SOCKET_EVENTS = {"connect", "disconnect", "join:conversation", "leave:conversation"}


def app_routes() -> set[tuple[str, str]]:
    settings = load_settings({"data_dir": tempfile.mkdtemp()}, environ={})
    _, app, _ = create_app(settings)
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def socket_events() -> set[str]:
    settings = load_settings({"data_dir": tempfile.mkdtemp()}, environ={})
    _, _, runtime = create_app(settings)
    return set(runtime.realtime.sio.handlers["/"])


def test_every_route_has_a_row():
    assert app_routes() == set(CASES)


def test_every_socket_event_is_covered():
    assert socket_events() == SOCKET_EVENTS


@dataclasses.dataclass
class TenantA:
    """Tenant A's ids and values that must never reach tenant B."""

    ids: dict[str, str]
    secrets: list[str]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[tuple[ServerProcess, FakeGraph]]:
    with running_server(tmp_path_factory.mktemp("isolation") / "data") as (server, graph, _):
        yield server, graph


async def _post_webhook(server: ServerProcess, http: httpx.AsyncClient, payload: dict, index: int) -> None:
    response = await server.post_webhook(http, payload, server.tenants[index])
    assert response.status_code == 200, response.text


async def _seed_tenant_a(server: ServerProcess, graph: FakeGraph, http: httpx.AsyncClient) -> TenantA:
    """Give tenant A a conversation with a text and a voice note, an escalation, a dead letter and a session."""
    tenant = server.tenants[0]
    wamid = new_wamid()
    payload = text_message(A_TEXT, wa_id=A_GUEST_PHONE, name=A_GUEST_NAME, wamid=wamid,
                           phone_number_id=tenant.phone_number_id, timestamp=str(int(time.time())))
    await _post_webhook(server, http, payload, 0)
    stored = await eventually(lambda: rows(server, "SELECT * FROM messages WHERE whatsapp_msg_id = ?", (wamid,)))
    message = stored[0]

    content = ogg_opus(frames=20)
    graph.add_media("isolation-7001", content, "audio/ogg; codecs=opus")
    voice = media_webhook("inbound-audio-voice.json", "isolation-7001", content, new_wamid())
    value = voice["entry"][0]["changes"][0]["value"]
    value["contacts"] = [{"profile": {"name": A_GUEST_NAME}, "wa_id": A_GUEST_PHONE}]
    value["messages"][0]["from"] = A_GUEST_PHONE
    await _post_webhook(server, http, voice, 0)
    media_file = (await eventually(lambda: rows(server, "SELECT id FROM media_files WHERE tenant_id = ?",
                                                (tenant.id,))))[0]

    escalated = await http.post(server.base_url + "/n8n/escalate", headers={"X-API-Key": tenant.api_key}, json={
        "conversationId": message["conversation_id"], "reason": "Hóspede quer falar com alguém", "priority": "HIGH"})
    assert escalated.status_code == 200, escalated.text
    dead_letter = uuid.uuid4().hex
    execute(server, "INSERT INTO dead_letters (id, kind, tenant_id, reference_id, payload, error, attempts, created_at)"
            " VALUES (?, 'forward', ?, ?, '{}', 'n8n unreachable', 5, '2026-01-01T00:00:00.000Z')",
            (dead_letter, tenant.id, message["id"]))

    login = await server.login(http, tenant.users["attendant"])
    used = await server.login(http, tenant.users["supervisor"])
    refreshed = await http.post(server.base_url + "/auth/refresh", json={"refreshToken": used["refreshToken"]})
    assert refreshed.status_code == 200, refreshed.text
    user = rows(server, "SELECT id FROM users WHERE email = ?", (tenant.users["attendant"],))[0]["id"]

    ids = {
        "tenant": tenant.id, "conversation": message["conversation_id"], "message": message["id"],
        "file": media_file["id"], "dead_letter": dead_letter, "user": user, "phone": A_GUEST_PHONE,
        "a_email": tenant.users["admin"], "a_refresh": login["refreshToken"], "a_refresh_used": used["refreshToken"],
    }
    ids["a_access"] = login["accessToken"]
    leaks = [message["conversation_id"], message["id"], media_file["id"], dead_letter, user, A_GUEST_PHONE,
             A_GUEST_PHONE[-8:], A_GUEST_NAME, A_TEXT, *tenant.users.values(), login["accessToken"]]
    return TenantA(ids, leaks)


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids) if "{" in value else value
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, ids) for item in value]
    return value


async def _call(server: ServerProcess, http: httpx.AsyncClient, case: Case, ids: dict[str, str],
                token: str) -> httpx.Response:
    headers = {}
    if case.auth == "fresh_user":
        token = await server.token(http, "admin", server.tenants[1])
    if case.auth in ("user", "fresh_user"):
        headers["Authorization"] = f"Bearer {token}"
    if case.auth == "key":
        headers["X-API-Key"] = server.tenants[1].api_key
    url = server.base_url + _fill(case.path, ids)
    if case.multipart:
        files = {"file": ("documento.pdf", b"%PDF-1.4 isolado", "application/pdf")}
        return await http.post(url, headers=headers, data={"conversationId": ids["conversation"]}, files=files)
    if case.method == "POST" and case.path == "/webhooks/whatsapp":
        # Signed with B's app secret but naming A's phone number id, so it must not reach A's tenant.
        body = json.dumps(text_message("Oi", phone_number_id=server.tenants[0].phone_number_id)).encode()
        headers.update({"Content-Type": "application/json", "X-Hub-Signature-256": server.sign(body, server.tenants[1])})
        return await http.post(url, headers=headers, content=body)
    return await http.request(case.method, url, headers=headers, json=_fill(case.json, ids))


def _snapshot(server: ServerProcess, tenant_id: str) -> dict[str, list[dict]]:
    """Return tenant A's rows that a request from B could change."""
    tables = ("conversations", "messages", "users", "escalations", "media_files", "dead_letters")
    snapshot = {table: rows(server, f"SELECT * FROM {table} WHERE tenant_id = ? ORDER BY id", (tenant_id,))
                for table in tables}
    # The failed login with A's e-mail counts against that user, as any wrong password does.
    for user in snapshot["users"]:
        user.pop("failed_logins")
    return snapshot


def _assert_no_leak(text: str, leaks: list[str], where: str) -> None:
    for value in leaks:
        assert value not in text, f"{where} contains tenant A's {value!r}"


async def test_tenant_b_sees_nothing_of_tenant_a(world, http, sockets):
    server, graph = world
    a = await _seed_tenant_a(server, graph, http)
    api_a = Api(server, http, server.tenants[0])
    api_b = Api(server, http, server.tenants[1])
    token_b = await api_b.token("admin")
    ids = {**a.ids, "b_user": await api_b.user_id("attendant")}
    socket_a = await api_a.socket("admin", sockets)
    socket_b = await api_b.socket("admin", sockets)
    before = _snapshot(server, a.ids["tenant"])

    for key, case in CASES.items():
        response = await _call(server, http, case, ids, token_b)

        assert response.status_code == case.status, f"{key}: {response.status_code} {response.text}"
        _assert_no_leak(response.text, a.secrets, f"{key} body")
        if case.status == 404:
            unknown = await _call(server, http, case, {**ids, **UNKNOWN_IDS}, token_b)
            assert (unknown.status_code, unknown.json()) == (404, response.json()), key

    assert _snapshot(server, a.ids["tenant"]) == before
    still_in = await http.get(server.base_url + "/auth/me", headers={"Authorization": f"Bearer {a.ids['a_access']}"})
    assert still_in.status_code == 200

    joined = await socket_b.call("join:conversation", {"conversationId": a.ids["conversation"]})
    assert joined["ok"] is False
    assert joined["code"] == "NOT_FOUND"
    left = await socket_b.call("leave:conversation", {"conversationId": a.ids["conversation"]})
    assert left == {"ok": True}

    # A new guest message in A's conversation reaches A's socket; B's socket then gets B's own message only.
    follow_up = text_message("Segunda mensagem de A", wa_id=A_GUEST_PHONE, name=A_GUEST_NAME,
                             phone_number_id=server.tenants[0].phone_number_id,
                             timestamp=str(int(time.time())))
    await _post_webhook(server, http, follow_up, 0)
    seen_by_a = await socket_a.next("message:new")
    assert seen_by_a["message"]["conversationId"] == a.ids["conversation"]
    own = text_message("Mensagem de B", wa_id=phone(5151), phone_number_id=server.tenants[1].phone_number_id,
                       timestamp=str(int(time.time())))
    await _post_webhook(server, http, own, 1)
    seen_by_b = await socket_b.next("message:new")
    assert seen_by_b["message"]["conversationId"] != a.ids["conversation"]
    _assert_no_leak(json.dumps(dict(socket_b.received), ensure_ascii=False), a.secrets + ["Segunda mensagem de A"],
                    "tenant B's socket events")

