"""Retention: per-tenant months, a run with the clock moved forward, the audit trail's days, and the doctor."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from tests.support.attendants import Api, guest_writes, phone
from tests.support.db import rows
from tests.support.guests import guest_with_media


@pytest.fixture
async def api(server, http) -> Api:
    return Api(server, http, server.tenant)


@pytest.fixture
async def other(server, http) -> Api:
    return Api(server, http, server.tenants[1])


def hotelbot(server, *args: str, log_level: str | None = None) -> subprocess.CompletedProcess:
    """Run a hotelbot command on the server's data directory, in English."""
    env = {key: value for key, value in server.env.items() if key != "HOTELBOT_LOG_LEVEL"}
    env["HOTELBOT_LANGUAGE"] = "en"
    if log_level:
        env["HOTELBOT_LOG_LEVEL"] = log_level
    return subprocess.run(
        [sys.executable, "-m", "hotelbot", *args, "--data-dir", str(server.data_dir)],
        env=env, capture_output=True, text=True, timeout=60,
    )


def _in_days(days: int) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _count(server, sql: str, params: tuple = ()) -> int:
    return rows(server, sql, params)[0]["n"]


async def test_tenant_update_sets_months(api):
    updated = hotelbot(api.server, "tenant", "update", "--tenant", api.tenant.id, "--retention-months", "6")
    negative = hotelbot(api.server, "tenant", "update", "--tenant", api.tenant.id, "--retention-months", "-1")

    assert updated.returncode == 0, updated.stderr
    assert negative.returncode == 1
    assert negative.stderr.strip() == "--retention-months must be a whole number from 0 to 1200."
    assert rows(api.server, "SELECT retention_months FROM tenants WHERE id = ?", (api.tenant.id,)) == [{"retention_months": 6}]
    audited = rows(api.server, "SELECT actor_type, details FROM audit_events WHERE action = 'TENANT_UPDATED'")
    assert audited == [{"actor_type": "CLI", "details": '{"fields": ["retention_months"]}'}]


async def test_run_with_clock_moved_forward(api, other, graph):
    guest = await guest_with_media(api, graph)
    open_conversation = await guest_writes(api, "Ainda aqui", wa_id=phone(2), name="Bruno")
    closed = await api.call("POST", f"/conversations/{guest.conversation_id}/close", "supervisor")
    assert closed.status_code == 200
    other_conversation = await guest_writes(other, "Outro hotel", wa_id=phone(3))
    assert hotelbot(api.server, "tenant", "update", "--tenant", api.tenant.id, "--retention-months", "6").returncode == 0

    today = hotelbot(api.server, "retention", "run")
    later = hotelbot(api.server, "retention", "run", "--as-of", _in_days(7 * 31), log_level="INFO")

    assert today.returncode == 0, today.stderr
    assert json.loads(today.stdout)["tenants"][0]["messages"] == 0
    assert later.returncode == 0, later.stderr
    run = json.loads(later.stdout)["tenants"]
    assert [(item["tenantId"], item["messages"], item["mediaFiles"], item["conversations"]) for item in run] == [
        (api.tenant.id, 5, 2, 1),
    ]
    assert f"Retention of tenant {api.tenant.id} (6 months, before {run[0]['before']}): 5 messages, 2 media files deleted, 1 conversations anonymised" in later.stderr
    assert _count(api.server, "SELECT count(*) AS n FROM messages WHERE tenant_id = ?", (api.tenant.id,)) == 0
    assert list((api.server.data_dir / "media" / api.tenant.id).iterdir()) == []
    assert _count(api.server, "SELECT count(*) AS n FROM conversations WHERE tenant_id = ?", (api.tenant.id,)) == 2
    anonymised = rows(api.server, "SELECT k.phone, k.name FROM contacts k JOIN conversations c ON c.contact_id = k.id WHERE c.id = ?", (guest.conversation_id,))
    assert anonymised == [{"phone": None, "name": None}]
    still_open = rows(api.server, "SELECT k.phone FROM contacts k JOIN conversations c ON c.contact_id = k.id WHERE c.id = ?", (open_conversation,))
    assert still_open == [{"phone": phone(2)}]
    assert _count(api.server, "SELECT count(*) AS n FROM messages WHERE conversation_id = ?", (other_conversation,)) == 1

    audited = (await api.call("GET", "/audit?action=RETENTION_APPLIED", "admin")).json()["items"]
    assert [item["actor"]["type"] for item in audited] == ["CLI", "CLI"]
    assert audited[0]["details"] == {"cutoff": run[0]["before"], "messages": 5, "mediaFiles": 2, "conversations": 1}


async def test_audit_entries_expire_by_days(api):
    await api.user_id("admin")
    before = _count(api.server, "SELECT count(*) AS n FROM audit_events")
    assert before > 0

    kept = hotelbot(api.server, "retention", "run", "--as-of", _in_days(1000))
    assert kept.returncode == 0, kept.stderr
    assert _count(api.server, "SELECT count(*) AS n FROM audit_events") == before

    expired = hotelbot(api.server, "retention", "run", "--as-of", _in_days(1826))
    assert expired.returncode == 0, expired.stderr
    assert _count(api.server, "SELECT count(*) AS n FROM audit_events") == 0
    assert _count(api.server, "SELECT count(*) AS n FROM audit_purge_window") == 0


async def test_run_rejects_bad_time(api):
    result = hotelbot(api.server, "retention", "run", "--as-of", "amanhã")

    assert result.returncode == 1
    assert result.stderr.strip() == "Invalid --as-of time amanhã: use ISO 8601, e.g. 2027-01-31T12:00:00Z."


async def test_doctor_shows_policy(api):
    assert hotelbot(api.server, "tenant", "update", "--tenant", api.tenant.id, "--retention-months", "12").returncode == 0

    doctor = hotelbot(api.server, "doctor")

    lines = doctor.stdout.splitlines()
    assert "[OK  ] Tenant Hotel 0: guests' messages and media are deleted after 12 month(s)." in lines
    assert "[OK  ] Tenant Hotel 1: guests' messages and media are kept with no time limit." in lines
    assert "[OK  ] Audit entries are deleted after 1825 day(s)." in lines
