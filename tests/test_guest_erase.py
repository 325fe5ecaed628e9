"""Erasing a guest: messages, media and contact go, the counts stay, and nothing is left in the files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.attendants import Api, phone
from tests.support.db import rows
from tests.support.guests import DISTINCTIVE_TEXT, GUEST_PHONE, guest_with_media, run_cli

# The forms of the guest's number that may be stored: as WhatsApp sent it, and without Brazil's ninth digit.
PHONE_FORMS = (GUEST_PHONE, GUEST_PHONE[:4] + GUEST_PHONE[5:])


@pytest.fixture
async def api(server, http) -> Api:
    return Api(server, http, server.tenant)


@pytest.fixture
async def other(server, http) -> Api:
    return Api(server, http, server.tenants[1])


def _files_containing(data_dir: Path, needle: str) -> list[str]:
    """Return the files of the data directory, logs aside, whose bytes contain ``needle`` (UTF-8)."""
    encoded = needle.encode()
    return sorted(
        str(path.relative_to(data_dir)) for path in data_dir.rglob("*")
        if path.is_file() and path.suffix != ".log" and encoded in path.read_bytes()
    )


def _counts(server, tenant_id: str) -> dict[str, int]:
    return {
        table: rows(server, f"SELECT count(*) AS n FROM {table} WHERE tenant_id = ?", (tenant_id,))[0]["n"]
        for table in ("messages", "media_files", "conversations", "contacts")
    }


async def test_dry_run_lists_and_keeps(api, graph):
    guest = await guest_with_media(api, graph)
    before = _counts(api.server, api.tenant.id)

    response = await api.call("POST", "/admin/guests/erase", "admin", json={"phone": GUEST_PHONE, "dryRun": True})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dryRun"] is True
    assert body["conversationIds"] == [guest.conversation_id]
    assert body["messages"] == 4
    assert len(body["mediaFiles"]) == 2
    assert _counts(api.server, api.tenant.id) == before
    assert rows(api.server, "SELECT count(*) AS n FROM audit_events WHERE action = 'GUEST_ERASED'") == [{"n": 0}]


async def test_erase_leaves_nothing_in_files(api, graph):
    guest = await guest_with_media(api, graph)
    admin_id = await api.user_id("admin")
    media_folder = api.server.data_dir / "media" / api.tenant.id
    assert len(list(media_folder.iterdir())) == 2
    assert _files_containing(api.server.data_dir, DISTINCTIVE_TEXT) != []

    response = await api.call("POST", "/admin/guests/erase", "admin", json={"conversationId": guest.conversation_id})

    assert response.status_code == 200, response.text
    assert response.json()["dryRun"] is False
    assert response.json()["messages"] == 4
    assert list(media_folder.iterdir()) == []
    assert _counts(api.server, api.tenant.id) == {"messages": 0, "media_files": 0, "conversations": 1, "contacts": 1}
    contact = rows(api.server, "SELECT phone, phone_key, user_id, name FROM contacts WHERE tenant_id = ?", (api.tenant.id,))
    assert contact == [{"phone": None, "phone_key": None, "user_id": None, "name": None}]
    assert _files_containing(api.server.data_dir, DISTINCTIVE_TEXT) == []
    for form in PHONE_FORMS:
        assert _files_containing(api.server.data_dir, form) == []
    assert _files_containing(api.server.data_dir, "Ana Concei") == []

    trail = (await api.call("GET", "/audit?action=GUEST_ERASED", "admin")).json()["items"]
    assert len(trail) == 1
    assert trail[0]["actor"] == {"type": "USER", "id": admin_id}
    assert trail[0]["details"] == {"conversations": 1, "messages": 4, "mediaFiles": 2}
    assert GUEST_PHONE not in json.dumps(trail)


async def test_erased_guest_is_gone_for_api(api, graph):
    guest = await guest_with_media(api, graph)
    await api.call("POST", "/admin/guests/erase", "admin", json={"phone": GUEST_PHONE})

    again = await api.call("POST", "/admin/guests/erase", "admin", json={"phone": GUEST_PHONE})
    export = await api.call("POST", "/admin/guests/export", "admin", json={"conversationId": guest.conversation_id})
    listed = await api.call("GET", f"/conversations/{guest.conversation_id}/messages", "supervisor")
    search = await api.call("GET", "/conversations?search=zyxwv", "supervisor")

    assert again.status_code == 404
    assert export.status_code == 404
    assert listed.json()["items"] == []
    assert search.json()["items"] == []


async def test_cli_erase_and_dry_run(api, graph):
    await guest_with_media(api, graph)

    dry = run_cli(api.server, "erase", "--tenant", api.tenant.id, "--phone", GUEST_PHONE, "--dry-run")
    kept = _counts(api.server, api.tenant.id)
    real = run_cli(api.server, "erase", "--tenant", api.tenant.id, "--phone", GUEST_PHONE)
    unknown = run_cli(api.server, "erase", "--tenant", api.tenant.id, "--phone", phone(98))

    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["dryRun"] is True
    assert kept["messages"] == 4
    assert real.returncode == 0, real.stderr
    assert json.loads(real.stdout)["messages"] == 4
    assert _counts(api.server, api.tenant.id)["messages"] == 0
    assert rows(api.server, "SELECT actor_type FROM audit_events WHERE action = 'GUEST_ERASED'") == [{"actor_type": "CLI"}]
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "Guest not found."


async def test_other_tenant_admin_cannot_erase(api, other, graph):
    guest = await guest_with_media(api, graph)
    before = _counts(api.server, api.tenant.id)

    by_phone = await other.call("POST", "/admin/guests/erase", "admin", json={"phone": GUEST_PHONE})
    by_conversation = await other.call("POST", "/admin/guests/erase", "admin", json={"conversationId": guest.conversation_id})
    unknown = await api.call("POST", "/admin/guests/erase", "admin", json={"conversationId": "0" * 32})

    assert by_phone.status_code == 404
    assert by_conversation.status_code == 404
    assert by_phone.json() == unknown.json()
    assert by_conversation.json() == unknown.json()
    assert _counts(api.server, api.tenant.id) == before


async def test_erase_rejects_bad_requests(api, graph):
    await guest_with_media(api, graph)
    before = _counts(api.server, api.tenant.id)

    no_token = await api.call("POST", "/admin/guests/erase", None, json={"phone": GUEST_PHONE})
    attendant = await api.call("POST", "/admin/guests/erase", "attendant", json={"phone": GUEST_PHONE})
    dry_text = await api.call("POST", "/admin/guests/erase", "admin", json={"phone": GUEST_PHONE, "dryRun": "talvez"})
    neither = await api.call("POST", "/admin/guests/erase", "admin", json={"dryRun": True})

    assert no_token.status_code == 401
    assert attendant.status_code == 403
    assert dry_text.status_code == 400
    assert neither.status_code == 400
    assert _counts(api.server, api.tenant.id) == before
