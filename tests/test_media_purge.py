"""Media retention: ``hotelbot media purge`` and the server's own retention setting."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import subprocess
import sys

import pytest

from hotelbot.cli.media import format_size
from tests.support.db import eventually, rows
from tests.support.media import bearer, jpeg, media_webhook, pdf


async def download(server, graph, http, media_id: str, content: bytes, fixture: str, wamid: str) -> dict:
    """Receive a guest's file and wait until it is stored; return its media_files row."""
    mime = "image/jpeg" if fixture == "inbound-image.json" else "application/pdf"
    graph.add_media(media_id, content, mime)
    await server.post_webhook(http, media_webhook(fixture, media_id, content, wamid))
    found = await eventually(lambda: rows(
        server, "SELECT f.* FROM media_files f JOIN messages m ON m.id = f.message_id WHERE m.whatsapp_msg_id = ?", (wamid,)
    ), timeout=15)
    return found[0]


def age_file(server, file_id: str, days: int) -> None:
    stamp = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    connection = sqlite3.connect(server.data_dir / "hotelbot.db")
    with connection:
        connection.execute("UPDATE media_files SET created_at = ? WHERE id = ?", (stamp, file_id))
    connection.close()


def run_cli(server, *args: str, language: str | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in server.env.items() if key != "HOTELBOT_LANGUAGE"}
    if language:
        env["HOTELBOT_LANGUAGE"] = language
    return subprocess.run(
        [sys.executable, "-m", "hotelbot", "media", "purge", "--data-dir", str(server.data_dir), *args],
        env=env, capture_output=True, text=True, timeout=60,
    )


async def test_purge_deletes_old_files_and_keeps_rows(server, graph, n8n, http):
    old = await download(server, graph, http, "9101", pdf(), "inbound-document.json", "wamid.OLD")
    new = await download(server, graph, http, "9102", jpeg(), "inbound-image.json", "wamid.NEW")
    age_file(server, old["id"], 40)
    folder = server.data_dir / "media" / server.tenant.id
    token = await server.token(http)

    result = await asyncio.to_thread(run_cli, server, "--older-than", "30")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Arquivos de mídia excluídos: 1. Espaço liberado: {format_size(old['size'], 'pt-BR')}."
    assert not (folder / old["id"]).exists()
    assert (folder / new["id"]).exists()
    message = rows(server, "SELECT media_status, media_url, metadata FROM messages WHERE whatsapp_msg_id = 'wamid.OLD'")[0]
    assert message["media_status"] == "DELETED"
    assert message["media_url"] is None
    assert '"filename": "receipt.pdf"' in message["metadata"]
    assert rows(server, "SELECT deleted_at IS NOT NULL AS deleted FROM media_files WHERE id = ?", (old["id"],)) == [{"deleted": 1}]

    gone = await http.get(f"{server.base_url}/api/media/{server.tenant.id}/{old['id']}", headers=bearer(token))
    kept = await http.get(f"{server.base_url}/api/media/{server.tenant.id}/{new['id']}", headers=bearer(token))
    assert gone.status_code == 404
    assert kept.status_code == 200


async def test_purged_file_downloaded_again_within_seven_days(server, graph, n8n, http):
    content = pdf()
    old = await download(server, graph, http, "9103", content, "inbound-document.json", "wamid.AGAIN")
    age_file(server, old["id"], 2)
    assert (await asyncio.to_thread(run_cli, server, "--older-than", "1")).returncode == 0
    message_id = old["message_id"]

    response = await http.post(f"{server.base_url}/messages/{message_id}/media/retry", headers=bearer(await server.token(http)))

    assert response.status_code == 202
    await eventually(lambda: rows(server, "SELECT 1 FROM messages WHERE id = ? AND media_status = 'READY'", (message_id,)), timeout=15)
    live = rows(server, "SELECT id FROM media_files WHERE message_id = ? AND deleted_at IS NULL", (message_id,))
    assert len(live) == 1
    assert (server.data_dir / "media" / server.tenant.id / live[0]["id"]).read_bytes() == content


async def test_purge_english_output_and_nothing_to_delete(server):
    result = await asyncio.to_thread(run_cli, server, "--older-than", "30", language="en")
    assert result.returncode == 0
    assert result.stdout.strip() == "Media files deleted: 0. Space freed: 0 bytes."


async def test_purge_needs_days(server):
    result = await asyncio.to_thread(run_cli, server)
    assert result.returncode == 1
    assert result.stderr.strip() == "Informe --older-than DIAS (1 ou mais) ou defina media_retention_days."


@pytest.fixture
def server_settings(request) -> dict:
    return getattr(request, "param", {})


@pytest.mark.parametrize("server_settings", [{"MEDIA_RETENTION_DAYS": "30"}], indirect=True)
async def test_server_retention_purges_at_start(server, graph, n8n, http):
    old = await download(server, graph, http, "9104", jpeg(), "inbound-image.json", "wamid.RETAINED")
    age_file(server, old["id"], 31)

    await asyncio.to_thread(server.restart)

    await eventually(lambda: rows(server, "SELECT 1 FROM messages WHERE media_status = 'DELETED'"), timeout=15)
    assert not (server.data_dir / "media" / server.tenant.id / old["id"]).exists()
    assert "Media retention: 1 file(s) older than 30 day(s) removed" in server.log()


@pytest.mark.parametrize(("size", "language", "expected"), [
    (0, "pt-BR", "0 bytes"),
    (1023, "pt-BR", "1.023 bytes"),
    (1536, "pt-BR", "1,5 KB"),
    (5 * 1024 * 1024, "pt-BR", "5,0 MB"),
    (1536, "en", "1.5 KB"),
    (3 * 1024 ** 3, "en", "3.0 GB"),
])
def test_size_formatted_for_language(size, language, expected):
    assert format_size(size, language) == expected
