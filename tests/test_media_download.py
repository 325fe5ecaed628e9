"""Guests' media from the webhook to the media store, the attendants' sockets and N8N."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.db import eventually, rows
from tests.support.fakes import Recorded, Reply
from tests.support.media import bearer, jpeg, media_webhook, ogg_opus, pdf, sha256_base64, text_webhook, webp
from tests.support.sockets import EventClient

GRAPH_PREFIX = "/v21.0/"


def media_info_path(media_id: str) -> str:
    return GRAPH_PREFIX + media_id


def file_path(media_id: str) -> str:
    return f"/files/{media_id}"


async def connect(server, http, sockets) -> EventClient:
    client = EventClient()
    sockets.append(client)
    await client.connect(server.base_url, await server.token(http))
    return client


def stored_files(server) -> list[str]:
    folder = server.data_dir / "media" / server.tenant.id
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


SAMPLES = [
    pytest.param("inbound-image.json", jpeg, "image/jpeg", "image/jpeg", ".jpg", None, id="jpeg"),
    pytest.param("inbound-audio-voice.json", ogg_opus, "audio/ogg; codecs=opus", "audio/ogg; codecs=opus", ".ogg", None, id="voice"),
    pytest.param(
        "inbound-document.json", pdf, "application/pdf", "application/pdf", ".pdf",
        "attachment; filename=\"recibo Sao Paulo.pdf\"; filename*=UTF-8''recibo%20S%C3%A3o%20Paulo.pdf", id="pdf",
    ),
    pytest.param("inbound-sticker.json", webp, "image/webp", "image/webp", ".webp", None, id="sticker"),
]


@pytest.mark.parametrize(("fixture", "make", "meta_type", "stored_type", "extension", "disposition"), SAMPLES)
async def test_media_downloaded_stored_and_served(server, graph, n8n, http, sockets, fixture, make, meta_type, stored_type, extension, disposition):
    client = await connect(server, http, sockets)
    content = make()
    graph.add_media("7001", content, meta_type)
    extra = {"filename": "recibo São Paulo.pdf"} if fixture == "inbound-document.json" else {}

    response = await server.post_webhook(http, media_webhook(fixture, "7001", content, "wamid.MEDIA1", **extra))
    assert response.status_code == 200
    created = await client.next("message:new")
    assert created["message"]["mediaStatus"] == "PENDING"
    assert created["message"]["mediaUrl"] is None

    updated = await client.next("message:updated", timeout=15)
    message = updated["message"]
    assert message["id"] == created["message"]["id"]
    assert message["mediaStatus"] == "READY"
    assert message["mediaUrl"].startswith(f"/api/media/{server.tenant.id}/")
    assert "expires=" in message["mediaUrl"]
    assert "sig=" in message["mediaUrl"]

    files = rows(server, "SELECT * FROM media_files")
    assert len(files) == 1
    assert files[0]["content_type"] == stored_type
    assert files[0]["size"] == len(content)
    assert files[0]["message_id"] == message["id"]
    assert files[0]["id"].endswith(extension)
    assert stored_files(server) == [files[0]["id"]]
    assert (server.data_dir / "media" / server.tenant.id / files[0]["id"]).read_bytes() == content

    served = await http.get(server.base_url + message["mediaUrl"])
    assert served.status_code == 200
    assert served.content == content
    assert served.headers["content-type"] == stored_type
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers.get("content-disposition") == disposition

    by_token = await http.get(server.base_url + message["mediaUrl"].split("?")[0], headers=bearer(await server.token(http)))
    assert by_token.content == content

    forwarded = (await asyncio.to_thread(n8n.wait_for, 1))[0].json()
    assert forwarded["messageId"] == message["id"]
    assert forwarded["mediaUrl"].startswith(server.base_url + message["mediaUrl"].split("?")[0] + "?expires=")
    assert (await http.get(forwarded["mediaUrl"])).content == content


async def test_media_url_from_graph_not_webhook(server, graph, n8n, http, sockets):
    client = await connect(server, http, sockets)
    content = jpeg()
    graph.add_media("7002", content, "image/jpeg")
    payload = media_webhook("inbound-image.json", "7002", content, "wamid.MEDIA2", url=graph.url + "/files/not-this-one")

    await server.post_webhook(http, payload)
    updated = await client.next("message:updated", timeout=15)
    assert updated["message"]["mediaStatus"] == "READY"

    paths = [request.path for request in graph.matching(lambda request: request.method == "GET")]
    assert paths == [media_info_path("7002"), file_path("7002")]
    info_request = graph.matching(lambda request: request.path == media_info_path("7002"))[0]
    assert info_request.headers["authorization"] == "Bearer access-token-0"
    file_request = graph.matching(lambda request: request.path == file_path("7002"))[0]
    assert file_request.headers["authorization"] == "Bearer access-token-0"


async def test_expired_url_fetches_new_one(server, graph, n8n, http, sockets):
    client = await connect(server, http, sockets)
    content = pdf()
    graph.add_media("7003", content, "application/pdf")
    served_once = threading.Event()
    default = graph.default_handler

    def expire_first_url(request: Recorded) -> Reply:
        if request.path == file_path("7003") and not served_once.is_set():
            served_once.set()
            return Reply(404, {"error": {"message": "URL expired", "code": 100}})
        return default(request)

    graph.handler = expire_first_url
    await server.post_webhook(http, media_webhook("inbound-document.json", "7003", content, "wamid.MEDIA3"))
    updated = await client.next("message:updated", timeout=15)

    assert updated["message"]["mediaStatus"] == "READY"
    assert len(graph.matching(lambda request: request.path == media_info_path("7003"))) == 2
    assert len(graph.matching(lambda request: request.path == file_path("7003"))) == 2
    assert "retrying" not in server.log()
    assert "Temporary media URL expired" in server.log()


async def test_wrong_sha256_fails_after_retries(server, graph, n8n, http, sockets):
    client = await connect(server, http, sockets)
    content = jpeg()
    graph.add_media("7004", content, "image/jpeg")
    default = graph.default_handler

    def wrong_checksum(request: Recorded) -> Reply:
        reply = default(request)
        if request.path == media_info_path("7004"):
            reply.body["sha256"] = sha256_base64(b"another file")
        return reply

    graph.handler = wrong_checksum
    await server.post_webhook(http, media_webhook("inbound-image.json", "7004", content, "wamid.MEDIA4", sha256=sha256_base64(b"another file")))
    updated = await client.next("message:updated", timeout=20)

    message = updated["message"]
    assert message["mediaStatus"] == "FAILED"
    assert message["mediaUrl"] is None
    assert message["metadata"]["mediaError"] == "DOWNLOAD_FAILED"
    assert len(graph.matching(lambda request: request.path == file_path("7004"))) == 3
    assert stored_files(server) == []
    assert rows(server, "SELECT count(*) AS n FROM media_files") == [{"n": 0}]
    letters = rows(server, "SELECT kind, reference_id, error, attempts FROM dead_letters")
    assert letters == [{"kind": "media_download", "reference_id": message["id"],
                        "error": "sha256 of the downloaded file differs from Meta's", "attempts": 3}]

    forwarded = (await asyncio.to_thread(n8n.wait_for, 1))[0].json()
    assert forwarded["messageId"] == message["id"]
    assert forwarded["mediaUrl"] is None


async def test_size_reported_over_limit_not_downloaded(server, graph, n8n, http, sockets):
    client = await connect(server, http, sockets)
    content = b"RIFF" + bytes(600 * 1024)
    graph.add_media("7005", content, "image/webp")

    await server.post_webhook(http, media_webhook("inbound-sticker.json", "7005", content, "wamid.MEDIA5"))
    updated = await client.next("message:updated", timeout=15)

    assert updated["message"]["mediaStatus"] == "FAILED"
    assert updated["message"]["metadata"]["mediaError"] == "TOO_LARGE"
    assert graph.matching(lambda request: request.path == file_path("7005")) == []
    assert rows(server, "SELECT count(*) AS n FROM dead_letters") == [{"n": 0}]
    await asyncio.to_thread(n8n.wait_for, 1)


class EndlessFile:
    """A loopback server that streams a file without Content-Length until the client hangs up."""

    def __init__(self, total: int) -> None:
        self.sent = 0
        self.finished = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/webp")
                self.end_headers()
                chunk = bytes(64 * 1024)
                try:
                    while owner.sent < total:
                        self.wfile.write(chunk)
                        owner.sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    owner.finished.set()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/sticker"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


async def test_stream_over_limit_aborted_without_filling_disk(server, graph, n8n, http, sockets):
    client = await connect(server, http, sockets)
    endless = EndlessFile(total=256 * 1024 * 1024)
    small = b"RIFF" + bytes(1000)
    default = graph.default_handler

    def lying_size(request: Recorded) -> Reply:
        if request.path == media_info_path("7006"):
            return Reply(200, {"url": endless.url, "mime_type": "image/webp", "sha256": sha256_base64(small), "file_size": "1004", "id": "7006"})
        return default(request)

    graph.handler = lying_size
    try:
        await server.post_webhook(http, media_webhook("inbound-sticker.json", "7006", small, "wamid.MEDIA6"))
        updated = await client.next("message:updated", timeout=20)
        assert await asyncio.to_thread(endless.finished.wait, 10)
    finally:
        endless.stop()

    assert updated["message"]["mediaStatus"] == "FAILED"
    assert updated["message"]["metadata"]["mediaError"] == "TOO_LARGE"
    # The limit is 500 KiB; what the server read past it is at most the socket buffers on loopback.
    assert endless.sent < 32 * 1024 * 1024
    assert stored_files(server) == []
    assert rows(server, "SELECT count(*) AS n FROM media_files") == [{"n": 0}]


async def test_retries_then_failed_then_manual_retry(server, graph, n8n, http, sockets):
    client = await connect(server, http, sockets)
    content = ogg_opus()
    graph.add_media("7007", content, "audio/ogg; codecs=opus")
    meta_down = threading.Event()
    meta_down.set()
    default = graph.default_handler

    def flaky(request: Recorded) -> Reply:
        if request.path == file_path("7007") and meta_down.is_set():
            return Reply(500, {"error": {"message": "Service temporarily unavailable", "code": 2}})
        return default(request)

    graph.handler = flaky
    await server.post_webhook(http, media_webhook("inbound-audio-voice.json", "7007", content, "wamid.MEDIA7"))
    failed = await client.next("message:updated", timeout=20)
    message_id = failed["message"]["id"]
    assert failed["message"]["mediaStatus"] == "FAILED"
    assert len(graph.matching(lambda request: request.path == file_path("7007"))) == 3
    assert "Job media_download failed" in server.log()

    token = await server.token(http, "attendant")
    meta_down.clear()
    retried = await http.post(f"{server.base_url}/messages/{message_id}/media/retry", headers=bearer(token))
    assert retried.status_code == 202
    assert retried.json()["message"]["mediaStatus"] == "PENDING"
    assert "mediaError" not in retried.json()["message"]["metadata"]
    pending = await client.next("message:updated")
    assert pending["message"]["mediaStatus"] == "PENDING"

    ready = await client.next("message:updated", timeout=15)
    assert ready["message"]["mediaStatus"] == "READY"
    served = await http.get(server.base_url + ready["message"]["mediaUrl"])
    assert served.content == content

    again = await http.post(f"{server.base_url}/messages/{message_id}/media/retry", headers=bearer(token))
    assert again.status_code == 409
    assert again.json()["code"] == "INVALID_TRANSITION"


async def test_manual_retry_refused(server, graph, n8n, http):
    content = jpeg()
    await server.post_webhook(http, media_webhook("inbound-image.json", "7008", content, "wamid.MEDIA8"))
    await server.post_webhook(http, text_webhook("wamid.TEXT8"))
    media_row = await eventually(lambda: rows(server, "SELECT id FROM messages WHERE media_status = 'FAILED'"), timeout=20)
    text_row = await eventually(lambda: rows(server, "SELECT id FROM messages WHERE type = 'TEXT'"))
    token = await server.token(http, "attendant")
    other_tenant = await server.token(http, "attendant", tenant=server.tenants[1])

    async def retry(message_id: str, headers: dict) -> tuple[int, dict]:
        response = await http.post(f"{server.base_url}/messages/{message_id}/media/retry", headers=headers)
        return response.status_code, response.json()

    status, body = await retry(media_row[0]["id"], bearer(other_tenant))
    unknown_status, unknown_body = await retry("0" * 32, bearer(token))
    assert (status, body) == (404, unknown_body)
    assert unknown_status == 404
    assert (await retry(media_row[0]["id"], {}))[0] == 401
    assert (await retry("x" * 500, bearer(token)))[0] == 404

    status, body = await retry(text_row[0]["id"], bearer(token))
    assert status == 409
    assert body["error"] == "Esta mensagem não tem arquivo do hóspede para baixar."

    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    connection = sqlite3.connect(server.data_dir / "hotelbot.db")
    with connection:
        connection.execute("UPDATE messages SET created_at = ? WHERE id = ?", (old, media_row[0]["id"]))
    connection.close()
    status, body = await retry(media_row[0]["id"], bearer(token))
    assert status == 409
    assert body["error"] == "O WhatsApp guarda os arquivos dos hóspedes por 7 dias; este arquivo não pode mais ser baixado."
    assert rows(server, "SELECT media_status FROM messages WHERE id = ?", (media_row[0]["id"],)) == [{"media_status": "FAILED"}]


@pytest.fixture
def server_settings(request) -> dict:
    return getattr(request, "param", {})


@pytest.mark.parametrize(
    "server_settings", [{"MEDIA_TIMEOUT": "0.5", "MEDIA_MIN_RATE": "1000000", "MEDIA_ATTEMPTS": "1"}], indirect=True
)
async def test_time_limit_scales_with_file_size(server, graph, n8n, http, sockets):
    client = await connect(server, http, sockets)
    small, large = jpeg(color=(1, 2, 3)), jpeg(color=(4, 5, 6))
    graph.add_media("7010", small, "image/jpeg")
    graph.add_media("7011", large, "image/jpeg")
    default = graph.default_handler

    def slow_line(request: Recorded) -> Reply:
        reply = default(request)
        if request.path == media_info_path("7011"):
            reply.body["file_size"] = "4000000"
        if request.path.startswith("/files/"):
            reply.delay = 1.5
        return reply

    graph.handler = slow_line
    await server.post_webhook(http, media_webhook("inbound-image.json", "7010", small, "wamid.SMALL"))
    first = await client.next("message:updated", timeout=15)
    await server.post_webhook(http, media_webhook("inbound-image.json", "7011", large, "wamid.LARGE"))
    second = await client.next("message:updated", timeout=15)

    # 0.5 s + 1,000 bytes at 1 MB/s cannot wait 1.5 s; 0.5 s + 4 MB at 1 MB/s can.
    assert first["message"]["mediaStatus"] == "FAILED"
    assert second["message"]["mediaStatus"] == "READY"
    assert "download timed out after 1 s" in server.log()


async def test_slow_download_does_not_hold_up_text(server, graph, n8n, http, sockets):
    client = await connect(server, http, sockets)
    content = pdf()
    graph.add_media("7012", content, "application/pdf")
    release = threading.Event()
    default = graph.default_handler

    def held_file(request: Recorded) -> Reply:
        if request.path == file_path("7012"):
            release.wait(20)
        return default(request)

    graph.handler = held_file
    await server.post_webhook(http, media_webhook("inbound-document.json", "7012", content, "wamid.SLOW"))
    await asyncio.to_thread(graph.wait_for, 1, lambda request: request.path == file_path("7012"))
    await server.post_webhook(http, text_webhook("wamid.FAST"))

    texts = await asyncio.to_thread(n8n.wait_for, 1, lambda request: request.json()["messageType"] == "TEXT")
    assert texts[0].json()["message"] == "Olá, preciso de ajuda"
    assert rows(server, "SELECT media_status FROM messages WHERE whatsapp_msg_id = 'wamid.SLOW'") == [{"media_status": "PENDING"}]

    release.set()
    updated = await client.next("message:updated", timeout=15)
    assert updated["message"]["mediaStatus"] == "READY"


async def test_locked_conversation_media_downloaded_not_forwarded(server, graph, n8n, http, sockets):
    client = await connect(server, http, sockets)
    await server.post_webhook(http, text_webhook("wamid.FIRST"))
    await asyncio.to_thread(n8n.wait_for, 1)
    connection = sqlite3.connect(server.data_dir / "hotelbot.db")
    with connection:
        connection.execute("UPDATE conversations SET ia_locked = 1")
    connection.close()

    content = jpeg()
    graph.add_media("7013", content, "image/jpeg")
    await server.post_webhook(http, media_webhook("inbound-image.json", "7013", content, "wamid.LOCKED"))
    updated = await client.next("message:updated", timeout=15)

    assert updated["message"]["mediaStatus"] == "READY"
    assert rows(server, "SELECT forward_state FROM messages WHERE whatsapp_msg_id = 'wamid.LOCKED'") == [{"forward_state": "NONE"}]
    assert len(n8n.requests) == 1
    assert json.loads(n8n.requests[0].body)["messageType"] == "TEXT"


async def test_download_resumed_after_crash(server, graph, n8n, http):
    await server.post_webhook(http, text_webhook("wamid.BEFORE"))
    await asyncio.to_thread(n8n.wait_for, 1)
    connection = sqlite3.connect(server.data_dir / "hotelbot.db")
    with connection:
        # A conversation locked for people: its media is downloaded but never forwarded.
        connection.execute("UPDATE conversations SET ia_locked = 1")
    connection.close()
    content = pdf()
    graph.add_media("7015", content, "application/pdf")
    crashed = threading.Event()
    default = graph.default_handler

    def hang_until_crash(request: Recorded) -> Reply:
        if request.path == file_path("7015") and not crashed.is_set():
            crashed.wait(20)
            return Reply(500, {"error": {"message": "gone", "code": 2}})
        return default(request)

    graph.handler = hang_until_crash
    await server.post_webhook(http, media_webhook("inbound-document.json", "7015", content, "wamid.CRASH"))
    await asyncio.to_thread(graph.wait_for, 1, lambda request: request.path == file_path("7015"))
    await asyncio.to_thread(server.kill)
    crashed.set()
    assert rows(server, "SELECT media_status FROM messages WHERE whatsapp_msg_id = 'wamid.CRASH'") == [{"media_status": "PENDING"}]

    await asyncio.to_thread(server.start)

    await eventually(lambda: rows(server, "SELECT 1 FROM messages WHERE whatsapp_msg_id = 'wamid.CRASH' AND media_status = 'READY'"), timeout=15)
    stored = rows(server, "SELECT id FROM media_files")
    assert len(stored) == 1
    assert (server.data_dir / "media" / server.tenant.id / stored[0]["id"]).read_bytes() == content
    assert [name for name in stored_files(server) if name.endswith(".part")] == []
    assert len(n8n.requests) == 1
