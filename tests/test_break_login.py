"""Login tests: the credentials the demo prints, and hostile login bodies."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from hotelbot.whatsapp.signature import sign
from tests.support.server import ServerProcess, launch


@pytest.fixture
def demo_server(tmp_path, graph, n8n) -> Iterator[ServerProcess]:
    server = launch(tmp_path, graph.url, n8n.url, tenant_count=0, demo="1")
    yield server
    server.stop()


async def test_demo_login_works(demo_server, http):
    demo = json.loads((demo_server.data_dir / "demo.json").read_text())

    response = await http.post(demo_server.base_url + "/auth/login", json={"email": demo["email"], "password": demo["password"]})

    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == demo["email"]
    assert response.json()["user"]["role"] == "ADMIN"
    assert demo["email"] in demo_server.log()


async def test_demo_webhook_accepts_printed_secret(demo_server, http):
    demo = json.loads((demo_server.data_dir / "demo.json").read_text())
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()

    response = await http.post(
        demo_server.base_url + "/webhooks/whatsapp", content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, demo["appSecret"])},
    )

    assert response.status_code == 200, response.text
    assert demo["appSecret"] in demo_server.log()


@pytest.mark.parametrize("body", [
    b'{"email": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"x": ' * 5_000 + b"1" + b"}" * 5_000,
])
async def test_login_deep_nesting_is_400(server, http, body):
    response = await http.post(server.base_url + "/auth/login", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["error"] == "Corpo JSON malformado."
    assert "Unhandled error" not in server.log()


async def test_login_malformed_json_is_400(server, http):
    response = await http.post(server.base_url + "/auth/login", content=b'{"email":', headers={"Content-Type": "application/json"})

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["error"] == "Corpo JSON malformado."
