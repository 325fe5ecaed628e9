"""``hotelbot secrets rotate-signing-keys``: new token and media link keys, every session ended."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys

import pytest

from hotelbot.datadir import DataDir
from hotelbot.media_links import MediaLinks
from tests.support.db import rows


def run(*args: str, language: str = "en") -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("HOTELBOT_")}
    environment["HOTELBOT_LANGUAGE"] = language
    return subprocess.run([sys.executable, "-m", "hotelbot", *args], env=environment, capture_output=True,
                          text=True, timeout=60)


def secrets_of(server) -> dict:
    return json.loads((server.data_dir / "secrets.json").read_text())


def media_link(server, media_key: str) -> str:
    """A link to a missing file of tenant 0 signed with ``media_key``: 404 when the signature holds, 401 when not."""
    path = f"/api/media/{server.tenant.id}/{'ab' * 16}.jpg"
    return MediaLinks(base64.b64decode(media_key), 3600, server.base_url).absolute(path)


async def test_rotation_ends_every_session(server, http):
    first = await server.login(http, server.tenant.users["admin"])
    second = await server.login(http, server.tenants[1].users["attendant_campos"])
    before = secrets_of(server)
    old_link = media_link(server, before["mediaKey"])
    assert (await http.get(old_link)).status_code == 404
    server.stop()

    result = run("secrets", "rotate-signing-keys", "--data-dir", str(server.data_dir), "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"revokedSessions": 2}
    after = secrets_of(server)
    assert after["jwtSecret"] != before["jwtSecret"]
    assert after["mediaKey"] != before["mediaKey"]
    assert after["masterKey"] == before["masterKey"]
    assert after["oldMasterKeys"] == before["oldMasterKeys"]
    assert stat.S_IMODE((server.data_dir / "secrets.json").stat().st_mode) == 0o600
    assert not (server.data_dir / "secrets.tmp").exists()
    assert rows(server, "SELECT revoked_reason, count(*) AS n FROM sessions GROUP BY revoked_reason") == [
        {"revoked_reason": "signing keys replaced", "n": 2}
    ]

    server.start()

    for login in (first, second):
        me = await http.get(server.base_url + "/auth/me", headers={"Authorization": f"Bearer {login['accessToken']}"})
        assert me.status_code == 401
        refreshed = await http.post(server.base_url + "/auth/refresh", json={"refreshToken": login["refreshToken"]})
        assert refreshed.status_code == 401
    assert (await http.get(old_link)).status_code == 401
    assert (await http.get(media_link(server, after["mediaKey"]))).status_code == 404
    again = await server.login(http, server.tenant.users["admin"])
    me = await http.get(server.base_url + "/auth/me", headers={"Authorization": f"Bearer {again['accessToken']}"})
    assert me.status_code == 200
    assert me.json()["user"]["email"] == server.tenant.users["admin"]


def test_rotation_refused_while_serving(server):
    before = (server.data_dir / "secrets.json").read_bytes()

    result = run("secrets", "rotate-signing-keys", "--data-dir", str(server.data_dir))

    assert result.returncode == 1
    assert result.stderr.strip() == f"Stop the hotelbot server running on {server.data_dir} before replacing its keys."
    assert (server.data_dir / "secrets.json").read_bytes() == before


def test_rotation_refused_without_data_dir(tmp_path):
    result = run("secrets", "rotate-signing-keys", "--data-dir", str(tmp_path / "missing"))

    assert result.returncode == 1
    assert result.stderr.strip() == f"No data directory at {tmp_path / 'missing'}: run hotelbot init."
    assert not (tmp_path / "missing").exists()


def test_rotation_message_in_portuguese(server):
    server.stop()

    result = run("secrets", "rotate-signing-keys", "--data-dir", str(server.data_dir), language="pt-BR")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "Novas chaves de assinatura em uso: 0 sessão(ões) encerrada(s). Todos os usuários precisam entrar de novo, "
        "e os links de mídia enviados antes deixam de abrir."
    )


def test_rotation_refused_while_another_command_holds_the_directory(server):
    """While another command or a server holds the directory's lock, the rotation is refused and changes nothing."""
    server.stop()
    before = (server.data_dir / "secrets.json").read_bytes()
    lock = DataDir(server.data_dir).lock_for_serving()
    try:
        result = run("secrets", "rotate-signing-keys", "--data-dir", str(server.data_dir))
    finally:
        lock.close()

    assert result.returncode == 1
    assert result.stderr.strip() == f"Stop the hotelbot server running on {server.data_dir} before replacing its keys."
    assert (server.data_dir / "secrets.json").read_bytes() == before


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give the file to another user")
def test_rotation_as_root_keeps_the_file_owner(server):
    server.stop()
    secrets_file = server.data_dir / "secrets.json"
    os.chown(secrets_file, 65534, 65534)

    result = run("secrets", "rotate-signing-keys", "--data-dir", str(server.data_dir))

    assert result.returncode == 0, result.stderr
    assert (secrets_file.stat().st_uid, secrets_file.stat().st_gid) == (65534, 65534)
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600


def test_serve_refused_during_rotation(server):
    """A server started while a key command has the directory locked names that command, not another server."""
    server.stop()
    lock = DataDir(server.data_dir).lock_for_serving("secrets rotate")
    try:
        serve = run("serve", "--data-dir", str(server.data_dir), "--port", "0", language="pt-BR")
        rotation = run("secrets", "rotate-signing-keys", "--data-dir", str(server.data_dir), language="pt-BR")
    finally:
        lock.close()

    assert serve.returncode == 1
    assert serve.stderr.strip() == (
        f"O hotelbot secrets rotate está em execução em {server.data_dir}: inicie o servidor quando ele terminar."
    )
    assert rotation.returncode == 1
    assert rotation.stderr.strip() == (
        f"O hotelbot secrets rotate já está em execução em {server.data_dir}: rode este comando quando ele terminar."
    )


def test_rotation_names_itself_in_the_lock_file(server):
    server.stop()

    result = run("secrets", "rotate-signing-keys", "--data-dir", str(server.data_dir))

    assert result.returncode == 0, result.stderr
    assert DataDir(server.data_dir).lock_holder() == "secrets rotate-signing-keys"
