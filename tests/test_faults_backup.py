"""Online backups while webhooks arrive, restores into a new directory, encryption and its failures."""

from __future__ import annotations

import asyncio
import os
import pty
import sqlite3
import subprocess
import sys

import httpx
import pytest

from hotelbot.datadir import DataDir
from hotelbot.services.backup import BackupError, create_backup
from tests.support.db import eventually, rows
from tests.support.faults import SteadySender, deliveries, sized
from tests.support.server import launch

WEBHOOKS = sized("backup_webhooks", 300, 1500)
RATE = sized("rate", 100, 100)
PASSPHRASE = "frase secreta do backup"
KEEP_SAFE = "O backup contém a chave mestra: guarde-o com a mesma segurança do servidor, ou use --passphrase-file."


def hotelbot(env: dict, *args: str, **options) -> subprocess.CompletedProcess:
    """Run the ``hotelbot`` command with ``env`` (CLI logging left at its default)."""
    environment = {key: value for key, value in env.items() if key != "HOTELBOT_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "hotelbot", *args], env=environment, capture_output=True, text=True, timeout=120, **options
    )


def restore(server, backup, target, *args: str, passphrase: str | None = PASSPHRASE) -> subprocess.CompletedProcess:
    env = {**server.env, "BACKUP_PASSPHRASE": passphrase or ""}
    options = ("--passphrase-env", "BACKUP_PASSPHRASE") if passphrase else ()
    return hotelbot(env, "restore", str(backup), "--data-dir", str(target), *options, *args)


def integrity(path) -> str:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


async def test_backup_during_writes_restores_every_acknowledged_message(server, graph, n8n, tmp_path):
    items = deliveries(WEBHOOKS, 20)
    backup = tmp_path / "during.backup"
    env = {**server.env, "BACKUP_PASSPHRASE": PASSPHRASE}

    async with httpx.AsyncClient(timeout=5.0) as client:
        sending = asyncio.create_task(SteadySender(server, client, RATE).send_all(items))
        await eventually(lambda: sum(item.acknowledged for item in items) >= WEBHOOKS // 3, timeout=60.0, interval=0.01)
        before = {item.wamid for item in items if item.acknowledged}
        written = await asyncio.to_thread(
            hotelbot, env, "backup", "--to", str(backup), "--passphrase-env", "BACKUP_PASSPHRASE"
        )
        acknowledged_at_end = sum(item.acknowledged for item in items)
        await sending

    assert written.returncode == 0, written.stderr
    assert written.stdout.startswith(f"Backup gravado: {backup} (")
    assert KEEP_SAFE not in written.stdout
    assert acknowledged_at_end < WEBHOOKS, "every webhook was in before the backup ended; it ran without writes"
    assert backup.read_bytes()[:4] == b"HBK1"
    assert backup.stat().st_mode & 0o777 == 0o600

    target = tmp_path / "restored"
    restored = await asyncio.to_thread(restore, server, backup, target)
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.startswith(f"Backup restaurado em {target} (")
    assert integrity(target / "hotelbot.db") == "ok"
    assert (target / "secrets.json").read_bytes() == (server.data_dir / "secrets.json").read_bytes()

    copy = await asyncio.to_thread(launch, target, graph.url, n8n.url, 0)
    try:
        await eventually(lambda: rows(copy, "SELECT count(*) AS n FROM inbox WHERE processed_at IS NULL") == [{"n": 0}], timeout=60.0)
        stored = {row["whatsapp_msg_id"] for row in rows(copy, "SELECT whatsapp_msg_id FROM messages")}
        tenants = rows(copy, "SELECT id FROM tenants ORDER BY created_at")
        async with httpx.AsyncClient(timeout=10.0) as client:
            login = await copy.login(client, server.tenant.users["admin"])
    finally:
        copy.stop()

    assert before - stored == set()
    assert stored <= {item.wamid for item in items}
    assert [row["id"] for row in tenants] == [tenant.id for tenant in server.tenants]
    assert login["user"]["tenantId"] == server.tenant.id


async def test_plain_backup_warns_and_restores(server, tmp_path):
    backup = tmp_path / "plain.backup"

    written = hotelbot(server.env, "backup", "--to", str(backup))
    restored = restore(server, backup, tmp_path / "restored", passphrase=None)

    assert written.returncode == 0
    assert written.stdout.splitlines()[-1] == KEEP_SAFE
    assert backup.read_bytes()[:2] == b"\x1f\x8b"
    assert backup.stat().st_mode & 0o777 == 0o600
    assert restored.returncode == 0
    assert integrity(tmp_path / "restored" / "hotelbot.db") == "ok"
    assert (tmp_path / "restored").stat().st_mode & 0o777 == 0o700


async def test_restore_failures_leave_nothing(server, tmp_path):
    backup = tmp_path / "secret.backup"
    assert hotelbot({**server.env, "P": PASSPHRASE}, "backup", "--to", str(backup), "--passphrase-env", "P").returncode == 0
    tampered = tmp_path / "tampered.backup"
    content = bytearray(backup.read_bytes())
    content[len(content) // 2] ^= 0xFF
    tampered.write_bytes(bytes(content))
    truncated = tmp_path / "truncated.backup"
    truncated.write_bytes(backup.read_bytes()[:-100])
    not_backup = tmp_path / "notes.txt"
    not_backup.write_text("nada aqui")

    cases = {
        "wrong": (restore(server, backup, tmp_path / "a", passphrase="outra frase"),
                  "Senha do backup incorreta, ou o backup está danificado."),
        "none": (restore(server, backup, tmp_path / "b", passphrase=None),
                 "Este backup é criptografado: informe a senha dele."),
        "tampered": (restore(server, tampered, tmp_path / "c"), "Senha do backup incorreta, ou o backup está danificado."),
        "truncated": (restore(server, truncated, tmp_path / "d"), "O backup está incompleto (truncado)."),
        "missing": (restore(server, tmp_path / "nowhere.backup", tmp_path / "e"),
                    f"Arquivo de backup não encontrado: {tmp_path / 'nowhere.backup'}."),
    }
    garbage = restore(server, not_backup, tmp_path / "f", passphrase=None)

    for name, (result, message) in cases.items():
        assert result.returncode == 1, name
        assert result.stderr.strip() == message, name
    assert garbage.returncode == 1
    assert garbage.stderr.startswith("Não foi possível ler o backup:")
    for folder in "abcdef":
        assert not (tmp_path / folder).exists(), folder
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".restore-")] == []


