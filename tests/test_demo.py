"""``hotelbot demo message``: a guest's message, signed for the demo tenant, reaches the console's events."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from hotelbot.cli.demo import program_name
from tests.support.db import rows
from tests.support.fakes import RecordingServer, Reply
from tests.support.server import ServerProcess, free_port, launch
from tests.support.sockets import EventClient

NO_ASSISTANT = "Este hotel não tem assistente de IA configurado (sem URL do N8N): uma pessoa responde."


@pytest.fixture
def demo_server(tmp_path, graph, n8n) -> Iterator[ServerProcess]:
    server = launch(tmp_path, graph.url, n8n.url, tenant_count=0, demo="1")
    yield server
    server.stop()


def demo_message(data_dir, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("HOTELBOT_")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "hotelbot", "demo", "message", "--data-dir", str(data_dir), *args],
                          env=environment, capture_output=True, text=True, timeout=60)


async def demo_attendant(server: ServerProcess, http, sockets: list) -> EventClient:
    demo = json.loads((server.data_dir / "demo.json").read_text())
    client = EventClient()
    sockets.append(client)
    await client.connect(server.base_url, (await server.login(http, demo["email"], demo["password"]))["accessToken"])
    return client


async def test_guest_message_reaches_console(demo_server, http, sockets):
    client = await demo_attendant(demo_server, http, sockets)

    result = await asyncio.to_thread(demo_message, demo_server.data_dir, "--text", "Olá, tem quarto para sábado?",
                                     "--url", demo_server.base_url)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Mensagem de Ana Souza (5511900000001) entregue ao webhook; ela aparece no console."
    event = await client.next("message:new")
    assert event["message"]["content"] == "Olá, tem quarto para sábado?"
    assert event["message"]["type"] == "TEXT"
    assert event["message"]["whatsappMsgId"].startswith("wamid.DEMO")
    assert event["conversation"]["contact"]["name"] == "Ana Souza"
    assert event["conversation"]["contact"]["phone"] == "5511900000001"
    escalated = await client.next("escalation:new")
    assert escalated["escalation"]["reason"] == NO_ASSISTANT
    assert rows(demo_server, "SELECT type, content FROM messages") == [
        {"type": "TEXT", "content": "Olá, tem quarto para sábado?"}
    ]


async def test_port_setting_and_other_guest(demo_server, http, sockets):
    client = await demo_attendant(demo_server, http, sockets)
    port = demo_server.base_url.rsplit(":", 1)[1]

    result = await asyncio.to_thread(demo_message, demo_server.data_dir, "--text", "Bom dia", "--name", "Carlos",
                                     "--phone", "5521988887777", env={"HOTELBOT_PORT": port})

    assert result.returncode == 0, result.stderr
    event = await client.next("message:new")
    assert event["conversation"]["contact"]["name"] == "Carlos"
    assert event["conversation"]["contact"]["phone"] == "5521988887777"


def test_demo_start_prints_how_to_play_a_guest(demo_server):
    assert (f"Para simular um hóspede: hotelbot demo message --data-dir {demo_server.data_dir} "
            '--text "Olá, tem quarto para sábado?"') in demo_server.log()


def test_refused_without_demo_tenant(tmp_path):
    result = demo_message(tmp_path / "empty", "--text", "Oi")

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Não há tenant de demonstração em {tmp_path / 'empty'}: crie-o com hotelbot serve --demo."
    )
    assert not (tmp_path / "empty").exists()


def test_refused_phone_not_digits(demo_server):
    result = demo_message(demo_server.data_dir, "--text", "Oi", "--phone", "+55 11 98888-7777", "--url", demo_server.base_url)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "--phone deve ser o número do hóspede com o código do país, só dígitos, como 5511987654321."
    )
    assert rows(demo_server, "SELECT count(*) AS n FROM inbox") == [{"n": 0}]


def test_server_not_running(demo_server):
    url = f"http://127.0.0.1:{free_port()}"

    result = demo_message(demo_server.data_dir, "--text", "Oi", "--url", url)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"O servidor em {url}/webhooks/whatsapp não respondeu (ConnectError). O hotelbot serve --demo está rodando?"
    )


def test_webhook_refusal_reported(demo_server):
    """A server whose demo tenant has another app secret responds with 401; the command prints that status and fails."""
    demo_file = demo_server.data_dir / "demo.json"
    demo = json.loads(demo_file.read_text())
    demo_file.write_text(json.dumps({**demo, "appSecret": "not-the-app-secret"}))

    result = demo_message(demo_server.data_dir, "--text", "Oi", "--url", demo_server.base_url)

    assert result.returncode == 1
    assert result.stderr.startswith(f"O webhook em {demo_server.base_url}/webhooks/whatsapp respondeu 401: ")
    assert rows(demo_server, "SELECT count(*) AS n FROM messages") == [{"n": 0}]


def test_loopback_server_reached_past_proxy(demo_server):
    """HTTP_PROXY is for the internet: a proxy would receive the post meant for this machine."""
    proxy = RecordingServer(lambda request: Reply(502)).start()
    try:
        result = demo_message(demo_server.data_dir, "--text", "Oi", "--url", demo_server.base_url,
                              env={"HTTP_PROXY": proxy.url, "http_proxy": proxy.url, "ALL_PROXY": proxy.url})
    finally:
        proxy.stop()

    assert result.returncode == 0, result.stderr
    assert proxy.requests == []
    assert rows(demo_server, "SELECT count(*) AS n FROM inbox") == [{"n": 1}]


@pytest.mark.parametrize("phone", ["٥٥١١٩٨٨٨٨٧٧٧٧", "551198", "5511988887777123"])
def test_refused_phone_not_ascii_or_wrong_length(demo_server, phone):
    result = demo_message(demo_server.data_dir, "--text", "Oi", "--phone", phone, "--url", demo_server.base_url)

    assert result.returncode == 1
    assert result.stderr.strip().startswith("--phone deve ser o número do hóspede")
    assert rows(demo_server, "SELECT count(*) AS n FROM inbox") == [{"n": 0}]


def test_refused_blank_text(demo_server):
    result = demo_message(demo_server.data_dir, "--text", "  ", "--url", demo_server.base_url)

    assert result.returncode == 1
    assert result.stderr.strip() == "--text não pode ficar vazio: o WhatsApp não envia mensagem de texto vazia."
    assert rows(demo_server, "SELECT count(*) AS n FROM inbox") == [{"n": 0}]


def test_hint_names_venv_command_off_path(tmp_path, monkeypatch):
    """make run starts .venv/bin/hotelbot, so the hint names that path unless PATH finds the same file."""
    command = tmp_path / ".venv" / "bin" / "hotelbot"
    command.parent.mkdir(parents=True)
    command.write_text("#!/bin/sh\n")
    command.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(command), "serve", "--demo"])

    monkeypatch.setenv("PATH", str(tmp_path))
    off_path = program_name()
    monkeypatch.setenv("PATH", str(command.parent))
    on_path = program_name()
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "hotelbot" / "__main__.py"), "serve", "--demo"])
    as_module = program_name()

    assert off_path == str(command)
    assert on_path == "hotelbot"
    assert as_module == "hotelbot"
