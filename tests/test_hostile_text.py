"""Hostile strings: control characters, line breaks, bidi overrides and lone surrogates in request fields.

One-line fields (names, units, ids, priorities) reject every control character
and line break; message bodies, captions and reasons accept ``\\n`` and ``\\t``
only. Every accepted value is stored in NFC. A rejected request is a 400
naming the field and writes nothing.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator

import pytest
from pydantic_core import PydanticCustomError

from hotelbot.web.fields import clean_line, clean_text
from tests.support.attendants import Api, guest_writes, phone
from tests.support.db import rows
from tests.support.media import jpeg
from tests.support.server import ServerProcess, running_server

LINE_MESSAGE = "Não pode conter quebras de linha nem caracteres de controle."
TEXT_MESSAGE = "Não pode conter caracteres de controle."

HOSTILE_LINES = {
    "escape sequence": "Ana\x1b[31m",
    "header injection": "Ana\r\nX-Injected: 1",
    "line feed": "Ana\nSouza",
    "tab": "Ana\tSouza",
    "NUL": "Ana\x00",
    "DEL": "Ana\x7f",
    "C1 control": "Ana\x85",
    "line separator": "Ana\u2028Souza",
    "paragraph separator": "Ana\u2029Souza",
    "right-to-left override": "Ana\u202egpj.exe",
    "isolate": "Ana\u2066x\u2069",
    "lone surrogate": "Ana\ud800",
}
HOSTILE_TEXTS = {name: value for name, value in HOSTILE_LINES.items() if name not in ("line feed", "tab")}


@pytest.mark.parametrize("name", HOSTILE_LINES)
def test_clean_line_rejects(name):
    with pytest.raises(PydanticCustomError):
        clean_line(HOSTILE_LINES[name])


@pytest.mark.parametrize("name", HOSTILE_TEXTS)
def test_clean_text_rejects(name):
    with pytest.raises(PydanticCustomError):
        clean_text(HOSTILE_TEXTS[name])


def test_clean_text_keeps_line_breaks():
    assert clean_text("Linha 1\nLinha 2\tfim") == "Linha 1\nLinha 2\tfim"


def test_clean_line_returns_nfc():
    assert clean_line("Jose\u0301") == "José"
    assert unicodedata.is_normalized("NFC", clean_line("Conceic\u0327a\u0303o"))


def test_clean_line_keeps_emoji_joiners():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467 e \u2764\ufe0f"
    assert clean_line(family) == family


@pytest.fixture(scope="module")
def hotel(tmp_path_factory) -> Iterator[ServerProcess]:
    """One server for the cases that leave it running; each case uses its own guest or user."""
    with running_server(tmp_path_factory.mktemp("hostile") / "data") as (server, _, _):
        yield server


def _detail(response, field: str) -> dict:
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    return next(detail for detail in body["details"] if detail["field"] == field)


@pytest.mark.parametrize("name", HOSTILE_LINES)
async def test_user_name_rejected(hotel, http, name):
    api = Api(hotel, http, hotel.tenant)
    email = f"hostil.{abs(hash(name))}@hotel.example"
    body = json.dumps({"email": email, "name": HOSTILE_LINES[name], "role": "ATTENDANT",
                       "password": "senha-segura-123"})

    response = await api.call("POST", "/users", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert _detail(response, "name")["message"] == LINE_MESSAGE
    assert rows(hotel, "SELECT id FROM users WHERE email = ?", (email,)) == []


async def test_user_name_stored_nfc(hotel, http):
    api = Api(hotel, http, hotel.tenant)

    response = await api.call("POST", "/users", json={
        "email": "jose.nfc@hotel.example", "name": "Jose\u0301 Conceic\u0327a\u0303o", "role": "ATTENDANT",
        "password": "senha-segura-123"})

    assert response.status_code == 201, response.text
    assert response.json()["user"]["name"] == "José Conceição"
    assert rows(hotel, "SELECT name FROM users WHERE email = ?", ("jose.nfc@hotel.example",)) == [
        {"name": "José Conceição"}]


async def test_user_rename_rejected(hotel, http):
    api = Api(hotel, http, hotel.tenant)
    user_id = await api.user_id("attendant")

    response = await api.call("PATCH", f"/users/{user_id}", json={"name": "Nova\r\nRole: ADMIN"})

    assert response.status_code == 400
    assert _detail(response, "name")["message"] == LINE_MESSAGE
    assert rows(hotel, "SELECT name FROM users WHERE id = ?", (user_id,)) == [{"name": "Attendant"}]


async def test_attendant_text_rejects_override(hotel, http):
    api = Api(hotel, http, hotel.tenant)
    conversation_id = await guest_writes(api, wa_id=phone(82))

    response = await api.call("POST", "/messages/send-text", json={
        "conversationId": conversation_id, "content": "Pagamento para \u202eLATOT"})

    assert response.status_code == 400
    assert _detail(response, "content")["message"] == TEXT_MESSAGE
    assert rows(hotel, "SELECT id FROM messages WHERE direction = 'OUTBOUND' AND conversation_id = ?",
                (conversation_id,)) == []


async def test_attendant_text_keeps_line_breaks(hotel, http):
    api = Api(hotel, http, hotel.tenant)
    conversation_id = await guest_writes(api, wa_id=phone(81))

    response = await api.call("POST", "/messages/send-text", json={
        "conversationId": conversation_id, "content": "Check-in:\n\t14h"})

    assert response.status_code == 201, response.text
    assert response.json()["message"]["content"] == "Check-in:\n\t14h"


async def test_n8n_text_rejects_bell(server, http, graph):
    api = Api(server, http, server.tenant)
    await guest_writes(api, wa_id=phone(77))

    response = await http.post(server.base_url + "/n8n/send-text", headers={"X-API-Key": server.tenant.api_key},
                               json={"phone": phone(77), "body": "Olá\x07"})

    assert response.status_code == 400
    assert _detail(response, "body")["message"] == TEXT_MESSAGE
    assert rows(server, "SELECT id FROM messages WHERE direction = 'OUTBOUND'") == []
    assert graph.sends() == []


async def test_escalation_reason_cannot_forge_log_line(server, http):
    api = Api(server, http, server.tenant)
    conversation_id = await guest_writes(api, wa_id=phone(78))
    forged = "ok\r2026-01-01 00:00:00,000 INFO hotelbot.services.auth: Login: user forjado"

    response = await http.post(server.base_url + "/n8n/escalate", headers={"X-API-Key": server.tenant.api_key},
                               json={"conversationId": conversation_id, "reason": forged, "priority": "HIGH"})
    server.stop()

    assert response.status_code == 400
    assert _detail(response, "reason")["message"] == TEXT_MESSAGE
    assert rows(server, "SELECT id FROM escalations") == []
    assert "user forjado" not in server.log()


async def test_escalation_reason_keeps_line_breaks(hotel, http):
    api = Api(hotel, http, hotel.tenant)
    conversation_id = await guest_writes(api, wa_id=phone(79))

    response = await http.post(hotel.base_url + "/n8n/escalate", headers={"X-API-Key": hotel.tenant.api_key},
                               json={"conversationId": conversation_id, "reason": "Reclamação:\nbarulho",
                                     "priority": "HIGH"})

    assert response.status_code == 200, response.text
    assert rows(hotel, "SELECT reason FROM escalations WHERE conversation_id = ?", (conversation_id,)) == [
        {"reason": "Reclamação:\nbarulho"}]


async def test_hotel_unit_rejects_line_break(hotel, http):
    api = Api(hotel, http, hotel.tenant)
    conversation_id = await guest_writes(api, wa_id=phone(80))

    by_n8n = await http.post(hotel.base_url + "/n8n/set-hotel-unit", headers={"X-API-Key": hotel.tenant.api_key},
                             json={"conversationId": conversation_id, "hotelUnit": "Ubatuba\r\n"})
    by_attendant = await api.call("PATCH", f"/conversations/{conversation_id}", json={"hotelUnit": "Uba\x1btuba"})

    assert by_n8n.status_code == 400
    assert _detail(by_n8n, "hotelUnit")["message"] == LINE_MESSAGE
    assert by_attendant.status_code == 400
    assert _detail(by_attendant, "hotelUnit")["message"] == LINE_MESSAGE
    assert rows(hotel, "SELECT hotel_unit FROM conversations WHERE id = ?", (conversation_id,)) == [
        {"hotel_unit": None}]


async def test_guest_id_rejects_control(hotel, http):
    response = await http.get(hotel.base_url + "/n8n/check-ia-lock", headers={"X-API-Key": hotel.tenant.api_key},
                              params={"conversationId": "abc\x00def"})

    assert response.status_code == 400
    assert _detail(response, "conversationId")["message"] == LINE_MESSAGE


async def test_media_caption_rejects_escape(hotel, http):
    api = Api(hotel, http, hotel.tenant)
    conversation_id = await guest_writes(api, wa_id=phone(83))
    files = {"file": ("foto.jpg", jpeg(), "image/jpeg")}

    response = await api.call("POST", "/messages/send-media", files=files,
                              data={"conversationId": conversation_id, "caption": "Vista\x1b[2J do quarto"})

    assert response.status_code == 400
    assert _detail(response, "caption")["message"] == TEXT_MESSAGE
    assert rows(hotel, "SELECT id FROM messages WHERE direction = 'OUTBOUND' AND conversation_id = ?",
                (conversation_id,)) == []


async def test_media_caption_stored_nfc(hotel, http):
    api = Api(hotel, http, hotel.tenant)
    conversation_id = await guest_writes(api, wa_id=phone(84))
    files = {"file": ("foto.jpg", jpeg(), "image/jpeg")}

    response = await api.call("POST", "/messages/send-media", files=files,
                              data={"conversationId": conversation_id, "caption": "Piscina\naquecida e\u0301 aqui"})

    assert response.status_code == 201, response.text
    assert response.json()["message"]["content"] == "Piscina\naquecida é aqui"
