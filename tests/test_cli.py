"""The ``hotelbot`` command line: init, tenants, users, secrets from files and variables, the language of its output."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hotelbot.cli.common import open_box, open_database
from hotelbot.settings import load_settings
from hotelbot.storage import tenants as tenant_store
from tests.support.db import rows

TENANT_SECRETS = {"META_TOKEN": "EAAG-token-do-hotel", "META_APP_SECRET": "segredo-do-app-123", "META_VERIFY": "verificacao-456"}


class CommandData:
    """A data directory the CLI works on; ``rows`` reads its database like the server tests do."""

    def __init__(self, path: Path) -> None:
        self.data_dir = path


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run ``hotelbot ARGS`` without any HOTELBOT_* variable of the test run unless ``env`` sets it."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("HOTELBOT_")}
    environment.update({"HOTELBOT_BCRYPT_ROUNDS": "4", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "hotelbot", *args], env=environment, input=stdin or "",
        capture_output=True, text=True, timeout=60,
    )


def create_tenant(data: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run(
        "tenant", "create", "--data-dir", str(data), "--name", "Hotel Serra", "--phone-number-id", "106500000000009",
        "--access-token-env", "META_TOKEN", "--app-secret-env", "META_APP_SECRET", "--verify-token-env", "META_VERIFY",
        "--n8n-url", "http://127.0.0.1:5678/webhook/hotelbot", "--hotel-unit", "Campos do Jordão", "--hotel-unit", "Ubatuba",
        *extra, env={**TENANT_SECRETS, **(env or {})},
    )


def open_tenant(data: Path, tenant_id: str):
    """Return the stored tenant with its secrets opened, as the server would see it."""

    async def load():
        async with open_database(load_settings({"data_dir": str(data)}, environ={})) as (db, folder):
            async with db.read() as connection:
                return await tenant_store.select_tenant(connection, open_box(folder), tenant_id)

    return asyncio.run(load())


@pytest.fixture
def data(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def tenant_id(data) -> str:
    result = create_tenant(data, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["tenantId"]


# -- init --------------------------------------------------------------------


def test_init_creates_private_data_dir(data):
    result = run("init", "--data-dir", str(data))

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Diretório de dados pronto: {data.resolve()}\n"
    assert stat.S_IMODE((data / "secrets.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    secrets = json.loads((data / "secrets.json").read_text())
    assert set(secrets) >= {"jwtSecret", "masterKey", "mediaKey"}
    assert len(secrets["jwtSecret"]) >= 32
    assert rows(CommandData(data), "SELECT count(*) AS n FROM tenants") == [{"n": 0}]


def test_init_keeps_existing_secrets(data):
    assert run("init", "--data-dir", str(data)).returncode == 0
    before = (data / "secrets.json").read_text()

    again = run("init", "--data-dir", str(data))

    assert again.returncode == 0
    assert (data / "secrets.json").read_text() == before


def test_init_in_english(data):
    result = run("init", "--data-dir", str(data), env={"HOTELBOT_LANGUAGE": "en"})

    assert result.returncode == 0
    assert result.stdout == f"Data directory ready: {data.resolve()}\n"


def test_data_dir_from_environment(data):
    result = run("init", env={"HOTELBOT_DATA_DIR": str(data)})

    assert result.returncode == 0
    assert (data / "secrets.json").is_file()


def test_invalid_setting_rejected(data):
    result = run("init", "--data-dir", str(data), env={"HOTELBOT_LANGUAGE": "fr"})

    assert result.returncode == 2
    assert "HOTELBOT_LANGUAGE" in result.stderr
    assert "pt-BR, en" in result.stderr
    assert not (data / "secrets.json").exists()


# -- tenants -------------------------------------------------------------------


def test_tenant_create_json(data):
    result = create_tenant(data, "--json")

    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert set(created) == {"tenantId", "apiKey", "forwardSecret"}
    assert created["apiKey"].startswith("hbk_")
    assert len(created["forwardSecret"]) >= 32
    stored = rows(CommandData(data), "SELECT name, phone_number_id, n8n_url, api_key_hash FROM tenants")
    assert stored == [{
        "name": "Hotel Serra",
        "phone_number_id": "106500000000009",
        "n8n_url": "http://127.0.0.1:5678/webhook/hotelbot",
        "api_key_hash": hashlib.sha256(created["apiKey"].encode()).hexdigest(),
    }]
    units = rows(CommandData(data), "SELECT slug, name FROM hotel_units ORDER BY slug")
    assert units == [{"slug": "campos-do-jordao", "name": "Campos do Jordão"}, {"slug": "ubatuba", "name": "Ubatuba"}]


def test_tenant_secrets_sealed_at_rest(data, tenant_id):
    tenant = open_tenant(data, tenant_id)
    database = b"".join(path.read_bytes() for path in data.glob("hotelbot.db*"))

    assert tenant.access_token == TENANT_SECRETS["META_TOKEN"]
    assert tenant.app_secret == TENANT_SECRETS["META_APP_SECRET"]
    assert tenant.verify_token == TENANT_SECRETS["META_VERIFY"]
    for secret in TENANT_SECRETS.values():
        assert secret.encode() not in database


def test_tenant_create_prints_keys_in_portuguese(data):
    result = create_tenant(data)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Tenant criado: ")
    assert lines[1].startswith("Chave de API do N8N (exibida somente agora): hbk_")
    assert lines[2].startswith("Segredo de assinatura dos encaminhamentos (exibido somente agora): ")


def test_tenant_secret_from_file(data, tmp_path):
    token_file = tmp_path / "token.txt"
    token_file.write_text("token-lido-do-arquivo\n")
    result = run(
        "tenant", "create", "--data-dir", str(data), "--name", "Hotel Mar", "--phone-number-id", "106500000000010",
        "--access-token-file", str(token_file), "--app-secret-env", "META_APP_SECRET", "--verify-token-env", "META_VERIFY", "--json",
        env=TENANT_SECRETS,
    )

    assert result.returncode == 0, result.stderr
    assert open_tenant(data, json.loads(result.stdout)["tenantId"]).access_token == "token-lido-do-arquivo"


def test_tenant_secret_from_missing_variable(data):
    result = run(
        "tenant", "create", "--data-dir", str(data), "--name", "Hotel Mar", "--phone-number-id", "106500000000010",
        "--access-token-env", "NOT_SET_ANYWHERE", "--app-secret-env", "META_APP_SECRET", "--verify-token-env", "META_VERIFY",
        env=TENANT_SECRETS,
    )

    assert result.returncode == 1
    assert result.stderr == "A variável de ambiente NOT_SET_ANYWHERE não está definida.\n"
    assert not (data / "hotelbot.db").exists() or rows(CommandData(data), "SELECT count(*) AS n FROM tenants") == [{"n": 0}]


def test_tenant_secret_missing_without_terminal(data):
    result = run(
        "tenant", "create", "--data-dir", str(data), "--name", "Hotel Mar", "--phone-number-id", "106500000000010",
        "--app-secret-env", "META_APP_SECRET", "--verify-token-env", "META_VERIFY", env=TENANT_SECRETS,
    )

    assert result.returncode == 1
    assert result.stderr == "Falta access-token: informe --access-token, --access-token-file ou --access-token-env.\n"


def test_tenant_duplicate_number_rejected(data, tenant_id):
    result = create_tenant(data)

    assert result.returncode == 1
    assert result.stderr.startswith("Já existe um tenant com o phone number id 106500000000009.")
    assert rows(CommandData(data), "SELECT count(*) AS n FROM tenants") == [{"n": 1}]


def test_tenant_update_changes_settings_and_secrets(data, tenant_id, tmp_path):
    token_file = tmp_path / "new-token.txt"
    token_file.write_text("token-novo-789\n")

    result = run(
        "tenant", "update", "--data-dir", str(data), "--tenant", tenant_id,
        "--n8n-url", "http://10.0.0.5:5678/webhook/novo", "--access-token-file", str(token_file),
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Tenant atualizado: {tenant_id}\n"
    tenant = open_tenant(data, tenant_id)
    assert tenant.n8n_url == "http://10.0.0.5:5678/webhook/novo"
    assert tenant.access_token == "token-novo-789"
    assert tenant.app_secret == TENANT_SECRETS["META_APP_SECRET"]


def test_tenant_update_without_changes_rejected(data, tenant_id):
    result = run("tenant", "update", "--data-dir", str(data), "--tenant", tenant_id)

    assert result.returncode == 1
    assert result.stderr == "Nada a alterar: informe pelo menos uma opção.\n"


def test_tenant_update_unknown_tenant(data, tenant_id):
    result = run("tenant", "update", "--data-dir", str(data), "--tenant", "0" * 32, "--name", "Outro")

    assert result.returncode == 1
    assert result.stderr == "Tenant não encontrado.\n"


def test_tenant_update_invalid_url_rejected(data, tenant_id):
    result = run("tenant", "update", "--data-dir", str(data), "--tenant", tenant_id, "--n8n-url", "ftp://n8n")

    assert result.returncode == 1
    assert open_tenant(data, tenant_id).n8n_url == "http://127.0.0.1:5678/webhook/hotelbot"


# -- users -----------------------------------------------------------------------


def test_user_create_json(data, tenant_id):
    result = run(
        "user", "create", "--data-dir", str(data), "--tenant", tenant_id, "--email", "Ana@Hotel.com.br",
        "--role", "ATTENDANT", "--hotel-unit", "campos do jordao", "--password-env", "NEW_PASSWORD", "--json",
        env={"NEW_PASSWORD": "senha-da-ana-123"},
    )

    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created == {"userId": created["userId"], "tenantId": tenant_id, "email": "ana@hotel.com.br"}
    stored = rows(CommandData(data), "SELECT tenant_id, email, role, hotel_unit, language, active, password_hash FROM users")
    assert len(stored) == 1
    assert stored[0]["tenant_id"] == tenant_id
    assert stored[0]["email"] == "ana@hotel.com.br"
    assert stored[0]["role"] == "ATTENDANT"
    assert stored[0]["hotel_unit"] == "campos-do-jordao"
    assert stored[0]["language"] == "pt-BR"
    assert stored[0]["active"] == 1
    assert stored[0]["password_hash"].startswith("$2b$04$")
    assert "senha-da-ana-123" not in result.stdout + result.stderr


def test_user_create_in_portuguese(data, tenant_id):
    result = run(
        "user", "create", "--data-dir", str(data), "--tenant", tenant_id, "--email", "bia@hotel.com.br",
        "--role", "ADMIN", "--password", "senha-da-bia-123",
    )

    assert result.returncode == 0, result.stderr
    user_id = rows(CommandData(data), "SELECT id FROM users")[0]["id"]
    assert result.stdout == f"Usuário criado: {user_id} (bia@hotel.com.br)\n"


def test_user_create_in_english(data, tenant_id):
    result = run(
        "user", "create", "--data-dir", str(data), "--tenant", tenant_id, "--email", "bia@hotel.com.br",
        "--role", "ADMIN", "--password", "senha-da-bia-123", env={"HOTELBOT_LANGUAGE": "en"},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("User created: ")


def test_user_short_password_rejected(data, tenant_id):
    result = run(
        "user", "create", "--data-dir", str(data), "--tenant", tenant_id, "--email", "c@hotel.com.br",
        "--role", "ATTENDANT", "--password", "curta",
    )

    assert result.returncode == 1
    assert "password: Deve ter pelo menos 8 caractere(s)." in result.stderr
    assert rows(CommandData(data), "SELECT count(*) AS n FROM users") == [{"n": 0}]


def test_user_unknown_unit_rejected(data, tenant_id):
    result = run(
        "user", "create", "--data-dir", str(data), "--tenant", tenant_id, "--email", "d@hotel.com.br",
        "--role", "ATTENDANT", "--hotel-unit", "Paraty", "--password", "senha-segura-1",
    )

    assert result.returncode == 1
    assert result.stderr.startswith("Unidade hoteleira desconhecida. Unidades válidas: Campos do Jordão, Ubatuba.")
    assert rows(CommandData(data), "SELECT count(*) AS n FROM users") == [{"n": 0}]


def test_user_duplicate_email_rejected(data, tenant_id):
    arguments = ("user", "create", "--data-dir", str(data), "--tenant", tenant_id, "--email", "e@hotel.com.br",
                 "--role", "ATTENDANT", "--password", "senha-segura-1")
    assert run(*arguments).returncode == 0

    again = run(*arguments[:7], "E@HOTEL.com.br", *arguments[8:])

    assert again.returncode == 1
    assert again.stderr.startswith("Já existe um usuário com este e-mail.")


def test_user_invalid_role_rejected(data, tenant_id):
    result = run(
        "user", "create", "--data-dir", str(data), "--tenant", tenant_id, "--email", "f@hotel.com.br",
        "--role", "OWNER", "--password", "senha-segura-1",
    )

    assert result.returncode == 2
    assert "ADMIN" in result.stderr


def test_init_data_dir_is_file(tmp_path):
    not_a_directory = tmp_path / "hotelbot-data"
    not_a_directory.write_text("not a directory")

    result = run("init", "--data-dir", str(not_a_directory))

    assert result.returncode == 1
    assert result.stderr.startswith("O comando falhou: FileExistsError: ")
    assert "Traceback" not in result.stderr
    assert not_a_directory.read_text() == "not a directory"


@pytest.mark.parametrize(("family", "host"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_serve_port_in_use(data, family, host):
    with socket.socket(family) as taken:
        taken.bind((host, 0))
        taken.listen()
        port = taken.getsockname()[1]

        started = time.monotonic()
        result = run("serve", "--data-dir", str(data), "--host", host, "--port", str(port))

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"A porta {port} em {host} já está em uso por outro programa: pare-o ou escolha outra porta com --port."
    ]
    assert time.monotonic() - started < 10


def test_serve_on_an_address_of_another_machine_fails(data):
    """192.0.2.1 is reserved for documentation (RFC 5737), so no interface of the test machine has it."""
    result = run("serve", "--data-dir", str(data), "--host", "192.0.2.1", "--port", "8000")

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Este computador não tem o endereço 192.0.2.1: use em --host um dos endereços dele, 127.0.0.1, ou 0.0.0.0 para todos."
    ]


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1", "http://127.0.0.1:8000"),
    ("::1", "http://[::1]:8000"),
    ("::", "http://[::]:8000"),
])
def test_base_url_brackets_ipv6_host(host, url):
    """The console address that serve --demo prints and the media links sent to N8N start with base_url."""
    assert load_settings(overrides={"host": host, "port": 8000}, environ={}).base_url == url
