"""The webhook's HTTP edge: signatures, the verification handshake, duplicates and bad input."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from hotelbot.whatsapp.signature import sign
from tests.support.db import eventually, rows
from tests.support.fakes import FakeGraph, FakeN8N, load_fixture
from tests.support.server import ServerProcess, launch
from tests.support.sockets import EventClient
from tests.support.webhooks import new_wamid, text_message

VECTORS = load_fixture("signature-test-vector-DERIVED.json")
HANDSHAKE = load_fixture("verify-get-handshake.json")
VECTOR_WAMID = "wamid.HBgNNTUxMTkwMDAwMDAwMRUCABIYFDNBNEE2NTk5QUVFMDM4MTAxNDRGAA=="


def vector(name: str) -> dict:
    return next(case for case in VECTORS["cases"] if case["name"] == name)


@pytest.fixture(scope="module")
def vector_server(tmp_path_factory) -> Iterator[ServerProcess]:
    """One server for the module, with tenant 0 holding the test vectors' app secret and the handshake's verify token.

    Tests on it compare row counts before and after their own requests.
    """
    folder = tmp_path_factory.mktemp("vectors")
    graph, n8n = FakeGraph().start(), FakeN8N().start()
    process = launch(folder / "data", graph.url, n8n.url, start=False)
    environment = {**process.env, "VECTOR_APP_SECRET": VECTORS["app_secret"]}
    token_file = folder / "verify-token.txt"
    token_file.write_text(HANDSHAKE["request"]["query"]["hub.verify_token"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "hotelbot", "tenant", "update", "--tenant", process.tenant.id,
         "--app-secret-env", "VECTOR_APP_SECRET", "--verify-token-file", str(token_file)],
        env=environment, check=True, capture_output=True,
    )
    process.tenants[0].app_secret = VECTORS["app_secret"]
    process.start()
    yield process
    process.stop()
    graph.stop()
    n8n.stop()


async def post_raw(server, http, body: bytes, headers: dict[str, str]):
    return await http.post(server.base_url + "/webhooks/whatsapp", content=body, headers=headers)


def signed_headers(body: bytes, secret: str = VECTORS["app_secret"], content_type: str = "application/json") -> dict[str, str]:
    return {"Content-Type": content_type, "X-Hub-Signature-256": sign(body, secret)}


def inbox_count(server) -> int:
    return rows(server, "SELECT count(*) AS n FROM inbox")[0]["n"]


def count(server, sql: str, params: tuple = ()) -> int:
    return rows(server, sql, params)[0]["n"]


def latest_inbox_processed(server) -> bool:
    return rows(server, "SELECT processed_at IS NOT NULL AS done FROM inbox ORDER BY id DESC LIMIT 1") == [{"done": 1}]


# -- signature -------------------------------------------------------------


async def test_wire_style_vector_accepted(vector_server, http):
    case = vector("wire_style_ascii_escaped")
    body = case["raw_body"].encode()

    response = await post_raw(vector_server, http, body, {"Content-Type": "application/json", "X-Hub-Signature-256": case["x_hub_signature_256"]})

    assert response.status_code == 200
    stored = await eventually(lambda: rows(vector_server, "SELECT content FROM messages WHERE whatsapp_msg_id = ?", (VECTOR_WAMID,)))
    assert stored[0]["content"] == "Olá! Vocês têm quarto disponível para 2 pessoas no próximo fim de semana? Café da manhã incluso? 😊"


async def test_reserialized_body_needs_own_signature(vector_server, http):
    wire = vector("wire_style_ascii_escaped")
    reserialized = vector("same_json_reserialized_utf8")
    body = reserialized["raw_body"].encode()
    before = inbox_count(vector_server)

    with_wire_signature = await post_raw(vector_server, http, body, {"Content-Type": "application/json", "X-Hub-Signature-256": wire["x_hub_signature_256"]})
    assert with_wire_signature.status_code == 401
    assert inbox_count(vector_server) == before

    with_own_signature = await post_raw(vector_server, http, body, {"Content-Type": "application/json", "X-Hub-Signature-256": reserialized["x_hub_signature_256"]})
    assert with_own_signature.status_code == 200
    assert inbox_count(vector_server) == before + 1


async def test_tampered_body_rejected(vector_server, http):
    case = vector("tampered_body")
    before = inbox_count(vector_server)

    response = await post_raw(vector_server, http, case["raw_body"].encode(), {"Content-Type": "application/json", "X-Hub-Signature-256": case["x_hub_signature_256"]})

    assert response.status_code == 401
    assert response.json() == {"error": "Assinatura inválida.", "code": "UNAUTHORIZED"}
    assert inbox_count(vector_server) == before


@pytest.mark.parametrize("header", [None, "", "sha256=", "sha1=abc", "c7e9640a914568bbe739555384914f37c724c6f6005255554adfdf2c6f3bc089", "sha256=zz"])
async def test_missing_or_malformed_signature_rejected(vector_server, http, header):
    body = vector("wire_style_ascii_escaped")["raw_body"].encode()
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["X-Hub-Signature-256"] = header
    before = inbox_count(vector_server)

    response = await post_raw(vector_server, http, body, headers)

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"
    assert inbox_count(vector_server) == before


async def test_unknown_secret_rejected(vector_server, http):
    body = json.dumps(text_message()).encode()
    before = inbox_count(vector_server)

    response = await post_raw(vector_server, http, body, signed_headers(body, secret="not-the-secret"))

    assert response.status_code == 401
    assert inbox_count(vector_server) == before
    assert "Webhook with a missing or invalid signature" in vector_server.log()


async def test_other_tenant_secret_accepted(vector_server, http):
    wamid = new_wamid()
    payload = text_message("Para a outra marca", wamid=wamid, phone_number_id=vector_server.tenants[1].phone_number_id)

    response = await vector_server.post_webhook(http, payload, tenant=vector_server.tenants[1])

    assert response.status_code == 200
    stored = await eventually(lambda: rows(vector_server, "SELECT tenant_id FROM messages WHERE whatsapp_msg_id = ?", (wamid,)))
    assert stored == [{"tenant_id": vector_server.tenants[1].id}]


# -- verification handshake -----------------------------------------------


async def test_handshake_with_right_token(vector_server, http):
    query = HANDSHAKE["request"]["query"]

    response = await http.get(vector_server.base_url + "/webhooks/whatsapp", params=query)

    assert response.status_code == HANDSHAKE["expected_response_valid_token"]["status"]
    assert response.text == HANDSHAKE["expected_response_valid_token"]["body"]
    assert response.headers["content-type"].startswith("text/plain")


async def test_handshake_with_other_tenant_token(vector_server, http):
    query = {**HANDSHAKE["request"]["query"], "hub.verify_token": vector_server.tenants[1].verify_token}

    response = await http.get(vector_server.base_url + "/webhooks/whatsapp", params=query)

    assert response.status_code == 200
    assert response.text == "1158201444"


@pytest.mark.parametrize("change", [
    {"hub.verify_token": "wrong-token"},
    {"hub.verify_token": ""},
    {"hub.mode": "unsubscribe"},
    {"hub.challenge": ""},
])
async def test_handshake_refused(vector_server, http, change):
    query = {**HANDSHAKE["request"]["query"], **change}

    response = await http.get(vector_server.base_url + "/webhooks/whatsapp", params=query)

    assert response.status_code == 403
    assert response.json() == {"error": "Falha na verificação.", "code": "FORBIDDEN"}
    assert "1158201444" not in response.text


# -- duplicates (each test on its own server, counting every row) ------------


async def test_ten_concurrent_duplicates_store_one(server, http, sockets, n8n):
    client = EventClient()
    sockets.append(client)
    await client.connect(server.base_url, await server.token(http))
    payload = text_message("Chego às 15h", wamid=new_wamid())

    responses = await asyncio.gather(*(server.post_webhook(http, payload) for _ in range(10)))
    assert [response.status_code for response in responses] == [200] * 10
    await client.next("message:new")
    await eventually(lambda: rows(server, "SELECT 1 FROM messages WHERE forward_state = 'DONE'"))
    await eventually(lambda: count(server, "SELECT count(*) AS n FROM inbox WHERE processed_at IS NULL") == 0)

    later = await server.post_webhook(http, payload)
    assert later.status_code == 200
    await eventually(lambda: count(server, "SELECT count(*) AS n FROM inbox WHERE processed_at IS NULL") == 0)
    await client.expect_none("message:new", within=0.5)

    assert count(server, "SELECT count(*) AS n FROM inbox") == 11
    assert count(server, "SELECT count(*) AS n FROM messages") == 1
    assert rows(server, "SELECT unread_count FROM conversations") == [{"unread_count": 1}]
    assert len(n8n.requests) == 1
    assert "Duplicate message" in server.log()


async def test_simultaneous_messages_one_conversation(server, http):
    payloads = [text_message(f"Mensagem {index}", wa_id="5511900000041") for index in range(5)]

    responses = await asyncio.gather(*(server.post_webhook(http, payload) for payload in payloads))
    assert [response.status_code for response in responses] == [200] * 5

    await eventually(lambda: count(server, "SELECT count(*) AS n FROM messages") == 5)
    assert count(server, "SELECT count(*) AS n FROM contacts") == 1
    assert rows(server, "SELECT count(*) AS n, max(unread_count) AS unread FROM conversations") == [{"n": 1, "unread": 5}]


# -- bad input ----------------------------------------------------------------


async def test_malformed_json_rejected(vector_server, http):
    body = b'{"object": "whatsapp_business_account", "entry": [}'
    before = inbox_count(vector_server)

    response = await post_raw(vector_server, http, body, signed_headers(body))

    assert response.status_code == 400
    assert response.json() == {"error": "Corpo JSON malformado.", "code": "VALIDATION_ERROR"}
    assert inbox_count(vector_server) == before


async def test_invalid_utf8_rejected(vector_server, http):
    body = b'{"entry": ["\xff\xfe"]}'
    before = inbox_count(vector_server)

    response = await post_raw(vector_server, http, body, signed_headers(body))

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert inbox_count(vector_server) == before


async def test_deeply_nested_json_rejected(vector_server, http):
    body = b'{"entry": ' + b"[" * 100000 + b"]" * 100000 + b"}"
    before = inbox_count(vector_server)

    response = await post_raw(vector_server, http, body, signed_headers(body))

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert inbox_count(vector_server) == before


async def test_wrong_content_type_rejected(vector_server, http):
    body = json.dumps(text_message()).encode()
    before = inbox_count(vector_server)

    response = await post_raw(vector_server, http, body, signed_headers(body, content_type="text/plain"))

    assert response.status_code == 400
    assert response.json() == {
        "error": "O Content-Type deve ser application/json.",
        "code": "VALIDATION_ERROR",
        "details": [{"field": "Content-Type", "message": "O Content-Type deve ser application/json."}],
    }
    assert inbox_count(vector_server) == before


async def test_empty_body_rejected(vector_server, http):
    before = inbox_count(vector_server)

    unsigned = await post_raw(vector_server, http, b"", {"Content-Type": "application/json"})
    signed = await post_raw(vector_server, http, b"", signed_headers(b""))

    assert unsigned.status_code == 401
    assert signed.status_code == 400
    assert signed.json() == {"error": "Corpo JSON malformado.", "code": "VALIDATION_ERROR"}
    assert inbox_count(vector_server) == before


async def test_five_megabyte_body_rejected(vector_server, http):
    body = b'{"entry": ["' + b"a" * (5 * 1024 * 1024) + b'"]}'
    before = inbox_count(vector_server)

    response = await post_raw(vector_server, http, body, signed_headers(body))

    assert response.status_code == 413
    assert response.json() == {"error": "Corpo da requisição grande demais (limite de 3145728 bytes).", "code": "PAYLOAD_TOO_LARGE"}
    assert inbox_count(vector_server) == before


async def test_chunked_oversized_body_rejected(vector_server, http):
    chunk = b"a" * (256 * 1024)
    before = inbox_count(vector_server)

    async def chunks():
        yield b'{"entry": ["'
        for _ in range(16):
            yield chunk
        yield b'"]}'

    response = await http.post(
        vector_server.base_url + "/webhooks/whatsapp", content=chunks(),
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=00"},
    )

    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert inbox_count(vector_server) == before


async def test_body_near_limit_accepted(vector_server, http):
    wamid = new_wamid()
    payload = text_message("Mensagem com um corpo grande", wamid=wamid)
    payload["entry"][0]["changes"][0]["value"]["padding"] = "x" * (3 * 1024 * 1024 - 4096)
    body = json.dumps(payload).encode()
    assert 2 * 1024 * 1024 < len(body) <= 3 * 1024 * 1024

    response = await post_raw(vector_server, http, body, signed_headers(body))

    assert response.status_code == 200
    stored = await eventually(lambda: rows(vector_server, "SELECT content FROM messages WHERE whatsapp_msg_id = ?", (wamid,)))
    assert stored == [{"content": "Mensagem com um corpo grande"}]


@pytest.mark.parametrize("body", [b"[1, 2]", b"null", b"42", b'"text"', b"{}", b'{"object": "page"}', b'{"entry": "not a list"}'])
async def test_signed_unknown_shape_acknowledged(vector_server, http, body):
    before = inbox_count(vector_server)

    response = await post_raw(vector_server, http, body, signed_headers(body))

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert inbox_count(vector_server) == before
    assert "Signed webhook of unknown shape acknowledged" in vector_server.log()


@pytest.mark.parametrize("entry", [
    [1, "x", None],
    [{"changes": "none"}],
    [{"changes": [{"value": {"metadata": {}, "messages": [{"id": "wamid.X"}]}}]}],
    [{"changes": [{"value": {"metadata": {"phone_number_id": "106500000000001"}, "messages": [{}, {"id": 7}, "y"], "statuses": [{"status": "flying"}], "errors": ["z"]}}]}],
    [{"changes": [{"value": {"metadata": {"phone_number_id": "106500000000001"}, "messages": [{"id": "wamid.NOSENDER", "type": "text"}]}}]}],
])
async def test_broken_items_skipped(vector_server, http, entry):
    body = json.dumps({"object": "whatsapp_business_account", "entry": entry}).encode()
    before = {table: count(vector_server, f"SELECT count(*) AS n FROM {table}") for table in ("inbox", "messages", "contacts", "dead_letters")}

    response = await post_raw(vector_server, http, body, signed_headers(body))

    assert response.status_code == 200
    await eventually(lambda: latest_inbox_processed(vector_server))
    assert count(vector_server, "SELECT count(*) AS n FROM inbox") == before["inbox"] + 1
    assert count(vector_server, "SELECT count(*) AS n FROM messages") == before["messages"]
    assert count(vector_server, "SELECT count(*) AS n FROM contacts") == before["contacts"]
    assert count(vector_server, "SELECT count(*) AS n FROM dead_letters") == before["dead_letters"]
    assert "Traceback" not in vector_server.log()


async def test_odd_field_types_stored_as_message(vector_server, http):
    wamid = new_wamid()
    payload = text_message(wa_id="5511900000051", wamid=wamid)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update({"timestamp": "not a time", "text": {"body": ["a", "list"]}, "context": "nope"})
    payload["entry"][0]["changes"][0]["value"]["contacts"] = [{"profile": "no name", "wa_id": 5511900000051}]
    body = json.dumps(payload).encode()

    response = await post_raw(vector_server, http, body, signed_headers(body))

    assert response.status_code == 200
    stored = await eventually(lambda: rows(vector_server, "SELECT type, content, reply_to, sender FROM messages WHERE whatsapp_msg_id = ?", (wamid,)))
    assert stored == [{"type": "TEXT", "content": None, "reply_to": None, "sender": '{"type": "CONTACT", "name": null}'}]
    assert "Traceback" not in vector_server.log()
