"""The shipped Caddyfile: validated, adapted, and run by real Caddy in front of the real server.

The running tests use the shipped file with two lines added: ``tls internal``
in the site, so Caddy issues the localhost certificate from its own CA, and
``default_bind 127.0.0.1 [::1]``, so it listens on loopback only. Ports, the
admin API and the access log come from the environment variables the shipped
file reads. Caddy keeps its certificates under a temporary XDG_DATA_HOME.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import socketio

from tests.support.db import eventually, rows
from tests.support.fakes import load_fixture
from tests.support.server import ServerProcess, free_port
from tests.support.sockets import EventClient

ROOT = Path(__file__).resolve().parents[1]
CADDYFILE = ROOT / "Caddyfile"
CADDY = shutil.which("caddy")
WEBHOOK_LIMIT = 3 * 1024 * 1024
# Caddy 2.6's private_ranges, loopback included.
PRIVATE_RANGES = ["192.168.0.0/16", "172.16.0.0/12", "10.0.0.0/8", "127.0.0.1/8", "fd00::/8", "::1"]

pytestmark = pytest.mark.skipif(CADDY is None, reason="caddy is not installed (apt-get install caddy)")


def caddy_env(home: Path, **variables: str) -> dict[str, str]:
    """Return an environment in which Caddy keeps its state under ``home`` and reads ``variables``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOTELBOT_")}
    env.update({
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "HOTELBOT_CADDY_ADMIN": "off",
        "HOTELBOT_ACCESS_LOG": str(home / "access.log"),
    })
    env.update(variables)
    return env


def run_caddy(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    assert CADDY is not None
    return subprocess.run([CADDY, *args], env=env, capture_output=True, text=True, timeout=60)


def adapted(tmp_path: Path, **variables: str) -> dict[str, Any]:
    """Return the shipped Caddyfile adapted to JSON with ``variables`` in Caddy's environment."""
    result = run_caddy("adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile",
                       env=caddy_env(tmp_path, **variables))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def site_routes(config: dict[str, Any], host: str) -> list[dict[str, Any]]:
    """Return the routes inside the site block of ``host``."""
    for route in config["apps"]["http"]["servers"]["srv0"]["routes"]:
        if {"host": [host]} in route.get("match", []):
            return route["handle"][0]["routes"]
    raise AssertionError(f"no site for {host}")


def route_for_path(routes: list[dict[str, Any]], path: str) -> dict[str, Any]:
    matching = [route for route in routes if any(path in match.get("path", []) for match in route.get("match", []))]
    assert len(matching) == 1, matching
    return matching[0]


def handlers(route: dict[str, Any]) -> list[dict[str, Any]]:
    """Return a route's handlers, with those of a subroute flattened in order."""
    found = []
    for handler in route["handle"]:
        if handler["handler"] == "subroute":
            for inner in handler["routes"]:
                found.extend(handlers(inner))
        else:
            found.append(handler)
    return found


def test_shipped_caddyfile_validates(tmp_path):
    env = caddy_env(tmp_path, HOTELBOT_DOMAIN="hotel.example.com", HOTELBOT_UPSTREAM="127.0.0.1:8000")

    result = run_caddy("validate", "--config", str(CADDYFILE), "--adapter", "caddyfile", env=env)

    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr


def test_shipped_caddyfile_formatted(tmp_path):
    result = run_caddy("fmt", str(CADDYFILE), env=caddy_env(tmp_path))

    assert result.returncode == 0, result.stderr
    assert result.stdout == CADDYFILE.read_text()


def test_n8n_rule_lan_only(tmp_path):
    routes = site_routes(adapted(tmp_path, HOTELBOT_DOMAIN="hotel.example.com"), "hotel.example.com")

    rule = route_for_path(routes, "/n8n/*")

    assert rule["match"] == [{"path": ["/n8n", "/n8n/*", "/metrics", "/metrics/*"], "not": [{"remote_ip": {"ranges": PRIVATE_RANGES}}]}]
    assert [handler["handler"] for handler in handlers(rule)] == ["headers", "static_response"]
    assert handlers(rule)[1]["status_code"] == 403
    assert json.loads(handlers(rule)[1]["body"]) == {"error": "Acesso negado.", "code": "FORBIDDEN"}
    # The rule comes before the proxy, so a request it matches never reaches hotelbot.
    assert routes.index(rule) < routes.index(route_for_proxy(routes))


def route_for_proxy(routes: list[dict[str, Any]]) -> dict[str, Any]:
    matching = [route for route in routes if any(h["handler"] == "reverse_proxy" for h in handlers(route))]
    assert len(matching) == 1, matching
    return matching[0]


def test_webhook_body_limit(tmp_path):
    routes = site_routes(adapted(tmp_path, HOTELBOT_DOMAIN="hotel.example.com"), "hotel.example.com")

    rules = [route for route in routes if any("/webhooks/whatsapp" in match.get("path", []) for match in route.get("match", []))]

    assert len(rules) == 2
    limit, declared = rules
    assert limit["match"] == [{"path": ["/webhooks/whatsapp"]}]
    assert handlers(limit) == [{"handler": "request_body", "max_size": WEBHOOK_LIMIT}]
    assert declared["match"][0]["expression"].endswith(f"> {WEBHOOK_LIMIT}")
    assert handlers(declared)[1]["status_code"] == 413
    assert json.loads(handlers(declared)[1]["body"])["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(("variables", "expected"), [
    ({}, "127.0.0.1:8000"),
    ({"HOTELBOT_UPSTREAM": "10.1.2.3:9000"}, "10.1.2.3:9000"),
])
def test_upstream_from_environment(tmp_path, variables, expected):
    config = adapted(tmp_path, HOTELBOT_DOMAIN="hotel.example.com", **variables)

    proxy = route_for_proxy(site_routes(config, "hotel.example.com"))

    assert handlers(proxy) == [{"handler": "reverse_proxy", "upstreams": [{"dial": expected}]}]


