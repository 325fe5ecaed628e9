"""The console as the server delivers it: redirects, /app/ files, their headers, and the API routes it reads.

Most tests share one server, because they only read. Paths with ``..`` and
encoded characters go through ``http.client``, which sends a path exactly as
written, where httpx would resolve the dot segments before sending.
"""

from __future__ import annotations

import asyncio
import http.client
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from hotelbot.web.console import CONSOLE_DIR
from tests.support.attendants import Api
from tests.support.db import rows
from tests.support.server import ServerProcess, launch, running_server

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
    ".LICENSE": "text/plain; charset=utf-8",
}
NOT_FOUND = {"error": "Não encontrado.", "code": "NOT_FOUND"}
# Text found only in files outside the console folder, which no traversal may return.
OUTSIDE_MARKERS = ("CONTENT_SECURITY_POLICY", "[project]", "root:")

# URLs the console's files may contain, because none of them is fetched by the page:
# an XML namespace name, a map link the attendant opens in a new tab, and a link in an
# error message of the Socket.IO client. Any other URL to a host fails the test.
ALLOWED_URLS = (
    "http://www.w3.org/2000/svg",
    "https://www.openstreetmap.org/",
    "https://socket.io/docs/",
)
URL = re.compile(r"https?://([^\s\"'`)<>/?#]*)[^\s\"'`)<>]*")

# The provisioned users of each tenant as /team lists them, ordered by name: (label, name, role, unit).
TEAM = (
    ("admin", "Admin", "ADMIN", None),
    ("attendant", "Attendant", "ATTENDANT", None),
    ("attendant_campos", "Attendant Campos", "ATTENDANT", "Campos do Jordão"),
    ("attendant_ubatuba", "Attendant Ubatuba", "ATTENDANT", "Ubatuba"),
    ("supervisor", "Supervisor", "SUPERVISOR", None),
)


def console_files() -> list[str]:
    """Return every file of the console folder as a path relative to it, skipping hidden ones."""
    return sorted(
        path.relative_to(CONSOLE_DIR).as_posix()
        for path in CONSOLE_DIR.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(CONSOLE_DIR).parts)
    )


