"""Attendants sending photos, audio, video and documents to a guest."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from tests.support.db import eventually, rows
from tests.support.fakes import Recorded, Reply
from tests.support.media import bearer, jpeg, mp4, ogg_opus, pdf, png, text_webhook, webp
from tests.support.sockets import EventClient


async def open_conversation(server, http, tenant=None) -> str:
    """Store a guest's text for the tenant and return its conversation's id."""
    tenant = tenant or server.tenant
    payload = text_webhook(f"wamid.OPEN{tenant.phone_number_id}", phone_number_id=tenant.phone_number_id)
    await server.post_webhook(http, payload, tenant=tenant)
    found = await eventually(lambda: rows(
        server, "SELECT c.id FROM conversations c WHERE c.tenant_id = ?", (tenant.id,)
    ))
    return found[0]["id"]


async def send_file(server, http, token, conversation_id, name, content, content_type, **fields):
    data = {"conversationId": conversation_id, **fields}
    files = {"file": (name, content, content_type)}
    return await http.post(server.base_url + "/messages/send-media", data=data, files=files, headers=bearer(token))


def stored_files(server) -> list[str]:
    folder = server.data_dir / "media" / server.tenant.id
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def uploads(graph) -> list[Recorded]:
    return graph.matching(lambda request: request.method == "POST" and request.path.endswith("/media"))


SENDS = [
    pytest.param("quarto.jpg", jpeg, "image/jpeg", "IMAGE", "Vista do quarto 304", id="image"),
    pytest.param("mapa.png", png, "image/png", "IMAGE", None, id="png"),
    pytest.param("aviso.ogg", ogg_opus, "audio/ogg; codecs=opus", "AUDIO", None, id="audio"),
    pytest.param("tour.mp4", mp4, "video/mp4", "VIDEO", "Tour pelo hotel", id="video"),
    pytest.param("Reserva São Paulo.pdf", pdf, "application/pdf", "DOCUMENT", "Sua reserva", id="document"),
]


@pytest.mark.parametrize(("name", "make", "content_type", "message_type", "caption"), SENDS)
async def test_send_each_media_type(server, graph, http, sockets, name, make, content_type, message_type, caption):
    conversation_id = await open_conversation(server, http)
    token = await server.token(http, "attendant")
    client = EventClient()
    sockets.append(client)
    await client.connect(server.base_url, token)
    content = make()
    fields = {"caption": caption} if caption else {}

    response = await send_file(server, http, token, conversation_id, name, content, content_type, **fields)

    assert response.status_code == 201, response.text
    message = response.json()["message"]
    assert message["type"] == message_type
    assert message["direction"] == "OUTBOUND"
    assert message["status"] == "SENT"
    assert message["mediaStatus"] == "READY"
    assert message["content"] == caption
    assert message["sender"]["type"] == "ATTENDANT"

    upload = uploads(graph)
    assert len(upload) == 1
    assert upload[0].path == "/v21.0/106500000000001/media"
    assert content in upload[0].body
    assert b'name="messaging_product"' in upload[0].body
    media_id = message["metadata"]["mediaId"]
    assert media_id.startswith("uploaded")

    sent = graph.sends()[-1].json()
    kind = message_type.lower()
    expected = {"id": media_id}
    if caption:
        expected["caption"] = caption
    if message_type == "DOCUMENT":
        expected["filename"] = name
    assert sent["type"] == kind
    assert sent[kind] == expected
    assert sent["to"] == "5511900000001"

    served = await http.get(server.base_url + message["mediaUrl"])
    assert served.content == content
    assert served.headers["content-type"] == content_type
    files = rows(server, "SELECT message_id, kind, content_type, size FROM media_files")
    assert files == [{"message_id": message["id"], "kind": message_type, "content_type": content_type, "size": len(content)}]

    event = await client.next("message:new")
    while event["message"]["direction"] != "OUTBOUND":
        event = await client.next("message:new")
    assert event["message"]["id"] == message["id"]
    assert event["message"]["mediaStatus"] == "READY"
    conversation = rows(server, "SELECT status, assigned_to_id, ia_locked FROM conversations WHERE id = ?", (conversation_id,))
    assert conversation[0]["status"] == "IN_PROGRESS"
    assert conversation[0]["ia_locked"] == 1


async def test_window_closed_sends_nothing(server, graph, http):
    conversation_id = await open_conversation(server, http)
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    connection = sqlite3.connect(server.data_dir / "hotelbot.db")
    with connection:
        connection.execute("UPDATE conversations SET last_inbound_at = ? WHERE id = ?", (old, conversation_id))
    connection.close()

    response = await send_file(server, http, await server.token(http), conversation_id, "a.jpg", jpeg(), "image/jpeg")

    assert response.status_code == 422
    assert response.json()["code"] == "WINDOW_CLOSED"
    assert uploads(graph) == []
    assert graph.sends() == []
    assert stored_files(server) == []
    assert rows(server, "SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND'") == [{"n": 0}]


async def test_file_over_type_limit_413(server, graph, http):
    conversation_id = await open_conversation(server, http)
    too_big = b"\xff\xd8\xff" + bytes(5 * 1024 * 1024)

    response = await send_file(server, http, await server.token(http), conversation_id, "big.jpg", too_big, "image/jpeg")

    assert response.status_code == 413
    assert response.json() == {
        "error": "O arquivo é maior do que o WhatsApp permite para este tipo (limite de 5242880 bytes).",
        "code": "PAYLOAD_TOO_LARGE",
    }
    assert uploads(graph) == []
    assert stored_files(server) == []
    assert rows(server, "SELECT count(*) AS n FROM media_files") == [{"n": 0}]


async def test_invalid_uploads_rejected(server, graph, http):
    conversation_id = await open_conversation(server, http)
    token = await server.token(http)

    webp_sent = await send_file(server, http, token, conversation_id, "s.webp", webp(), "image/webp")
    captioned_audio = await send_file(server, http, token, conversation_id, "a.ogg", ogg_opus(), "audio/ogg", caption="oi")
    empty = await send_file(server, http, token, conversation_id, "vazio.pdf", b"", "application/pdf")
    long_caption = await send_file(server, http, token, conversation_id, "a.jpg", jpeg(), "image/jpeg", caption="é" * 1025)
    missing = await http.post(server.base_url + "/messages/send-media", data={"caption": "x"}, files={"other": ("a", b"a")}, headers=bearer(token))
    as_json = await http.post(server.base_url + "/messages/send-media", json={"conversationId": conversation_id}, headers=bearer(token))

    assert webp_sent.status_code == 400
    assert webp_sent.json()["details"][0]["field"] == "file"
    assert webp_sent.json()["details"][0]["message"].startswith("Tipo de arquivo não suportado: image/webp.")
    assert captioned_audio.status_code == 400
    assert captioned_audio.json()["details"] == [{"field": "caption", "message": "Mensagens de áudio não podem ter legenda."}]
    assert empty.status_code == 400
    assert empty.json()["details"] == [{"field": "file", "message": "O arquivo está vazio."}]
    assert long_caption.status_code == 400
    assert long_caption.json()["details"][0]["field"] == "caption"
    assert long_caption.json()["details"][0]["limit"] == 1024
    assert missing.status_code == 400
    assert [detail["field"] for detail in missing.json()["details"]] == ["file", "conversationId"]
    assert as_json.status_code == 400
    assert as_json.json()["details"][0]["field"] == "Content-Type"

    assert uploads(graph) == []
    assert stored_files(server) == []
    assert rows(server, "SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND'") == [{"n": 0}]


async def test_caption_counts_code_points(server, graph, http):
    conversation_id = await open_conversation(server, http)
    caption = "🛏️é" * 341 + "a"  # 1,024 code points, far more bytes
    assert len(caption) == 1024

    response = await send_file(server, http, await server.token(http), conversation_id, "a.jpg", jpeg(), "image/jpeg", caption=caption)

    assert response.status_code == 201
    assert graph.sends()[-1].json()["image"]["caption"] == caption


async def test_other_tenant_conversation_404(server, graph, http):
    foreign_conversation = await open_conversation(server, http, tenant=server.tenants[1])

    response = await send_file(server, http, await server.token(http), foreign_conversation, "a.jpg", jpeg(), "image/jpeg")
    unknown = await send_file(server, http, await server.token(http), "0" * 32, "a.jpg", jpeg(), "image/jpeg")

    assert response.status_code == 404
    assert response.json() == unknown.json() == {"error": "Conversa não encontrada.", "code": "NOT_FOUND"}
    assert uploads(graph) == []
    assert stored_files(server) == []


async def test_unauthenticated_send_401(server, graph, http):
    response = await http.post(
        server.base_url + "/messages/send-media", data={"conversationId": "x"}, files={"file": ("a.jpg", jpeg(), "image/jpeg")}
    )
    assert response.status_code == 401
    assert uploads(graph) == []


async def test_meta_rejects_upload(server, graph, http):
    conversation_id = await open_conversation(server, http)
    default = graph.default_handler

    def refuse_upload(request: Recorded) -> Reply:
        if request.method == "POST" and request.path.endswith("/media"):
            return Reply(400, {"error": {"message": "(#131053) Media upload error", "type": "OAuthException", "code": 131053}})
        return default(request)

    graph.handler = refuse_upload
    response = await send_file(server, http, await server.token(http), conversation_id, "a.pdf", pdf(), "application/pdf")

    assert response.status_code == 422
    assert response.json()["code"] == "WHATSAPP_ERROR"
    assert response.json()["whatsappCode"] == 131053
    assert response.json()["error"] == "O WhatsApp não conseguiu processar o arquivo de mídia."
    assert graph.sends() == []
    assert stored_files(server) == []
    assert rows(server, "SELECT count(*) AS n FROM media_files") == [{"n": 0}]


async def test_meta_unreachable_for_upload_503(server, graph, http):
    conversation_id = await open_conversation(server, http)
    graph.handler = lambda request: Reply(503, {"error": {"message": "Service unavailable", "code": 2}})

    response = await send_file(server, http, await server.token(http), conversation_id, "a.jpg", jpeg(), "image/jpeg")

    assert response.status_code == 503
    assert response.json()["code"] == "UNAVAILABLE"
    assert stored_files(server) == []
    assert rows(server, "SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND'") == [{"n": 0}]


async def test_repeated_client_message_id_keeps_one_file(server, graph, http):
    conversation_id = await open_conversation(server, http)
    token = await server.token(http)

    first = await send_file(server, http, token, conversation_id, "a.jpg", jpeg(), "image/jpeg", clientMessageId="c-1")
    second = await send_file(server, http, token, conversation_id, "a.jpg", jpeg(), "image/jpeg", clientMessageId="c-1")

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["message"]["id"] == first.json()["message"]["id"]
    assert len(graph.sends()) == 1
    assert len(stored_files(server)) == 1
    assert rows(server, "SELECT count(*) AS n FROM media_files") == [{"n": 1}]


async def test_meta_rejects_send_keeps_failed_message_and_file(server, graph, http):
    conversation_id = await open_conversation(server, http)
    default = graph.default_handler

    def refuse_send(request: Recorded) -> Reply:
        if request.method == "POST" and request.path.endswith("/messages"):
            return Reply(400, {"error": {"message": "(#131053) Media upload error", "type": "OAuthException", "code": 131053}})
        return default(request)

    graph.handler = refuse_send
    content = pdf()
    response = await send_file(server, http, await server.token(http), conversation_id, "a.pdf", content, "application/pdf")

    assert response.status_code == 422
    message = response.json()["message"]
    assert message["status"] == "FAILED"
    assert message["mediaStatus"] == "READY"
    assert (await http.get(server.base_url + message["mediaUrl"])).content == content
    assert rows(server, "SELECT message_id FROM media_files") == [{"message_id": message["id"]}]