def test_logs_drop_queries_and_secrets(tmp_path):
    logs = adapted(tmp_path, HOTELBOT_DOMAIN="hotel.example.com")["logging"]["logs"]

    for name in ("default", "log0"):
        fields = logs[name]["encoder"]["fields"]
        assert fields["request>uri"] == {"filter": "regexp", "regexp": "\\?.*$"}
        for header in ("Authorization", "Cookie", "X-Api-Key", "Referer"):
            assert fields[f"request>headers>{header}"] == {"filter": "delete"}
    assert logs["log0"]["include"] == ["http.log.access.log0"]


# -- real Caddy in front of the real server --------------------------------


@dataclasses.dataclass
class RunningCaddy:
    process: subprocess.Popen
    base_url: str
    home: Path
    access_log: Path
    log_path: Path

    def ssl_context(self) -> ssl.SSLContext:
        """Return a TLS context that trusts only Caddy's local CA."""
        return ssl.create_default_context(cafile=self.home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def write_test_caddyfile(home: Path) -> Path:
    """Write the shipped Caddyfile with ``tls internal`` and a loopback-only bind; return its path."""
    text = CADDYFILE.read_text()
    assert text.count("\n{\n") == 1
    assert text.count("{$HOTELBOT_DOMAIN} {\n") == 1
    text = text.replace("\n{\n", "\n{\n\tdefault_bind 127.0.0.1 [::1]\n")
    text = text.replace("{$HOTELBOT_DOMAIN} {\n", "{$HOTELBOT_DOMAIN} {\n\ttls internal\n")
    path = home / "Caddyfile"
    path.write_text(text)
    return path


def start_caddy(home: Path, upstream: str, timeout: float = 30.0) -> RunningCaddy:
    https_port, http_port = free_port(), free_port()
    config = write_test_caddyfile(home)
    env = caddy_env(home, HOTELBOT_DOMAIN="localhost", HOTELBOT_UPSTREAM=upstream,
                    HOTELBOT_HTTPS_PORT=str(https_port), HOTELBOT_HTTP_PORT=str(http_port))
    log_path = home / "caddy.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([CADDY, "run", "--config", str(config), "--adapter", "caddyfile"],
                                   env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT)
    caddy = RunningCaddy(process, f"https://localhost:{https_port}", home, home / "access.log", log_path)

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"caddy exited with {process.returncode}:\n{caddy.log()}")
        try:
            if httpx.get(caddy.base_url + "/healthz", verify=caddy.ssl_context(), timeout=2.0).status_code == 200:
                return caddy
        except (httpx.HTTPError, FileNotFoundError, ssl.SSLError):
            pass
        time.sleep(0.1)
    stop_caddy(caddy)
    raise AssertionError(f"caddy did not answer within {timeout} s:\n{caddy.log()}")


def stop_caddy(caddy: RunningCaddy) -> None:
    if caddy.process.poll() is not None:
        return
    caddy.process.terminate()
    try:
        caddy.process.wait(10)
    except subprocess.TimeoutExpired:
        caddy.process.kill()
        caddy.process.wait()