async def test_restore_replaces_only_when_asked(server, tmp_path):
    backup = tmp_path / "plain.backup"
    assert hotelbot(server.env, "backup", "--to", str(backup)).returncode == 0
    target = tmp_path / "existing"
    assert restore(server, backup, target, passphrase=None).returncode == 0

    kept = restore(server, backup, target, passphrase=None)
    replaced = restore(server, backup, target, "--replace", passphrase=None)

    assert kept.returncode == 1
    assert kept.stderr.strip() == "O diretório de dados já contém dados; use --replace para substituí-los."
    assert replaced.returncode == 0
    aside = [path for path in tmp_path.iterdir() if path.name.startswith("existing.before-restore-")]
    assert len(aside) == 1
    assert integrity(aside[0] / "hotelbot.db") == "ok"
    assert integrity(target / "hotelbot.db") == "ok"


async def test_backup_progress_on_a_terminal(server, tmp_path):
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "hotelbot", "backup", "--to", str(tmp_path / "tty.backup")],
            env={key: value for key, value in server.env.items() if key != "HOTELBOT_LOG_LEVEL"},
            stdout=subprocess.PIPE, stderr=terminal, timeout=60,
        )
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)

    lines = [line.rsplit("\r", 1)[-1] for line in shown.decode().splitlines()]
    assert result.returncode == 0
    assert "Banco de dados: 100%" in lines
    assert "Gravando: 100%" in lines


@pytest.mark.parametrize("server_settings", [{"backup_interval_hours": 0.0004, "backup_keep": 2}])
async def test_scheduled_backups_rotate(server, tmp_path, server_settings):
    folder = server.data_dir / "backups"

    await eventually(lambda: server.log().count("Scheduled backup written to") >= 3, timeout=30.0, interval=0.2)
    await eventually(lambda: len(list(folder.glob("hotelbot-*.backup"))) == 2, timeout=5.0)

    backups = sorted(folder.glob("hotelbot-*.backup"))
    assert len(backups) == 2
    assert "1 old backup(s) removed" in server.log()
    restored = restore(server, backups[-1], tmp_path / "from-schedule", passphrase=None)
    assert restored.returncode == 0
    assert integrity(tmp_path / "from-schedule" / "hotelbot.db") == "ok"


async def test_backup_abandoned_when_master_key_changes(server, tmp_path):
    """secrets rotate and --finish while the database is copied leave a copy the secrets file no longer opens."""
    server.stop()
    backup_file = tmp_path / "rotated.backup"
    rotations: list[subprocess.CompletedProcess] = []

    def rotate_once(stage: str, _fraction: float) -> None:
        if stage == "database" and not rotations:
            rotations.append(hotelbot(server.env, "secrets", "rotate"))
            rotations.append(hotelbot(server.env, "secrets", "rotate", "--finish"))

    with pytest.raises(BackupError) as raised:
        create_backup(DataDir(server.data_dir), backup_file, progress=rotate_once)
    again = hotelbot(server.env, "backup", "--to", str(backup_file))

    assert [rotation.returncode for rotation in rotations] == [0, 0]
    assert str(raised.value) == (
        "The master key changed during the backup (hotelbot secrets rotate ran): run the backup again."
    )
    assert again.returncode == 0, again.stderr
    restored = restore(server, backup_file, tmp_path / "restored", passphrase=None)
    assert restored.returncode == 0, restored.stderr
    doctor = hotelbot({**server.env, "HOTELBOT_DATA_DIR": str(tmp_path / "restored")}, "doctor")
    assert "A chave mestra abre os segredos de todos os tenants." in doctor.stdout
