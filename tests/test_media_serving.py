"""Serving stored media: who may read a file, Range and caching, and paths that try to leave the folder."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest

from hotelbot.media_links import MediaLinks
from tests.support.db import rows, wait_until
from tests.support.fakes import FakeGraph, FakeN8N
from tests.support.media import bearer, login_sync, media_webhook, ogg_opus
from tests.support.server import PASSWORD, ServerProcess, launch


class Stored:
    def __init__(self, server: ServerProcess, content: bytes, file_id: str, signed_url: str) -> None:
        self.server = server
        self.content = content
        self.file_id = file_id
        self.signed_url = signed_url

    @property
    def path(self) -> str:
        return f"/api/media/{self.server.tenant.id}/{self.file_id}"

    def token(self, label: str = "attendant", tenant_index: int = 0) -> str:
        tenant = self.server.tenants[tenant_index]
        return login_sync(self.server.base_url, tenant.users[label], PASSWORD)


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Iterator[Stored]:
    """One server with one downloaded voice note, shared by the tests of this module."""
    graph, n8n = FakeGraph().start(), FakeN8N().start()
    server = launch(tmp_path_factory.mktemp("serving") / "data", graph.url, n8n.url)
    try:
        content = ogg_opus(frames=200)
        graph.add_media("8001", content, "audio/ogg; codecs=opus")
        payload = media_webhook("inbound-audio-voice.json", "8001", content, "wamid.SERVED")
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": server.sign(body)}
        assert httpx.post(server.base_url + "/webhooks/whatsapp", content=body, headers=headers, timeout=10).status_code == 200
        file_id = wait_until(lambda: rows(server, "SELECT id FROM media_files"))[0]["id"]

        token = login_sync(server.base_url, server.tenant.users["attendant"], PASSWORD)
        conversation = rows(server, "SELECT conversation_id FROM messages")[0]["conversation_id"]
        listed = httpx.get(f"{server.base_url}/conversations/{conversation}/messages", headers=bearer(token), timeout=10)
        signed_url = listed.json()["items"][0]["mediaUrl"]
        yield Stored(server, content, file_id, signed_url)
    finally:
        server.stop()
        graph.stop()
        n8n.stop()


def media_key(server: ServerProcess) -> bytes:
    secrets = json.loads((server.data_dir / "secrets.json").read_text())
    return base64.b64decode(secrets["mediaKey"])


async def test_signed_link_serves_file(stored, http):
    response = await http.get(stored.server.base_url + stored.signed_url)

    assert response.status_code == 200
    assert response.content == stored.content
    assert response.headers["content-type"] == "audio/ogg; codecs=opus"
    assert response.headers["content-length"] == str(len(stored.content))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "private, max-age=3600"
    assert response.headers["etag"] == '"' + hashlib.sha256(stored.content).hexdigest() + '"'
    assert response.headers["accept-ranges"] == "bytes"
    assert "content-disposition" not in response.headers


async def test_authorization_header_serves_file(stored, http):
    response = await http.get(stored.server.base_url + stored.path, headers=bearer(await asyncio.to_thread(stored.token)))
    assert response.status_code == 200
    assert response.content == stored.content


async def test_no_credentials_unauthorized(stored, http):
    response = await http.get(stored.server.base_url + stored.path)
    assert response.status_code == 401
    assert response.json() == {"error": "Link de mídia inválido ou expirado.", "code": "UNAUTHORIZED"}


async def test_other_tenant_token_same_as_unknown_id(stored, http):
    other = bearer(await asyncio.to_thread(stored.token, "admin", 1))
    own = bearer(await asyncio.to_thread(stored.token))
    unknown_path = f"/api/media/{stored.server.tenant.id}/{'0' * 32}.ogg"

    foreign = await http.get(stored.server.base_url + stored.path, headers=other)
    unknown = await http.get(stored.server.base_url + unknown_path, headers=own)
    own_tenant_path = f"/api/media/{stored.server.tenants[1].id}/{stored.file_id}"
    crossed = await http.get(stored.server.base_url + own_tenant_path, headers=other)

    assert foreign.status_code == 404
    assert unknown.status_code == 404
    assert crossed.status_code == 404
    assert foreign.json() == unknown.json() == crossed.json() == {"error": "Não encontrado.", "code": "NOT_FOUND"}


async def test_invalid_token_unauthorized(stored, http):
    response = await http.get(stored.server.base_url + stored.path, headers=bearer("not.a.token"))
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"


async def test_forged_signature_refused(stored, http):
    parts = urllib.parse.urlsplit(stored.signed_url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    forged_sig = f"{parts.path}?expires={query['expires']}&sig={'0' * 64}"
    later = f"{parts.path}?expires={int(query['expires']) + 3600}&sig={query['sig']}"
    other_file = f"/api/media/{stored.server.tenant.id}/{'1' * 32}.ogg?expires={query['expires']}&sig={query['sig']}"

    for url in (forged_sig, later, other_file, parts.path + "?expires=abc&sig=" + query["sig"]):
        response = await http.get(stored.server.base_url + url)
        assert response.status_code == 401, url
        assert response.json()["code"] == "UNAUTHORIZED"


async def test_expired_signature_refused(stored, http):
    links = MediaLinks(media_key(stored.server), 3600, stored.server.base_url)
    expired = links.sign(stored.path, ttl=-10)
    fresh = links.sign(stored.path, ttl=60)

    assert (await http.get(stored.server.base_url + expired)).status_code == 401
    assert (await http.get(stored.server.base_url + fresh)).content == stored.content


async def test_range_first_bytes(stored, http):
    response = await http.get(stored.server.base_url + stored.signed_url, headers={"Range": "bytes=0-99"})

    assert response.status_code == 206
    assert response.content == stored.content[:100]
    assert response.headers["content-range"] == f"bytes 0-99/{len(stored.content)}"
    assert response.headers["content-length"] == "100"


async def test_range_middle_slice(stored, http):
    response = await http.get(stored.server.base_url + stored.signed_url, headers={"Range": "bytes=1000-1999"})

    assert response.status_code == 206
    assert response.content == stored.content[1000:2000]
    assert response.headers["content-range"] == f"bytes 1000-1999/{len(stored.content)}"


async def test_range_suffix_and_open_end(stored, http):
    size = len(stored.content)
    suffix = await http.get(stored.server.base_url + stored.signed_url, headers={"Range": "bytes=-16"})
    open_end = await http.get(stored.server.base_url + stored.signed_url, headers={"Range": f"bytes={size - 5}-"})

    assert suffix.status_code == 206
    assert suffix.content == stored.content[-16:]
    assert open_end.status_code == 206
    assert open_end.content == stored.content[-5:]
    assert open_end.headers["content-range"] == f"bytes {size - 5}-{size - 1}/{size}"


@pytest.mark.parametrize("header", ["bytes=abc", "bytes=999999999-", "bytes=0-1,5-9", "items=0-9", "bytes=9-2"])
async def test_invalid_range_416(stored, http, header):
    response = await http.get(stored.server.base_url + stored.signed_url, headers={"Range": header})

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(stored.content)}"
    assert response.json() == {"error": "O intervalo de bytes pedido não existe neste arquivo.", "code": "RANGE_NOT_SATISFIABLE"}


async def test_if_range_with_old_etag_sends_whole_file(stored, http):
    response = await http.get(
        stored.server.base_url + stored.signed_url, headers={"Range": "bytes=0-9", "If-Range": '"old"'}
    )
    assert response.status_code == 200
    assert response.content == stored.content


async def test_if_none_match_304(stored, http):
    first = await http.get(stored.server.base_url + stored.signed_url)
    again = await http.get(stored.server.base_url + stored.signed_url, headers={"If-None-Match": first.headers["etag"]})
    changed = await http.get(stored.server.base_url + stored.signed_url, headers={"If-None-Match": '"something-else"'})

    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == "private, max-age=3600"
    assert changed.status_code == 200


async def raw_get(server: ServerProcess, target: str, token: str) -> tuple[int, bytes]:
    """Send ``GET target`` exactly as written, without a client normalizing the path; return status and body."""
    host, port = server.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    writer.write(request.encode("latin-1"))
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


TRAVERSALS = [
    "/api/media/{tenant}/..",
    "/api/media/{tenant}/../../hotelbot.db",
    "/api/media/{tenant}/..%2F..%2Fhotelbot.db",
    "/api/media/{tenant}/%2E%2E%2Fsecrets.json",
    "/api/media/{tenant}/%2e%2e",
    "/api/media/{tenant}/..%5C..%5Csecrets.json",
    "/api/media/{tenant}//etc/passwd",
    "/api/media/{tenant}/%2Fetc%2Fpasswd",
    "/api/media/{tenant}/{file}%00.txt",
    "/api/media/{tenant}/{file}%2F..",
    "/api/media/..%2F{tenant}/{file}",
    "/api/media/{tenant}%2F..%2F{tenant}/{file}",
    "/api/media/../secrets.json",
]


@pytest.mark.parametrize("template", TRAVERSALS)
async def test_path_traversal_not_found(stored, template):
    token = await asyncio.to_thread(stored.token)
    target = template.format(tenant=stored.server.tenant.id, file=stored.file_id)

    status, body = await raw_get(stored.server, target, token)

    assert status in (400, 404), target
    assert stored.content[:64] not in body
    assert b"jwtSecret" not in body
    assert b"SQLite format" not in body


async def test_head_request_has_no_body(stored, http):
    response = await http.head(stored.server.base_url + stored.signed_url)
    assert response.status_code == 200
    assert response.content == b""


@pytest.fixture
def server_settings(request) -> dict:
    return getattr(request, "param", {})


@pytest.mark.parametrize("server_settings", [{"MEDIA_RATE_LIMIT": "3"}], indirect=True)
async def test_rate_limited_per_user(server, http):
    path = f"{server.base_url}/api/media/{server.tenant.id}/{'0' * 32}.jpg"
    first_user = bearer(await server.token(http, "attendant"))
    second_user = bearer(await server.token(http, "supervisor"))

    statuses = [(await http.get(path, headers=first_user)).status_code for _ in range(3)]
    limited = await http.get(path, headers=first_user)
    other_user = await http.get(path, headers=second_user)
    anonymous = [(await http.get(path + "?expires=1&sig=00")).status_code for _ in range(4)]

    assert statuses == [404, 404, 404]
    assert limited.status_code == 429
    assert limited.json()["code"] == "RATE_LIMITED"
    assert int(limited.headers["retry-after"]) > 0
    assert other_user.status_code == 404
    assert anonymous == [401, 401, 401, 429]