@pytest.fixture
def caddy(tmp_path: Path, server: ServerProcess) -> Iterator[RunningCaddy]:
    home = tmp_path / "caddy"
    home.mkdir()
    running = start_caddy(home, server.base_url.removeprefix("http://"))
    yield running
    stop_caddy(running)


@pytest.fixture
async def https(caddy: RunningCaddy) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=caddy.ssl_context(), timeout=10.0) as client:
        yield client


class SecureEventClient(EventClient):
    """An EventClient whose aiohttp session trusts Caddy's local CA."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self.session)
        self.sio.on("*", self._record)

    async def close(self) -> None:
        await super().close()
        await self.session.close()


def access_entries(caddy: RunningCaddy) -> list[dict[str, Any]]:
    if not caddy.access_log.exists():
        return []
    return [json.loads(line) for line in caddy.access_log.read_text().splitlines() if line.strip()]


async def test_webhook_over_https_reaches_socket(caddy, https, server, sockets):
    token = await server.token(https)
    client = SecureEventClient(caddy.ssl_context())
    sockets.append(client)
    # The token travels in the ?token= query, the form that must stay out of the logs.
    await client.connect(caddy.base_url, token, query_token=True)

    body = json.dumps(load_fixture("inbound-text.json")).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": server.sign(body)}
    response = await https.post(caddy.base_url + "/webhooks/whatsapp", content=body, headers=headers)
    event = await client.next("message:new", timeout=10.0)

    assert response.status_code == 200
    assert response.http_version in ("HTTP/1.1", "HTTP/2")
    assert event["message"]["type"] == "TEXT"
    assert event["conversation"]["contact"]["phone"] == "5511900000001"

    # Caddy logs a websocket when it closes.
    await client.close()
    webhook_entries = await eventually(lambda: [
        entry for entry in access_entries(caddy) if entry["request"]["uri"] == "/webhooks/whatsapp"
    ])
    socket_entries = await eventually(lambda: [
        entry for entry in access_entries(caddy) if entry["request"]["uri"] == "/socket.io/"
    ])
    assert webhook_entries[0]["status"] == 200
    assert webhook_entries[0]["request"]["method"] == "POST"
    assert socket_entries[0]["request"]["headers"]["Upgrade"] == ["websocket"]
    assert all("?" not in entry["request"]["uri"] for entry in access_entries(caddy))
    assert token not in caddy.access_log.read_text()
    assert token not in caddy.log()


async def test_n8n_from_loopback_allowed(caddy, https, server):
    headers = {"X-API-Key": server.tenant.api_key}

    response = await https.get(caddy.base_url + "/n8n/check-ia-lock", params={"phone": "5511900000009"}, headers=headers)

    assert response.status_code == 200
    assert response.json() == {"locked": False}
    entries = await eventually(lambda: [
        entry for entry in access_entries(caddy) if entry["request"]["uri"] == "/n8n/check-ia-lock"
    ])
    assert "X-Api-Key" not in entries[0]["request"]["headers"]
    assert server.tenant.api_key not in caddy.access_log.read_text()


async def test_oversized_webhook_rejected(caddy, https, server):
    body = b"{" + b" " * WEBHOOK_LIMIT + b"}"
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": server.sign(body)}

    response = await https.post(caddy.base_url + "/webhooks/whatsapp", content=body, headers=headers)

    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert rows(server, "SELECT count(*) AS n FROM inbox") == [{"n": 0}]


async def test_oversized_streamed_webhook_rejected(caddy, https, server):
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b" " * (1024 * 1024)

    response = await https.post(caddy.base_url + "/webhooks/whatsapp", content=chunks(),
                                headers={"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=00"})

    assert response.status_code == 413
    assert rows(server, "SELECT count(*) AS n FROM inbox") == [{"n": 0}]


async def test_metrics_from_loopback_allowed(caddy, https):
    response = await https.get(caddy.base_url + "/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")


async def test_verify_handshake_through_caddy(caddy, https, server):
    params = {"hub.mode": "subscribe", "hub.verify_token": server.tenant.verify_token, "hub.challenge": "1158201444"}

    response = await https.get(caddy.base_url + "/webhooks/whatsapp", params=params)

    assert response.status_code == 200
    assert response.text == "1158201444"
    await eventually(lambda: [entry for entry in access_entries(caddy) if entry["request"]["method"] == "GET"
                              and entry["request"]["uri"] == "/webhooks/whatsapp"])
    assert server.tenant.verify_token not in caddy.access_log.read_text()
