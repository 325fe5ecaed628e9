"""``hotelbot secrets rotate``: a new master key, every tenant secret re-sealed, the old key until --finish."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from hotelbot.secretbox import SecretBox, key_id
from tests.support.db import rows
from tests.support.server import launch
from tests.support.webhooks import execute, text_message

SEALED_COLUMNS = ("access_token_sealed", "app_secret_sealed", "verify_token_sealed", "forward_secret_sealed")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("HOTELBOT_")}
    environment.update({"HOTELBOT_LANGUAGE": "en", **(env or {})})
    return subprocess.run([sys.executable, "-m", "hotelbot", *args], env=environment, capture_output=True,
                          text=True, timeout=60)


def keys(data_dir: Path) -> tuple[bytes, list[bytes]]:
    content = json.loads((data_dir / "secrets.json").read_text())
    return base64.b64decode(content["masterKey"]), [base64.b64decode(key) for key in content["oldMasterKeys"]]


def sealed_values(server) -> list[tuple[str, str, str]]:
    """Return (tenant id, column, sealed value) for every sealed column of every tenant."""
    found = rows(server, "SELECT * FROM tenants ORDER BY id")
    return [(row["id"], column, row[column]) for row in found for column in SEALED_COLUMNS]


def opened(server, box: SecretBox) -> dict[tuple[str, str], str]:
    return {(tenant, column): box.open(value, f"{tenant}:{column.removesuffix('_sealed')}")
            for tenant, column, value in sealed_values(server)}


def provisioned(tmp_path, graph, n8n):
    return launch(tmp_path / "data", graph.url, n8n.url, start=False)


def test_rotate_reseals_every_secret(tmp_path, graph, n8n):
    server = provisioned(tmp_path, graph, n8n)
    old_key, _ = keys(server.data_dir)
    before = opened(server, SecretBox(old_key))

    result = run("secrets", "rotate", "--data-dir", str(server.data_dir), "--json")

    assert result.returncode == 0, result.stderr
    new_key, old_keys = keys(server.data_dir)
    output = json.loads(result.stdout)
    assert new_key != old_key
    assert old_keys == [old_key]
    assert output == {"keyId": key_id(new_key), "resealed": 8, "oldKeys": 1}
    for _, _, value in sealed_values(server):
        assert value.startswith(f"v1:{key_id(new_key)}:")
    assert opened(server, SecretBox(new_key)) == before


def test_rotated_server_opens_secrets(tmp_path, graph, n8n):
    server = provisioned(tmp_path, graph, n8n)
    assert run("secrets", "rotate", "--data-dir", str(server.data_dir)).returncode == 0
    assert run("secrets", "rotate", "--data-dir", str(server.data_dir), "--finish").returncode == 0

    server.start()
    try:
        body = json.dumps(text_message("Bom dia", phone_number_id=server.tenant.phone_number_id)).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": server.sign(body)}
        accepted = httpx.post(server.base_url + "/webhooks/whatsapp", content=body, headers=headers, timeout=10)
        verified = httpx.get(server.base_url + "/webhooks/whatsapp", timeout=10, params={
            "hub.mode": "subscribe", "hub.verify_token": server.tenant.verify_token, "hub.challenge": "77"})
    finally:
        server.stop()

    assert accepted.status_code == 200
    assert verified.text == "77"


def test_finish_drops_old_keys(tmp_path, graph, n8n):
    server = provisioned(tmp_path, graph, n8n)
    assert run("secrets", "rotate", "--data-dir", str(server.data_dir)).returncode == 0
    new_key, _ = keys(server.data_dir)

    result = run("secrets", "rotate", "--data-dir", str(server.data_dir), "--finish")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Previous master keys dropped: 1. Backups taken before the rotation no longer open."
    assert keys(server.data_dir) == (new_key, [])
    assert len(opened(server, SecretBox(new_key))) == 8


def test_finish_refused_with_stale_value(tmp_path, graph, n8n):
    server = provisioned(tmp_path, graph, n8n)
    old_key, _ = keys(server.data_dir)
    stale = next(value for tenant, column, value in sealed_values(server) if column == "app_secret_sealed")
    assert run("secrets", "rotate", "--data-dir", str(server.data_dir)).returncode == 0
    new_key, _ = keys(server.data_dir)
    # A value sealed under the previous key, as a restore of an older row would bring back.
    execute(server, "UPDATE tenants SET app_secret_sealed = ? WHERE id = ?", (stale, server.tenant.id))

    result = run("secrets", "rotate", "--data-dir", str(server.data_dir), "--finish")

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "1 tenant secret(s) are still sealed under a previous key. Run hotelbot secrets rotate again before --finish."
    )
    assert keys(server.data_dir) == (new_key, [old_key])


def test_second_rotation_keeps_both_keys(tmp_path, graph, n8n):
    server = provisioned(tmp_path, graph, n8n)
    first_key, _ = keys(server.data_dir)
    assert run("secrets", "rotate", "--data-dir", str(server.data_dir)).returncode == 0
    second_key, _ = keys(server.data_dir)

    result = run("secrets", "rotate", "--data-dir", str(server.data_dir))

    assert result.returncode == 0, result.stderr
    third_key, old_keys = keys(server.data_dir)
    assert old_keys == [second_key, first_key]
    assert result.stdout.strip() == (
        f"Master key {key_id(third_key)} in use: 8 tenant secret(s) re-sealed. The previous key stays in "
        "secrets.json for older backups until you run hotelbot secrets rotate --finish."
    )


def test_rotate_refused_while_serving(server):
    before = (server.data_dir / "secrets.json").read_bytes()
    sealed_before = sealed_values(server)

    result = run("secrets", "rotate", "--data-dir", str(server.data_dir))

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Stop the hotelbot server running on {server.data_dir} before replacing its keys."
    )
    assert (server.data_dir / "secrets.json").read_bytes() == before
    assert sealed_values(server) == sealed_before


def test_rotate_refused_with_key_from_environment(tmp_path, graph, n8n):
    server = provisioned(tmp_path, graph, n8n)
    before = (server.data_dir / "secrets.json").read_bytes()
    master = base64.b64encode(keys(server.data_dir)[0]).decode()

    result = run("secrets", "rotate", "--data-dir", str(server.data_dir), env={"HOTELBOT_MASTER_KEY": master})

    assert result.returncode == 1
    assert "HOTELBOT_MASTER_KEY" in result.stderr
    assert (server.data_dir / "secrets.json").read_bytes() == before


def test_rotate_refused_without_data_dir(tmp_path):
    result = run("secrets", "rotate", "--data-dir", str(tmp_path / "missing"))

    assert result.returncode == 1
    assert result.stderr.strip() == f"No data directory at {tmp_path / 'missing'}: run hotelbot init."
    assert not (tmp_path / "missing").exists()


def test_rotate_message_in_portuguese(tmp_path, graph, n8n):
    server = provisioned(tmp_path, graph, n8n)

    result = run("secrets", "rotate", "--data-dir", str(server.data_dir), env={"HOTELBOT_LANGUAGE": "pt-BR"})

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Chave mestra {key_id(keys(server.data_dir)[0])} em uso: 8 segredo(s)")
