"""Exporting a guest's data: one zip with the contact, every message, the original media files and the audit."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from tests.support.attendants import Api, phone
from tests.support.guests import DISTINCTIVE_TEXT, GUEST_PHONE, guest_with_media, run_cli


@pytest.fixture
async def api(server, http) -> Api:
    return Api(server, http, server.tenant)


@pytest.fixture
async def other(server, http) -> Api:
    return Api(server, http, server.tenants[1])


def _open(content: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(content))


def _check_archive(archive: zipfile.ZipFile, guest, conversation_id: str) -> None:
    names = set(archive.namelist())
    contact = json.loads(archive.read("contact.json"))
    messages = json.loads(archive.read("messages.json"))
    events = json.loads(archive.read("audit.json"))
    readme = archive.read("README.txt").decode("utf-8")

    assert {"README.txt", "contact.json", "messages.json", "audit.json"} <= names
    assert contact["phone"] == GUEST_PHONE
    assert contact["name"] == "Ana Conceição"
    assert [item["id"] for item in contact["conversations"]] == [conversation_id]
    assert [(item["direction"], item["type"]) for item in messages] == [
        ("INBOUND", "TEXT"), ("INBOUND", "IMAGE"), ("INBOUND", "DOCUMENT"), ("OUTBOUND", "TEXT"),
    ]
    assert messages[0]["content"] == DISTINCTIVE_TEXT
    assert messages[3]["id"] == guest.reply_id
    assert archive.read(messages[1]["mediaFile"]) == guest.photo
    assert archive.read(messages[2]["mediaFile"]) == guest.document
    assert messages[2]["mediaFileName"] == "receipt.pdf"
    assert messages[2]["mediaContentType"] == "application/pdf"
    assert len([name for name in names if name.startswith("media/")]) == 2
    assert "MESSAGE_SENT" in [event["action"] for event in events]
    assert all(event["conversationId"] == conversation_id for event in events)
    assert "Dados pessoais do hóspede" in readme


async def test_api_export_file_by_file(api, graph):
    guest = await guest_with_media(api, graph)

    response = await api.call("POST", "/admin/guests/export", "admin", json={"phone": "+55 (11) 90000-0001"})

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"] == 'attachment; filename="guest-data.zip"'
    _check_archive(_open(response.content), guest, guest.conversation_id)


async def test_api_export_by_conversation_is_audited(api, graph):
    guest = await guest_with_media(api, graph)
    admin_id = await api.user_id("admin")

    response = await api.call("POST", "/admin/guests/export", "admin", json={"conversationId": guest.conversation_id})
    trail = await api.call("GET", "/audit?action=GUEST_EXPORTED", "admin")

    assert response.status_code == 200
    _check_archive(_open(response.content), guest, guest.conversation_id)
    items = trail.json()["items"]
    assert len(items) == 1
    assert items[0]["actor"] == {"type": "USER", "id": admin_id}
    assert items[0]["details"] == {"conversations": 1, "messages": 4, "mediaFiles": 2}


async def test_cli_export_writes_zip(api, graph, tmp_path):
    guest = await guest_with_media(api, graph)
    target = tmp_path / "ana.zip"

    result = run_cli(api.server, "export", "--tenant", api.tenant.id, "--phone", GUEST_PHONE, "--to", str(target))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Guest data exported to {target}: 4 messages, 2 media files."
    assert target.stat().st_mode & 0o777 == 0o600
    with zipfile.ZipFile(target) as archive:
        _check_archive(archive, guest, guest.conversation_id)


async def test_cli_export_rejects_bad_input(api, graph, tmp_path):
    await guest_with_media(api, graph)
    existing = tmp_path / "exists.zip"
    existing.write_bytes(b"keep")

    existing_result = run_cli(api.server, "export", "--tenant", api.tenant.id, "--phone", GUEST_PHONE, "--to", str(existing))
    unknown = run_cli(api.server, "export", "--tenant", api.tenant.id, "--phone", phone(99), "--to", str(tmp_path / "x.zip"))
    foreign = run_cli(api.server, "export", "--tenant", api.server.tenants[1].id, "--phone", GUEST_PHONE, "--to", str(tmp_path / "y.zip"))

    assert existing_result.returncode == 1
    assert existing_result.stderr.strip() == f"{existing} already exists; choose a new file name."
    assert existing.read_bytes() == b"keep"
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "Guest not found."
    assert not (tmp_path / "x.zip").exists()
    assert foreign.returncode == 1
    assert foreign.stderr.strip() == "Guest not found."


async def test_export_rejects_bad_requests(api, graph):
    guest = await guest_with_media(api, graph)

    no_token = await api.call("POST", "/admin/guests/export", None, json={"phone": GUEST_PHONE})
    attendant = await api.call("POST", "/admin/guests/export", "attendant", json={"phone": GUEST_PHONE})
    supervisor = await api.call("POST", "/admin/guests/export", "supervisor", json={"phone": GUEST_PHONE})
    both = await api.call("POST", "/admin/guests/export", "admin", json={"phone": GUEST_PHONE, "conversationId": guest.conversation_id})
    neither = await api.call("POST", "/admin/guests/export", "admin", json={})
    bad_phone = await api.call("POST", "/admin/guests/export", "admin", json={"phone": "abc"})
    extra = await api.call("POST", "/admin/guests/export", "admin", json={"phone": GUEST_PHONE, "all": True})
    long_phone = await api.call("POST", "/admin/guests/export", "admin", json={"phone": "1" * 41})
    not_json = await api.call("POST", "/admin/guests/export", "admin", content=b"{", headers={"Content-Type": "application/json"})

    assert no_token.status_code == 401
    assert attendant.status_code == 403
    assert supervisor.status_code == 403
    assert both.status_code == 400
    assert both.json()["details"][0]["field"] == "phone"
    assert neither.status_code == 400
    assert bad_phone.status_code == 400
    assert bad_phone.json()["details"][0]["field"] == "phone"
    assert extra.status_code == 400
    assert long_phone.status_code == 400
    assert not_json.status_code == 400


async def test_other_tenant_admin_cannot_export(api, other, graph):
    guest = await guest_with_media(api, graph)

    by_phone = await other.call("POST", "/admin/guests/export", "admin", json={"phone": GUEST_PHONE})
    by_conversation = await other.call("POST", "/admin/guests/export", "admin", json={"conversationId": guest.conversation_id})
    unknown = await api.call("POST", "/admin/guests/export", "admin", json={"conversationId": "0" * 32})

    assert by_phone.status_code == 404
    assert by_conversation.status_code == 404
    assert by_phone.json() == unknown.json()
    assert by_conversation.json() == unknown.json()
