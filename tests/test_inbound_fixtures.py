"""Every inbound WhatsApp fixture, posted to the real server, and the message row it leaves.

One server serves the whole module: each fixture has its own wamid, so the
tests read only their own rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.db import eventually, rows
from tests.support.fakes import load_fixture
from tests.support.server import ServerProcess, running_server
from tests.support.webhooks import first_message

ANA = {"type": "CONTACT", "name": "Ana Conceição"}


def reply_to(wamid: str) -> dict:
    """Return the replyTo of a message that quotes ``wamid``, a message hotelbot has not stored."""
    return {"id": None, "whatsappMsgId": wamid, "preview": None}


# fixture -> (type, content, metadata, sender, replyTo, createdAt, media id)
EXPECTED = {
    "inbound-text.json": (
        "TEXT",
        "Olá! Vocês têm quarto disponível para 2 pessoas no próximo fim de semana? Café da manhã incluso? 😊",
        {},
        ANA,
        None,
        "2025-06-08T20:59:43.000Z",
        None,
    ),
    "inbound-text-reply-context.json": (
        "TEXT",
        "Pode ser às 14h então, obrigado!",
        {},
        {"type": "CONTACT", "name": "João Pereira"},
        reply_to("wamid.HBgNNTUxMTkwMDAwMDAwMhUCABEYEjhGQUU0QURDN0Q1RkYxMzdFMAA="),
        "2024-01-19T20:58:27.000Z",
        None,
    ),
    "inbound-text-referral-ctwa.json": (
        "TEXT",
        "Can I get more info about this?",
        {
            "referral": {
                "source_url": "https://fb.me/3cr4Wqqkv",
                "source_id": "120226305854810726",
                "source_type": "ad",
                "headline": "Chat with us",
                "body": "Summer Succulents are here!",
                "ctwa_clid": (
                    "Aff-n8ZTODiE79d22KtAwQKj9e_mIEOOj27vDVwFjN80dp4_0NiNhEgpGo0AHemvuSoifXaytfTzcchptiErTKCqTrJ5nW1h7"
                    "IHYeYymGb5K5J5iTROpBhWAGaIAeUzHL50"
                ),
            }
        },
        ANA,
        None,
        "2025-06-18T19:46:32.000Z",
        None,
    ),
    "inbound-image.json": (
        "IMAGE",
        "Foto da vista do quarto 304 — a janela não fecha direito",
        {"mime_type": "image/jpeg", "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI="},
        ANA,
        None,
        "2025-04-11T04:08:16.000Z",
        "1003383421387256",
    ),
    "inbound-audio-voice.json": (
        "AUDIO",
        None,
        {
            "mime_type": "audio/ogg; codecs=opus",
            "sha256": "wvqXMe6n7n1W0zphvLPoLj+s/NtKqmr3zZ7YzTP7xFI=",
            "voice": True,
            "summary": "[Áudio]",
        },
        ANA,
        None,
        "2025-04-11T04:08:16.000Z",
        "1908647269898587",
    ),
    "inbound-video.json": (
        "VIDEO",
        "Vazamento no banheiro",
        {"mime_type": "video/mp4", "sha256": "vdGU5X4caz12KwFgYwpljlUNqMt1YnkH+5GkPc3mMnc="},
        ANA,
        None,
        "2025-04-11T04:08:16.000Z",
        "731675419373506",
    ),
    "inbound-document.json": (
        "DOCUMENT",
        "my receipt",
        {
            "mime_type": "application/pdf",
            "sha256": "V5OPpLD/gEG6Xjg0MbmQDLFgcKsL+j5LfY4ny/pZ4MY=",
            "filename": "receipt.pdf",
        },
        ANA,
        None,
        "2025-04-11T04:08:16.000Z",
        "622684793477189",
    ),
    "inbound-sticker.json": (
        "STICKER",
        None,
        {
            "mime_type": "image/webp",
            "sha256": "wvqXMe6n7n1W0zphvLPoLj+s/NtKqmr3zZ7YzTP7xFI=",
            "animated": True,
            "summary": "[Figurinha]",
        },
        ANA,
        None,
        "2025-04-11T04:08:16.000Z",
        "1908647269898587",
    ),
    "inbound-location.json": (
        "LOCATION",
        "📍 Localização: Philz Coffee, 101 Forest Ave, Palo Alto, CA 94301",
        {
            "latitude": 37.44221496582,
            "longitude": -122.16165924072,
            "name": "Philz Coffee",
            "address": "101 Forest Ave, Palo Alto, CA 94301",
            "url": "https://cafe.example.com/",
        },
        ANA,
        None,
        "2025-04-11T04:08:16.000Z",
        None,
    ),
    "inbound-contacts.json": (
        "CONTACTS",
        "👤 Contato compartilhado: Beatriz F. Fagundes",
        {"contacts": [{"name": "Beatriz F. Fagundes", "phones": [{"phone": "+55 11 90000-0005", "wa_id": "5511900000005"}]}]},
        ANA,
        None,
        "2025-04-11T04:08:16.000Z",
        None,
    ),
    "inbound-interactive-button-reply.json": (
        "INTERACTIVE",
        "Change",
        {"interactiveType": "button_reply", "replyId": "change-button", "title": "Change"},
        ANA,
        reply_to("wamid.HBgNNTUxMTkwMDAwMDAwMRUCABEYEkEzRjhFRTRFQ0VCQUMyNjNBQwA="),
        "2024-04-30T20:46:43.000Z",
        None,
    ),
    "inbound-interactive-list-reply.json": (
        "INTERACTIVE",
        "Priority Mail Express",
        {
            "interactiveType": "list_reply",
            "replyId": "priority_express",
            "title": "Priority Mail Express",
            "description": "Next Day to 2 Days",
        },
        ANA,
        reply_to("wamid.HBgNNTUxMTkwMDAwMDAwMRUCABEYEjAyODRGQzE4QzIyQ0RBQUVEOAA="),
        "2024-04-08T16:57:23.000Z",
        None,
    ),
    "inbound-interactive-list-reply-ptbr.json": (
        "INTERACTIVE",
        "Editar informações",
        {
            "interactiveType": "list_reply",
            "replyId": "2",
            "title": "Editar informações",
            "description": "Editar informações",
        },
        {"type": "CONTACT", "name": "Márcia Lopes"},
        reply_to("wamid.HBgMNTUxMTgwMDAwMDAzFQIAERgSRUEzNzVGMTM3RjIyMDBEQjAyAA=="),
        "2025-11-14T11:38:29.000Z",
        None,
    ),
    "inbound-button-template-quick-reply.json": (
        "BUTTON",
        "Unsubscribe",
        {"payload": "Unsubscribe", "text": "Unsubscribe"},
        ANA,
        reply_to("wamid.HBgNNTUxMTkwMDAwMDAwMRUCABEYE0FDQjY5OUQ1MDVGRjFGRDNFQUQA"),
        "2025-06-16T16:24:05.000Z",
        None,
    ),
    "inbound-reaction.json": (
        "REACTION",
        "👍",
        {"targetWhatsappMsgId": "wamid.HBgNNTUxMTkwMDAwMDAwMRUCABEYEkNCNjk5RDUwNUZGMUZEM0VBRAA=", "emoji": "👍"},
        ANA,
        None,
        "2025-06-08T21:52:24.000Z",
        None,
    ),
    "inbound-unsupported.json": (
        "UNSUPPORTED",
        "Tipo de mensagem não suportado pela API do WhatsApp (edit)",
        {
            "originalType": "unsupported",
            "errors": [{"code": 131051, "title": "Message type unknown", "details": "Message type is currently not supported."}],
        },
        ANA,
        None,
        "2025-06-16T16:18:22.000Z",
        None,
    ),
}


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("fixtures") / "data") as (process, _, _):
        yield process


def stored_message(server: ServerProcess, wamid: str) -> dict:
    found = rows(server, "SELECT * FROM messages WHERE whatsapp_msg_id = ?", (wamid,))
    return found[0] if found else {}


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_fixture_stored_as_message(shared_server, http, name):
    payload = load_fixture(name)
    wamid = first_message(payload)["id"]
    message_type, content, metadata, sender, reply, created_at, media_id = EXPECTED[name]

    response = await shared_server.post_webhook(http, payload)
    assert response.status_code == 200

    row = await eventually(lambda: stored_message(shared_server, wamid))
    assert row["tenant_id"] == shared_server.tenant.id
    assert row["direction"] == "INBOUND"
    assert row["status"] == "RECEIVED"
    assert row["type"] == message_type
    assert row["content"] == content
    stored_metadata = json.loads(row["metadata"])
    if media_id:
        # The media download job runs at once and adds its own keys (the fake Graph API knows no media here).
        stored_metadata = {key: value for key, value in stored_metadata.items() if key in metadata}
    assert stored_metadata == metadata
    assert json.loads(row["sender"]) == sender
    assert (json.loads(row["reply_to"]) if row["reply_to"] else None) == reply
    assert row["created_at"] == created_at
    assert row["media_id"] == media_id
    if media_id:
        assert row["media_status"] in ("PENDING", "FAILED")
    else:
        assert row["media_status"] is None
    assert json.loads(row["reactions"]) == []


async def test_fixture_of_unknown_number_skipped(shared_server, http):
    payload = load_fixture("inbound-text-dashboard-test-sample.json")

    response = await shared_server.post_webhook(http, payload)
    assert response.status_code == 200

    await eventually(lambda: "phone number id 123456123, which no tenant has" in shared_server.log())
    await eventually(lambda: rows(shared_server, "SELECT 1 FROM inbox WHERE processed_at IS NULL") == [])
    assert rows(shared_server, "SELECT count(*) AS n FROM messages WHERE whatsapp_msg_id = 'ABGGFlA5Fpa'") == [{"n": 0}]
    assert rows(shared_server, "SELECT count(*) AS n FROM contacts WHERE phone = '16315551181'") == [{"n": 0}]