def raw_request(base_url: str, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """Send ``path`` byte for byte without resolving ``..`` and return (status, lower-case headers, body)."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("console") / "data") as (server, _, _):
        yield server


async def test_root_redirects_to_console(shared, http):
    response = await http.get(shared.base_url + "/")

    assert response.status_code == 302
    assert response.headers["location"] == "/app/"


async def test_app_without_slash_redirects(shared, http):
    response = await http.get(shared.base_url + "/app")

    assert response.status_code == 301
    assert response.headers["location"] == "/app/"


async def test_index_page_headers(shared, http):
    response = await http.get(shared.base_url + "/app/")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-cache"
    assert '<html lang="pt-BR">' in response.text
    assert response.text == (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")


async def test_index_page_in_english(tmp_path, graph, n8n, http):
    (tmp_path / "data").mkdir()
    server = launch(tmp_path / "data", graph.url, n8n.url, tenant_count=0, language="en")
    try:
        response = await http.get(server.base_url + "/app/")
    finally:
        server.stop()

    assert response.status_code == 200
    assert '<html lang="en">' in response.text
    assert 'lang="pt-BR"' not in response.text


@pytest.mark.parametrize("suffix", sorted(CONTENT_TYPES))
def test_every_suffix_is_present(suffix):
    # Each content type that test_every_file_served checks must belong to at least one real file.
    assert [name for name in console_files() if name.endswith(suffix)] != []


async def test_every_file_served(shared, http):
    files = console_files()
    assert "js/main.js" in files
    assert "vendor/socket.io.esm.min.js" in files

    for name in files:
        response = await http.get(f"{shared.base_url}/app/{name}")
        suffix = next(suffix for suffix in CONTENT_TYPES if name.endswith(suffix))

        assert response.status_code == 200, name
        assert response.headers["content-type"] == CONTENT_TYPES[suffix], name
        assert response.headers["x-content-type-options"] == "nosniff", name
        assert response.headers["cache-control"] == "no-cache", name
        assert "expires" not in response.headers, name
        assert response.headers["etag"], name
        assert response.content == (CONSOLE_DIR / name).read_bytes(), name


@pytest.mark.parametrize("name", ["js/main.js", "css/base.css", "icon.svg", "vendor/socket.io.esm.min.js"])
async def test_etag_revalidation(shared, http, name):
    first = await http.get(f"{shared.base_url}/app/{name}")

    again = await http.get(f"{shared.base_url}/app/{name}", headers={"If-None-Match": first.headers["etag"]})

    assert first.status_code == 200
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == "no-cache"
    assert "expires" not in again.headers


@pytest.mark.parametrize("path", [
    "/app/../hotelbot.toml",
    "/app/../web/app.py",
    "/app/../../pyproject.toml",
    "/app/%2e%2e/web/app.py",
    "/app/%2E%2E%2Fweb%2Fapp.py",
    "/app/js/../../web/app.py",
    "/app/js/..%2f..%2fweb%2fapp.py",
    "/app/..%5cweb%5capp.py",
    "/app/js/%00main.js",
    "/app/js/main.js%00",
    "/app/js/",
    "/app/js",
    "/app/.gitignore",
    "/app/js/.eslintrc.json",
])
async def test_traversal_not_found(shared, path):
    status, headers, body = await asyncio.to_thread(raw_request, shared.base_url, "GET", path)

    assert status == 404, path
    assert headers["content-type"] == "application/json"
    assert httpx.Response(200, content=body).json() == NOT_FOUND
    for marker in OUTSIDE_MARKERS:
        assert marker.encode() not in body


@pytest.mark.parametrize("path", ["/app//etc/passwd", "/app/%2fetc%2fpasswd"])
async def test_absolute_path_stays_inside(shared, path):
    status, headers, _ = await asyncio.to_thread(raw_request, shared.base_url, "GET", path)
    # Werkzeug merges the doubled slash into /app/etc/passwd, which is a missing console file.
    followed, _, body = await asyncio.to_thread(raw_request, shared.base_url, "GET", "/app/etc/passwd")

    assert status == 308
    assert headers["location"].endswith("/app/etc/passwd")
    assert followed == 404
    assert b"root:" not in body


async def test_hidden_files_not_served(shared, http):
    token = uuid.uuid4().hex
    hidden_file = CONSOLE_DIR / f".probe-{token}"
    hidden_dir = CONSOLE_DIR / f".probe-dir-{token}"
    try:
        hidden_file.write_text("hidden file")
        hidden_dir.mkdir()
        (hidden_dir / "inside.txt").write_text("file in a hidden folder")

        direct = await http.get(f"{shared.base_url}/app/.probe-{token}")
        nested = await http.get(f"{shared.base_url}/app/.probe-dir-{token}/inside.txt")
    finally:
        hidden_file.unlink(missing_ok=True)
        (hidden_dir / "inside.txt").unlink(missing_ok=True)
        if hidden_dir.exists():
            hidden_dir.rmdir()

    assert direct.status_code == 404
    assert direct.json() == NOT_FOUND
    assert nested.status_code == 404
    assert nested.json() == NOT_FOUND


async def test_head_requests(shared, http):
    index = await http.head(shared.base_url + "/app/")
    script = await http.head(shared.base_url + "/app/js/main.js")

    assert index.status_code == 200
    assert index.headers["content-type"] == "text/html; charset=utf-8"
    assert index.content == b""
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert int(script.headers["content-length"]) == (CONSOLE_DIR / "js" / "main.js").stat().st_size
    assert script.content == b""


@pytest.mark.parametrize("method,path", [("POST", "/app/"), ("POST", "/app/js/main.js"), ("DELETE", "/app/"),
                                         ("PUT", "/app/css/base.css"), ("POST", "/")])
async def test_writes_not_allowed(shared, http, method, path):
    response = await http.request(method, shared.base_url + path)

    assert response.status_code == 405
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "Método não permitido.", "code": "METHOD_NOT_ALLOWED"}


def test_no_external_urls():
    files = [name for name in console_files() if name.endswith((".html", ".js", ".css"))]
    assert "index.html" in files

    for name in files:
        text = (CONSOLE_DIR / name).read_text(encoding="utf-8")
        for match in URL.finditer(text):
            if not match.group(1):
                continue  # A scheme alone, such as "https://" + host built at run time from the page's address.
            assert match.group(0).startswith(ALLOWED_URLS), f"{name} contains {match.group(0)}"


def test_index_loads_only_own_assets():
    page = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)

    assert sources != []
    for source in sources:
        assert source.startswith("/app/"), source
        assert (CONSOLE_DIR / source.removeprefix("/app/")).is_file(), source
    assert "<style" not in page
    assert "style=" not in page
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []


def _expected_team(server: ServerProcess, tenant_index: int, labels: tuple[str, ...]) -> list[dict]:
    tenant = server.tenants[tenant_index]
    expected = []
    for label, name, role, unit in TEAM:
        if label not in labels:
            continue
        user_id = rows(server, "SELECT id FROM users WHERE email = ?", (tenant.users[label],))[0]["id"]
        expected.append({"id": user_id, "name": name, "role": role, "hotelUnit": unit})
    return expected


@pytest.mark.parametrize("label", ["admin", "supervisor", "attendant", "attendant_campos"])
async def test_team_for_every_role(shared, http, label):
    api = Api(shared, http, shared.tenants[1])
    everyone = tuple(member[0] for member in TEAM)

    response = await api.call("GET", "/team", label)

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {"items": _expected_team(shared, 1, everyone)}
    assert "@" not in response.text
    for email in shared.tenants[0].users.values():
        assert email not in response.text
    other_tenant_ids = {member["id"] for member in _expected_team(shared, 0, everyone)}
    assert {member["id"] for member in response.json()["items"]} & other_tenant_ids == set()


async def test_team_drops_deactivated_user(server, http):
    api = Api(server, http, server.tenant)
    ubatuba = await api.user_id("attendant_ubatuba")

    deactivated = await api.call("POST", f"/users/{ubatuba}/deactivate", "admin")
    response = await api.call("GET", "/team", "supervisor")

    assert deactivated.status_code == 200
    assert response.status_code == 200
    assert response.json() == {
        "items": _expected_team(server, 0, ("admin", "attendant", "attendant_campos", "supervisor")),
    }


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic YWRtaW46c2VuaGE="])
async def test_team_requires_login(shared, http, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = await http.get(shared.base_url + "/team", headers=headers)

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"
    assert "items" not in response.json()


@pytest.mark.parametrize("label", ["admin", "attendant_ubatuba"])
async def test_me_includes_tenant(shared, http, label):
    tenant = shared.tenant
    api = Api(shared, http, tenant)

    response = await api.call("GET", "/auth/me", label)

    assert response.status_code == 200
    assert response.json()["tenant"] == {
        "id": tenant.id,
        "name": "Hotel 0",
        "phoneNumberId": tenant.phone_number_id,
        "wabaId": "109900000000000",
        "timeZone": "America/Sao_Paulo",
        "hotelUnits": [
            {"slug": "campos-do-jordao", "name": "Campos do Jordão"},
            {"slug": "ubatuba", "name": "Ubatuba"},
        ],
    }
    assert response.json()["user"]["email"] == tenant.users[label]
    for secret in ("access-token-0", tenant.app_secret, tenant.verify_token, tenant.api_key, tenant.forward_secret):
        assert secret not in response.text
