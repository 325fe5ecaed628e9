"""The N8N workflow in packaging/n8n: its wiring, its signature check and the calls it makes.

N8N itself is not started. The JavaScript of the workflow's Code node and
expressions runs in Node.js (the engine N8N runs them in), and the Crypto
node's HMAC is computed here the way that node computes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.support.db import eventually, rows
from tests.support.fakes import load_fixture

WORKFLOW = Path(__file__).resolve().parents[1] / "packaging" / "n8n" / "hotelbot-workflow.json"

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js runs the workflow's JavaScript")

# Runs the Code node's JavaScript on the items given on stdin, as N8N's "run once for all items" mode does.
RUN_CODE_NODE = """
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const $input = { all: () => input.items };
const output = new Function('$input', input.code)($input);
process.stdout.write(JSON.stringify(output));
"""

# Evaluates N8N expressions where $('Verify signature').item.json is the verified forward.
EVALUATE_EXPRESSIONS = """
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const $ = (name) => ({ item: { json: input.nodes[name] } });
const $json = input.json;
process.stdout.write(JSON.stringify(input.expressions.map((expression) => eval(expression))));
"""


def load_workflow() -> dict:
    return json.loads(WORKFLOW.read_text(encoding="utf-8"))


def nodes_by_name(workflow: dict) -> dict[str, dict]:
    return {node["name"]: node for node in workflow["nodes"]}


def run_node(script: str, payload: dict) -> object:
    result = subprocess.run(["node", "-e", script], input=json.dumps(payload), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def expression(text: str) -> str:
    """Return the JavaScript inside an N8N ``={{ ... }}`` expression."""
    assert text.startswith("={{")
    assert text.endswith("}}")
    return text[3:-2]


def verify(items: list[dict]) -> list[dict]:
    code = nodes_by_name(load_workflow())["Verify signature"]["parameters"]["jsCode"]
    return [item["json"] for item in run_node(RUN_CODE_NODE, {"code": code, "items": items})]


def crypto_node_hmac(raw: bytes, secret: str) -> str:
    """Return what the Crypto node (Hmac, SHA256, hex, binary data) computes over the raw body."""
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def webhook_item(raw: bytes, signature: str | None, secret: str) -> dict:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-hotelbot-signature"] = signature
    return {"json": {"headers": headers, "body": json.loads(raw), "computedSignature": crypto_node_hmac(raw, secret)}}


def test_workflow_wiring():
    workflow = load_workflow()
    nodes = nodes_by_name(workflow)

    assert len(nodes) == len(workflow["nodes"])
    for source, outputs in workflow["connections"].items():
        assert source in nodes
        for branch in outputs["main"]:
            for target in branch:
                assert target["node"] in nodes
    assert nodes["Receive hotelbot forward"]["parameters"]["options"]["rawBody"] is True
    assert nodes["Receive hotelbot forward"]["parameters"]["responseMode"] == "responseNode"
    assert nodes["Compute signature"]["parameters"]["action"] == "hmac"
    assert nodes["Compute signature"]["parameters"]["type"] == "SHA256"
    assert nodes["Compute signature"]["parameters"]["binaryData"] is True
    assert nodes["Compute signature"]["parameters"]["encoding"] == "hex"


def test_workflow_calls_use_api_key_credential():
    workflow = load_workflow()
    calls = [node for node in workflow["nodes"] if node["type"] == "n8n-nodes-base.httpRequest"]

    assert sorted(node["parameters"]["url"] for node in calls) == [
        "={{ $env.HOTELBOT_URL }}/n8n/check-ia-lock",
        "={{ $env.HOTELBOT_URL }}/n8n/escalate",
        "={{ $env.HOTELBOT_URL }}/n8n/send-buttons",
    ]
    for node in calls:
        assert node["parameters"]["genericAuthType"] == "httpHeaderAuth"
        assert node["credentials"] == {"httpHeaderAuth": {"id": "hotelbotApiKey", "name": "hotelbot API key"}}
    assert "hbk_" not in WORKFLOW.read_text(encoding="utf-8")


@needs_node
def test_signature_check_accepts_only_genuine():
    secret = "forward-secret-of-the-tenant"
    raw = json.dumps({"conversationId": "c1", "message": "Olá, tudo bem? 😊"}, ensure_ascii=False).encode()
    genuine = "sha256=" + crypto_node_hmac(raw, secret)
    forged = "sha256=" + crypto_node_hmac(raw, "another-secret")

    results = verify([
        webhook_item(raw, genuine, secret),
        webhook_item(raw, forged, secret),
        webhook_item(raw, None, secret),
        webhook_item(raw, genuine[:-1], secret),
    ])

    assert [item["signatureValid"] for item in results] == [True, False, False, False]
    assert results[0]["conversationId"] == "c1"
    assert results[0]["message"] == "Olá, tudo bem? 😊"


def inbound_text(text: str) -> dict:
    payload = load_fixture("inbound-text.json")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = f"wamid.TEST{uuid.uuid4().hex}"
    message["timestamp"] = str(int(time.time()))
    message["text"]["body"] = text
    return payload


@needs_node
async def test_workflow_answers_real_forward(server, http, n8n, graph):
    response = await server.post_webhook(http, inbound_text("Bom dia! Vocês têm vaga?"))
    assert response.status_code == 200
    forward = (await asyncio.to_thread(n8n.wait_for, 1))[0]
    nodes = nodes_by_name(load_workflow())

    verified = verify([webhook_item(forward.body, forward.headers["x-hotelbot-signature"], server.tenant.forward_secret)])[0]
    answer = nodes["Answer with buttons"]["parameters"]
    asked_for_person, buttons_body, send_key = run_node(EVALUATE_EXPRESSIONS, {
        "nodes": {"Verify signature": verified},
        "json": {},
        "expressions": [
            expression(nodes["Guest asked for a person?"]["parameters"]["conditions"]["conditions"][0]["leftValue"]),
            expression(answer["jsonBody"]),
            expression(answer["headerParameters"]["parameters"][0]["value"]),
        ],
    })
    headers = {"X-API-Key": server.tenant.api_key, "Content-Type": "application/json",
               answer["headerParameters"]["parameters"][0]["name"]: send_key}
    sent = await http.post(server.base_url + "/n8n/send-buttons", content=buttons_body.encode(), headers=headers)
    # N8N's "Retry On Fail" after a lost response sends the same request again.
    retried = await http.post(server.base_url + "/n8n/send-buttons", content=buttons_body.encode(), headers=headers)

    assert verified["signatureValid"] is True
    assert asked_for_person is False
    assert answer["sendHeaders"] is True
    assert send_key == forward.json()["whatsappMsgId"] + "-welcome"
    assert sent.status_code == 200
    assert retried.json() == sent.json()
    assert len(graph.sends()) == 1
    interactive = graph.sends()[0].json()["interactive"]
    assert interactive["body"] == {"text": "Olá, Ana Conceição! Como posso ajudar?"}
    assert [button["reply"]["title"] for button in interactive["action"]["buttons"]] == ["Reservas", "Dúvidas", "Falar com atendente"]


@needs_node
async def test_workflow_escalates_on_request(server, http, n8n):
    response = await server.post_webhook(http, inbound_text("Quero falar com um atendente, por favor"))
    assert response.status_code == 200
    forward = (await asyncio.to_thread(n8n.wait_for, 1))[0]
    nodes = nodes_by_name(load_workflow())
    verified = verify([webhook_item(forward.body, forward.headers["x-hotelbot-signature"], server.tenant.forward_secret)])[0]
    lock_before = await http.get(
        server.base_url + "/n8n/check-ia-lock", params={"conversationId": verified["conversationId"]},
        headers={"X-API-Key": server.tenant.api_key},
    )

    may_answer, asked_for_person, escalate_body = run_node(EVALUATE_EXPRESSIONS, {
        "nodes": {"Verify signature": verified},
        "json": lock_before.json(),
        "expressions": [
            expression(nodes["AI may answer?"]["parameters"]["conditions"]["conditions"][0]["leftValue"]),
            expression(nodes["Guest asked for a person?"]["parameters"]["conditions"]["conditions"][0]["leftValue"]),
            expression(nodes["Escalate to people"]["parameters"]["jsonBody"]),
        ],
    })
    escalated = await http.post(
        server.base_url + "/n8n/escalate", content=escalate_body.encode(),
        headers={"X-API-Key": server.tenant.api_key, "Content-Type": "application/json"},
    )

    assert may_answer is True
    assert asked_for_person is True
    assert escalated.status_code == 200
    assert escalated.json()["iaLocked"] is True
    escalations = await eventually(lambda: rows(server, "SELECT reason, priority, status FROM escalations"))
    assert escalations == [{"reason": "O hóspede pediu para falar com um atendente", "priority": "MEDIUM", "status": "PENDING"}]
