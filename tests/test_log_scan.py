"""Log scan: a full run at INFO, then every secret and personal value searched for in the logs.

The run logs in and fails a login, verifies the webhook, and takes a guest's
text and voice note, which are forwarded to N8N. N8N then sends and escalates
with its API key, an attendant replies, and a socket connects with ``?token=``.
Last, the command line creates a tenant and rotates its secrets while the
server runs.
The server's log and the commands' log output (stderr) must not contain any of
those values; the commands' stdout is their intended output and is not scanned.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time

import pytest

from tests.support.attendants import Api
from tests.support.db import eventually, rows
from tests.support.media import media_webhook, ogg_opus
from tests.support.server import PASSWORD
from tests.support.sockets import EventClient
from tests.support.webhooks import new_wamid, text_message

GUEST_PHONE = "5511987650123"
GUEST_TEXT = "Meu cartão final 4321 e o código da reserva QX7781"
N8N_TEXT = "Sua reserva QX7781 está confirmada para sexta"
ATTENDANT_TEXT = "Deixei a chave do quarto 208 na recepção"
WRONG_PASSWORD = "senha-errada-que-vaza"
CLI_SECRETS = {
    "META_TOKEN": "EAAG-token-da-serra-9f3a",
    "META_APP_SECRET": "segredo-app-serra-77c1",
    "META_VERIFY": "verificacao-serra-5d20",
}
JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]{8,}")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run ``hotelbot ARGS`` with its log at INFO on stderr."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("HOTELBOT_")}
    environment.update({"HOTELBOT_BCRYPT_ROUNDS": "4", "HOTELBOT_LOG_LEVEL": "INFO", **CLI_SECRETS})
    return subprocess.run([sys.executable, "-m", "hotelbot", *args], env=environment, capture_output=True,
                          text=True, timeout=60)


async def _guest_scenario(server, graph, n8n, http) -> str:
    """Post the guest's text and voice note; return the conversation id once both are stored and forwarded."""
    tenant = server.tenant
    verified = await http.get(server.base_url + "/webhooks/whatsapp", params={
        "hub.mode": "subscribe", "hub.verify_token": tenant.verify_token, "hub.challenge": "1158201444"})
    assert verified.status_code == 200

    wamid = new_wamid()
    payload = text_message(GUEST_TEXT, wa_id=GUEST_PHONE, name="Joana Sigilo", wamid=wamid,
                           phone_number_id=tenant.phone_number_id, timestamp=str(int(time.time())))
    assert (await server.post_webhook(http, payload)).status_code == 200
    found = await eventually(lambda: rows(server, "SELECT conversation_id FROM messages WHERE whatsapp_msg_id = ?",
                                          (wamid,)))

    content = ogg_opus(frames=20)
    graph.add_media("scan-9001", content, "audio/ogg; codecs=opus")
    voice = media_webhook("inbound-audio-voice.json", "scan-9001", content, new_wamid())
    voice["entry"][0]["changes"][0]["value"]["contacts"] = [{"profile": {"name": "Joana Sigilo"}, "wa_id": GUEST_PHONE}]
    voice["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = GUEST_PHONE
    assert (await server.post_webhook(http, voice)).status_code == 200
    await eventually(lambda: rows(server, "SELECT id FROM media_files"))
    await asyncio.to_thread(n8n.wait_for, 2)
    return found[0]["conversation_id"]


async def _staff_scenario(server, http, sockets, conversation_id: str) -> list[str]:
    """Send as N8N and as an attendant, refresh, fail a login; return the tokens handed out."""
    headers = {"X-API-Key": server.tenant.api_key}
    sent = await http.post(server.base_url + "/n8n/send-text", headers=headers,
                           json={"phone": GUEST_PHONE, "body": N8N_TEXT})
    assert sent.status_code == 200, sent.text
    escalated = await http.post(server.base_url + "/n8n/escalate", headers=headers, json={
        "phone": GUEST_PHONE, "reason": "Hóspede informou dados do cartão", "priority": "HIGH"})
    assert escalated.status_code == 200, escalated.text

    login = await server.login(http, server.tenant.users["admin"])
    api = Api(server, http, server.tenant, {"admin": login["accessToken"]})
    replied = await api.call("POST", "/messages/send-text", json={"conversationId": conversation_id,
                                                                   "content": ATTENDANT_TEXT})
    assert replied.status_code == 201, replied.text
    refreshed = await http.post(server.base_url + "/auth/refresh", json={"refreshToken": login["refreshToken"]})
    assert refreshed.status_code == 200

    failed = await http.post(server.base_url + "/auth/login",
                             json={"email": server.tenant.users["attendant"], "password": WRONG_PASSWORD})
    assert failed.status_code == 401
    client = EventClient()
    sockets.append(client)
    await client.connect(server.base_url, refreshed.json()["accessToken"], query_token=True)
    return [login["accessToken"], login["refreshToken"], refreshed.json()["accessToken"],
            refreshed.json()["refreshToken"]]


def _cli_scenario(server) -> tuple[list[str], str]:
    """Create and rotate a tenant from the command line; return the secrets it printed and its stderr."""
    created = run_cli(
        "tenant", "create", "--data-dir", str(server.data_dir), "--name", "Hotel Serra",
        "--phone-number-id", "106500000000077", "--access-token-env", "META_TOKEN",
        "--app-secret-env", "META_APP_SECRET", "--verify-token-env", "META_VERIFY",
        "--n8n-url", "http://127.0.0.1:9/webhook/hotelbot", "--hotel-unit", "Serra", "--json",
    )
    assert created.returncode == 0, created.stderr
    tenant = json.loads(created.stdout)
    rotated = run_cli("tenant", "rotate-key", "--data-dir", str(server.data_dir), "--tenant", tenant["tenantId"],
                      "--json")
    assert rotated.returncode == 0, rotated.stderr
    forward = run_cli("tenant", "rotate-forward-secret", "--data-dir", str(server.data_dir),
                      "--tenant", tenant["tenantId"], "--json")
    assert forward.returncode == 0, forward.stderr

    printed = [value for output in (created, rotated, forward) for value in json.loads(output.stdout).values()
               if isinstance(value, str) and len(value) >= 20 and value != tenant["tenantId"]]
    return printed, created.stderr + rotated.stderr + forward.stderr


def _secrets(server, tokens: list[str], printed: list[str]) -> dict[str, str]:
    """Return every value that must stay out of the logs, labelled for the failure message."""
    values = {"password": PASSWORD, "wrong password": WRONG_PASSWORD, "guest phone": GUEST_PHONE,
              "guest text": GUEST_TEXT, "N8N text": N8N_TEXT, "attendant text": ATTENDANT_TEXT}
    for index, tenant in enumerate(server.tenants):
        values.update({
            f"access token {index}": f"access-token-{index}", f"app secret {index}": tenant.app_secret,
            f"verify token {index}": tenant.verify_token, f"API key {index}": tenant.api_key,
            f"forward secret {index}": tenant.forward_secret,
        })
    values.update({f"CLI {name}": value for name, value in CLI_SECRETS.items()})
    values.update({f"JWT {index}": token for index, token in enumerate(tokens)})
    values.update({f"printed secret {index}": value for index, value in enumerate(printed)})
    return values


@pytest.fixture
def server_settings() -> dict:
    return {"log_level": "INFO"}


async def test_full_run_logs_no_secret(server, graph, n8n, http, sockets):
    conversation_id = await _guest_scenario(server, graph, n8n, http)
    tokens = await _staff_scenario(server, http, sockets, conversation_id)
    printed, cli_log = await asyncio.to_thread(_cli_scenario, server)
    for client in sockets:
        await client.close()
    server.stop()
    log = server.log() + cli_log

    # The scan only proves something if the run really logged its steps at INFO.
    assert "forwarded to N8N" in log
    assert "Login: user" in log
    assert "Media of message" in log
    assert "created (phone number id 106500000000077)" in cli_log
    for label, value in _secrets(server, tokens, printed).items():
        assert value not in log, f"the log contains the {label}"
    assert JWT_PATTERN.findall(log) == []
    assert GUEST_PHONE[-9:] not in log
