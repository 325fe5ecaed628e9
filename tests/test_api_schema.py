"""Schemathesis against the real server: every operation of the OpenAPI description, never a 500.

The description comes from ``hotelbot.web.openapi.build_openapi``, the same
one ``GET /openapi.json`` serves. Every generated request carries a valid
admin token and N8N API key of the first tenant, so the cases reach the route
bodies instead of stopping at authentication.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from hotelbot.settings import load_settings
from hotelbot.web.app import create_app
from hotelbot.web.openapi import build_openapi
from tests.support.fakes import FakeGraph, FakeN8N
from tests.support.server import PASSWORD, ServerProcess, launch


def _description() -> dict:
    _, app, _ = create_app(load_settings({"data_dir": tempfile.mkdtemp(prefix="hotelbot-openapi-")}, environ={}))
    return build_openapi(app)


schema = schemathesis.openapi.from_dict(_description())


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    graph, n8n = FakeGraph().start(), FakeN8N().start()
    server = launch(tmp_path_factory.mktemp("schema") / "data", graph.url, n8n.url)
    try:
        login = httpx.post(server.base_url + "/auth/login", timeout=10,
                           json={"email": server.tenant.users["admin"], "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['accessToken']}", "X-API-Key": server.tenant.api_key}
        yield server, headers
    finally:
        server.stop()
        graph.stop()
        n8n.stop()


def test_description_served(target):
    server, _ = target

    response = httpx.get(server.base_url + "/openapi.json", timeout=10)

    assert response.status_code == 200
    assert response.json()["paths"].keys() == _description()["paths"].keys()


def test_n8n_sends_describe_idempotency_key():
    paths = _description()["paths"]

    for path in ("/n8n/send-text", "/n8n/send-buttons", "/n8n/send-list", "/n8n/send-carousel"):
        headers = [parameter for parameter in paths[path]["post"]["parameters"] if parameter["in"] == "header"]
        assert headers == [{"name": "Idempotency-Key", "in": "header", "required": False,
                            "schema": {"type": "string", "maxLength": 100}}], path
    assert [parameter for parameter in paths["/n8n/escalate"]["post"]["parameters"] if parameter["in"] == "header"] == []


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error(target, case):
    server, headers = target
    if case.operation.definition.raw.get("operationId") in ("auth.logout", "auth.change_password"):
        # Both would end the shared admin session that every other case relies on.
        headers = {**headers, "Authorization": "Bearer not-a-token"}

    response = case.call(base_url=server.base_url, headers=headers)

    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
