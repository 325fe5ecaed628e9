"""The dashboard's numbers: counts against a hand-built data set, the cache and its invalidation."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hotelbot.storage.migrations import migrate
from tests.support.db import eventually, rows
from tests.support.fakes import FakeGraph, FakeN8N
from tests.support.server import PASSWORD, ServerProcess, launch
from tests.support.stats_data import (
    CONVERSATIONS, RANGE, STATS, get_stats, moment, seed_conversation, seed_tenant, stats_version, tenant_today, user_id,
)
from tests.support.webhooks import execute, text_message


@dataclasses.dataclass
class SharedServer:
    server: ServerProcess
    seeded: dict[str, Any]


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Iterator[SharedServer]:
    """One server for the tests that change nothing: tenant 0 holds the hand-built data set, tenant 1 nothing."""
    graph, n8n = FakeGraph().start(), FakeN8N().start()
    process = launch(tmp_path_factory.mktemp("stats") / "data", graph.url, n8n.url)
    try:
        seeded = seed_tenant(process, process.tenant.id, user_id(process, "attendant"))
        login = httpx.post(process.base_url + "/auth/login", json={"email": process.tenant.users["admin"], "password": PASSWORD})
        seeded["token"] = login.json()["accessToken"]
        yield SharedServer(process, seeded)
    finally:
        process.stop()
        graph.stop()
        n8n.stop()


@pytest.fixture
async def seeded(server, http):
    """The hand-built data set in tenant 0, and an admin token of that tenant."""
    ids = seed_tenant(server, server.tenant.id, user_id(server, "attendant"))
    ids["token"] = await server.token(http)
    return ids


async def test_dashboard_counts_every_figure(shared, http):
    server, seeded = shared.server, shared.seeded
    response = await get_stats(server, http, seeded["token"])

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["total"] == 7
    assert body["byStatus"] == {"BOT": 3, "OPEN": 1, "IN_PROGRESS": 1, "CLOSED": 2}
    assert body["byPriority"] == {"LOW": 1, "MEDIUM": 3, "HIGH": 2, "URGENT": 1}
    assert body["byHotelUnit"] == {"Campos do Jordão": 3, "Ubatuba": 2, "none": 2}
    assert body["openEscalationsByPriority"] == {"LOW": 0, "MEDIUM": 0, "HIGH": 1, "URGENT": 1}
    assert body["escalationsHandledToday"] == 2
    assert body["medianFirstResponseSeconds"] == 210.0
    assert body["conversationsActiveToday"] == 5
    assert body["aiFinishedShare"] == 0.4
    assert body["hotelUnit"] is None
    assert body["date"] == seeded["today"].isoformat()
    assert body["timeZone"] == "America/Sao_Paulo"


async def test_dashboard_counts_one_unit(shared, http):
    server, seeded = shared.server, shared.seeded
    response = await get_stats(server, http, seeded["token"], hotelUnit="  campos do jordao ")

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    assert body["byStatus"] == {"BOT": 1, "OPEN": 0, "IN_PROGRESS": 1, "CLOSED": 1}
    assert body["byPriority"] == {"LOW": 0, "MEDIUM": 2, "HIGH": 1, "URGENT": 0}
    assert body["byHotelUnit"] == {"Campos do Jordão": 3}
    assert body["openEscalationsByPriority"] == {"LOW": 0, "MEDIUM": 0, "HIGH": 1, "URGENT": 0}
    assert body["escalationsHandledToday"] == 1
    assert body["medianFirstResponseSeconds"] == 120.0
    assert body["conversationsActiveToday"] == 2
    assert body["aiFinishedShare"] == 0.5
    assert body["hotelUnit"] == "Campos do Jordão"


async def test_dashboard_counts_conversations_without_unit(shared, http):
    server, seeded = shared.server, shared.seeded
    response = await get_stats(server, http, seeded["token"], hotelUnit="none")

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2
    assert body["byStatus"] == {"BOT": 1, "OPEN": 0, "IN_PROGRESS": 0, "CLOSED": 1}
    assert body["byPriority"] == {"LOW": 1, "MEDIUM": 0, "HIGH": 1, "URGENT": 0}
    assert body["byHotelUnit"] == {"none": 2}
    assert body["openEscalationsByPriority"] == {"LOW": 0, "MEDIUM": 0, "HIGH": 0, "URGENT": 0}
    assert body["escalationsHandledToday"] == 1
    assert body["medianFirstResponseSeconds"] == 300.0
    assert body["conversationsActiveToday"] == 2
    assert body["aiFinishedShare"] == 0.5


async def test_dashboard_all_equals_absent_unit(shared, http):
    server, seeded = shared.server, shared.seeded
    everything = (await get_stats(server, http, seeded["token"])).json()
    response = await get_stats(server, http, seeded["token"], hotelUnit="all")

    assert response.status_code == 200
    assert response.headers["X-Cache"] == "HIT"
    assert response.json() == everything


async def test_dashboard_of_empty_tenant(shared, http):
    server = shared.server
    response = await get_stats(server, http, await server.token(http, tenant=server.tenants[1]))

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 0
    assert body["byStatus"] == {"BOT": 0, "OPEN": 0, "IN_PROGRESS": 0, "CLOSED": 0}
    assert body["byHotelUnit"] == {"Campos do Jordão": 0, "Ubatuba": 0, "none": 0}
    assert body["escalationsHandledToday"] == 0
    assert body["medianFirstResponseSeconds"] is None
    assert body["conversationsActiveToday"] == 0
    assert body["aiFinishedShare"] is None


@pytest.mark.parametrize("label", ["attendant", "attendant_campos", "supervisor"])
async def test_every_role_reads_stats(shared, http, label):
    server, seeded = shared.server, shared.seeded
    response = await get_stats(server, http, await server.token(http, label))

    assert response.status_code == 200
    assert response.json()["total"] == 7


async def test_range_counts_every_figure(shared, http):
    server, seeded = shared.server, shared.seeded
    today = seeded["today"]
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    response = await get_stats(server, http, seeded["token"], RANGE, **{"from": yesterday, "to": today.isoformat()})

    assert response.status_code == 200
    body = response.json()
    assert body["from"] == yesterday
    assert body["to"] == today.isoformat()
    assert body["escalationsByPriority"] == {"LOW": 1, "MEDIUM": 1, "HIGH": 2, "URGENT": 1}
    assert body["escalationsHandled"] == 3
    assert body["medianFirstResponseSeconds"] == 450.0
    assert body["conversationsActive"] == 6
    assert body["aiFinishedShare"] == 0.1667
    assert body["hotelUnit"] is None


async def test_range_of_one_old_day(shared, http):
    server, seeded = shared.server, shared.seeded
    old_day = (seeded["today"] - dt.timedelta(days=3)).isoformat()
    response = await get_stats(server, http, seeded["token"], RANGE, **{"from": old_day, "to": old_day})

    assert response.status_code == 200
    body = response.json()
    assert body["conversationsActive"] == 1
    assert body["aiFinishedShare"] == 1.0
    assert body["escalationsHandled"] == 0
    assert body["escalationsByPriority"] == {"LOW": 0, "MEDIUM": 0, "HIGH": 0, "URGENT": 0}
    assert body["medianFirstResponseSeconds"] is None


async def test_range_of_366_days_accepted(shared, http):
    server, seeded = shared.server, shared.seeded
    today = seeded["today"]
    first = (today - dt.timedelta(days=365)).isoformat()
    response = await get_stats(server, http, seeded["token"], RANGE, **{"from": first, "to": today.isoformat()})

    assert response.status_code == 200
    assert response.json()["conversationsActive"] == 7


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"to": "2026-01-10"}, "from", "Campo obrigatório."),
        ({"from": "2026-01-10"}, "to", "Campo obrigatório."),
        ({"from": "10/01/2026", "to": "2026-01-10"}, "from", "Deve ser uma data no formato AAAA-MM-DD."),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from", "Deve ser uma data no formato AAAA-MM-DD."),
        ({"from": "2026-01-10", "to": "2026-1-11"}, "to", "Deve ser uma data no formato AAAA-MM-DD."),
        ({"from": "2026-01-10", "to": "2026-01-09"}, "to", "Não pode ser anterior a from."),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to", "O intervalo pode ter no máximo 366 dias."),
        ({"from": "2026-01-10" * 1000, "to": "2026-01-10"}, "from", "Deve ser uma data no formato AAAA-MM-DD."),
    ],
)
async def test_range_rejects_invalid_dates(shared, http, params, field, message):
    server = shared.server
    response = await get_stats(server, http, await server.token(http), RANGE, **params)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["details"][0]["field"] == field
    assert body["details"][0]["message"] == message


async def test_range_over_366_days_names_limit(shared, http):
    server = shared.server
    response = await get_stats(server, http, await server.token(http), RANGE, **{"from": "2025-01-01", "to": "2026-01-02"})

    assert response.status_code == 400
    assert response.json()["details"] == [
        {"field": "to", "message": "O intervalo pode ter no máximo 366 dias.", "limit": 366}
    ]


async def test_unknown_unit_rejected(shared, http):
    server = shared.server
    response = await get_stats(server, http, await server.token(http), hotelUnit="Gramado")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["details"] == [{
        "field": "hotelUnit",
        "message": "Unidade hoteleira desconhecida. Unidades válidas: all, none, Campos do Jordão, Ubatuba.",
    }]


async def test_other_tenants_unit_rejected(server, http):
    other = server.tenants[1]
    execute(server, "INSERT INTO hotel_units (tenant_id, slug, name) VALUES (?, 'gramado', 'Gramado')", (other.id,))
    execute(server, "UPDATE tenants SET updated_at = '2999-01-01T00:00:00.000Z' WHERE id = ?", (other.id,))
    other_token = await server.token(http, tenant=other)

    # The tenant directory reloads within a second of the tenants table changing.
    deadline = time.monotonic() + 10
    while (await get_stats(server, http, other_token, hotelUnit="Gramado")).status_code != 200:
        assert time.monotonic() < deadline, "the other tenant never saw its new unit"
        await asyncio.sleep(0.1)
    response = await get_stats(server, http, await server.token(http), hotelUnit="Gramado")

    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "hotelUnit"


@pytest.mark.parametrize("path", [STATS, RANGE])
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YWRtaW46c2VuaGE="}],
)
async def test_stats_require_login(shared, http, path, headers):
    server = shared.server
    response = await http.get(server.base_url + path, headers=headers, params={"from": "2026-01-01", "to": "2026-01-02"})

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"


async def test_refresh_token_rejected(shared, http):
    server = shared.server
    refresh = (await server.login(http, server.tenant.users["admin"]))["refreshToken"]

    response = await get_stats(server, http, refresh)

    assert response.status_code == 401


async def test_stats_in_users_language(shared, http):
    server, other = shared.server, shared.server.tenants[1]
    execute(server, "UPDATE users SET language = 'en' WHERE email = ?", (other.users["supervisor"],))
    response = await get_stats(server, http, await server.token(http, "supervisor", other), hotelUnit="Gramado")

    assert response.status_code == 400
    assert response.json()["details"][0]["message"] == "Unknown hotel unit. Valid units: all, none, Campos do Jordão, Ubatuba."


# -- the cache -----------------------------------------------------------------


async def test_second_call_served_from_cache(server, http, seeded):
    first = await get_stats(server, http, seeded["token"])
    version = stats_version(server, server.tenant.id)
    # Change a counted field behind the server's back and put the version back,
    # so only a cached response can still show the old numbers.
    execute(server, "UPDATE conversations SET priority = 'URGENT' WHERE id = ?", (seeded["c1"],))
    execute(server, "UPDATE stats_versions SET version = ? WHERE tenant_id = ?", (version, server.tenant.id))

    second = await get_stats(server, http, seeded["token"])

    assert first.headers["X-Cache"] == "MISS"
    assert second.headers["X-Cache"] == "HIT"
    assert second.json() == first.json()
    assert second.json()["byPriority"]["URGENT"] == 1
    assert "Stats of tenant %s counted" % server.tenant.id in server.log()


async def test_cached_stats_survive_restart(server, http, seeded):
    first = await get_stats(server, http, seeded["token"])

    server.restart()
    second = await get_stats(server, http, await server.token(http))

    assert first.headers["X-Cache"] == "MISS"
    assert second.headers["X-Cache"] == "HIT"
    assert second.json() == first.json()


async def test_assign_drops_cached_stats(server, http, seeded):
    await get_stats(server, http, seeded["token"])

    assigned = await http.post(
        server.base_url + f"/conversations/{seeded['c1']}/assign",
        json={"assignedToId": user_id(server, "attendant")},
        headers={"Authorization": f"Bearer {seeded['token']}"},
    )
    response = await get_stats(server, http, seeded["token"])

    assert assigned.status_code == 200
    assert response.headers["X-Cache"] == "MISS"
    body = response.json()
    assert body["byStatus"] == {"BOT": 2, "OPEN": 1, "IN_PROGRESS": 2, "CLOSED": 2}
    assert body["aiFinishedShare"] == 0.2


async def test_close_drops_cached_stats(server, http, seeded):
    await get_stats(server, http, seeded["token"])

    closed = await http.post(
        server.base_url + f"/conversations/{seeded['c4']}/close",
        headers={"Authorization": f"Bearer {seeded['token']}"},
    )
    response = await get_stats(server, http, seeded["token"])

    assert closed.status_code == 200
    assert response.headers["X-Cache"] == "MISS"
    body = response.json()
    assert body["byStatus"] == {"BOT": 3, "OPEN": 1, "IN_PROGRESS": 0, "CLOSED": 3}
    assert body["openEscalationsByPriority"] == {"LOW": 0, "MEDIUM": 0, "HIGH": 0, "URGENT": 1}
    assert body["escalationsHandledToday"] == 3


async def test_escalate_drops_cached_stats(server, http, seeded):
    await get_stats(server, http, seeded["token"])

    escalated = await http.post(
        server.base_url + "/n8n/escalate",
        json={"phone": seeded["phones"]["c1"], "reason": "Hóspede quer falar com a recepção", "priority": "HIGH"},
        headers={"X-API-Key": server.tenant.api_key},
    )
    response = await get_stats(server, http, seeded["token"])

    assert escalated.status_code == 200
    assert response.headers["X-Cache"] == "MISS"
    body = response.json()
    assert body["byStatus"] == {"BOT": 2, "OPEN": 2, "IN_PROGRESS": 1, "CLOSED": 2}
    assert body["byPriority"] == {"LOW": 1, "MEDIUM": 2, "HIGH": 3, "URGENT": 1}
    assert body["openEscalationsByPriority"] == {"LOW": 0, "MEDIUM": 0, "HIGH": 2, "URGENT": 1}
    assert body["aiFinishedShare"] == 0.2


@pytest.mark.parametrize(
    ("label", "statement", "figure", "expected"),
    [
        ("c1", "UPDATE conversations SET status = 'CLOSED' WHERE id = :id", "byStatus", {"BOT": 2, "CLOSED": 3}),
        ("c3", "UPDATE escalations SET status = 'IN_PROGRESS' WHERE conversation_id = :id",
         "openEscalationsByPriority", {"URGENT": 1}),
    ],
)
async def test_direct_sql_change_drops_cached_stats(server, http, seeded, label, statement, figure, expected):
    await get_stats(server, http, seeded["token"])
    version = stats_version(server, server.tenant.id)

    execute(server, statement, {"id": seeded[label]})
    response = await get_stats(server, http, seeded["token"])

    assert stats_version(server, server.tenant.id) != version
    assert response.headers["X-Cache"] == "MISS"
    for name, value in expected.items():
        assert response.json()[figure][name] == value


@pytest.fixture
def seeded_file(tmp_path) -> Iterator[tuple[sqlite3.Connection, dict[str, str]]]:
    """A migrated database file holding the hand-built data set, for the triggers alone."""
    path = tmp_path / "hotelbot.db"
    migrate(path)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA foreign_keys = OFF")
    today = tenant_today()
    ids = {
        seed.label: seed_conversation(connection, "tenant", seed, f"55119{index:08d}", "attendant", today)
        for index, seed in enumerate(CONVERSATIONS)
    }
    connection.execute("UPDATE stats_versions SET day_start = ?", (moment(("today", 0), today),))
    yield connection, ids
    connection.close()


TRIGGER_CASES = [
    # (conversation, statement, whether the version changes)
    ("c1", "UPDATE conversations SET status = 'CLOSED' WHERE id = :id", True),
    ("c1", "UPDATE conversations SET priority = 'LOW' WHERE id = :id", True),
    ("c1", "UPDATE conversations SET hotel_unit = 'ubatuba' WHERE id = :id", True),
    ("c1", "UPDATE conversations SET hotel_unit = NULL WHERE id = :id", True),
    ("c1", "UPDATE conversations SET assigned_to_id = 'attendant' WHERE id = :id", True),
    ("c4", "UPDATE conversations SET assigned_to_id = NULL WHERE id = :id", True),
    ("c2", "DELETE FROM conversations WHERE id = :id", True),
    ("c7", "UPDATE conversations SET last_inbound_at = strftime('%Y-%m-%dT%H:%M:%fZ') WHERE id = :id", True),
    ("c3", "UPDATE escalations SET status = 'IN_PROGRESS' WHERE conversation_id = :id", True),
    ("c3", "UPDATE escalations SET priority = 'LOW' WHERE conversation_id = :id", True),
    ("c3", "UPDATE escalations SET hotel_unit = NULL WHERE conversation_id = :id", True),
    ("c3", "UPDATE escalations SET first_response_at = '2026-01-01T00:00:00.000Z' WHERE conversation_id = :id", True),
    ("c6", "UPDATE escalations SET resolved_at = NULL WHERE conversation_id = :id", True),
    ("c3", "DELETE FROM escalations WHERE conversation_id = :id", True),
    ("c1", "UPDATE conversations SET status = status, priority = priority, hotel_unit = hotel_unit WHERE id = :id", False),
    ("c1", "UPDATE conversations SET unread_count = 9, last_message_at = '2999-01-01T00:00:00.000Z' WHERE id = :id", False),
    ("c1", "UPDATE conversations SET last_inbound_at = strftime('%Y-%m-%dT%H:%M:%fZ') WHERE id = :id", False),
    ("c3", "UPDATE escalations SET reason = 'Outro motivo' WHERE conversation_id = :id", False),
    ("c1", "UPDATE contacts SET name = 'Outro nome'", False),
]


@pytest.mark.parametrize(("label", "statement", "changes"), TRIGGER_CASES)
def test_trigger_changes_version(seeded_file, label, statement, changes):
    connection, ids = seeded_file
    before = connection.execute("SELECT version FROM stats_versions").fetchone()[0]

    if statement.startswith("DELETE FROM conversations"):
        connection.execute("DELETE FROM escalations WHERE conversation_id = ?", (ids[label],))
        before = connection.execute("SELECT version FROM stats_versions").fetchone()[0]
    connection.execute(statement, {"id": ids[label]})
    after = connection.execute("SELECT version FROM stats_versions").fetchone()[0]

    assert (after != before) is changes


def test_new_conversation_changes_version(seeded_file):
    connection, _ = seeded_file
    before = connection.execute("SELECT version FROM stats_versions").fetchone()[0]

    seed_conversation(connection, "tenant", CONVERSATIONS[0], "5511987650000", None, tenant_today())
    after = connection.execute("SELECT version FROM stats_versions").fetchone()[0]

    assert after != before


async def test_unchanged_update_keeps_cache(server, http, seeded):
    await get_stats(server, http, seeded["token"])
    version = stats_version(server, server.tenant.id)

    execute(server, "UPDATE conversations SET status = status, unread_count = 5 WHERE id = ?", (seeded["c1"],))
    response = await get_stats(server, http, seeded["token"])

    assert stats_version(server, server.tenant.id) == version
    assert response.headers["X-Cache"] == "HIT"


async def test_new_guest_message_drops_cached_stats(server, http, seeded):
    await get_stats(server, http, seeded["token"])
    now = str(int(time.time()))

    posted = await server.post_webhook(http, text_message("Boa noite", wa_id="5511988887777", timestamp=now))

    assert posted.status_code == 200

    await eventually(lambda: rows(server, "SELECT 1 FROM messages WHERE content = 'Boa noite'"))
    response = await get_stats(server, http, seeded["token"])
    assert response.headers["X-Cache"] == "MISS"
    body = response.json()
    assert body["total"] == 8
    assert body["byStatus"]["BOT"] == 4
    assert body["conversationsActiveToday"] == 6
    assert body["aiFinishedShare"] == 0.5


async def test_first_message_today_drops_cached_stats(server, http, seeded):
    # c7's guest last wrote three days ago: a message now makes it active today.
    first = (await get_stats(server, http, seeded["token"])).json()
    now = str(int(time.time()))

    posted = await server.post_webhook(http, text_message("Oi de novo", wa_id=seeded["phones"]["c7"], timestamp=now))
    await eventually(lambda: rows(server, "SELECT 1 FROM messages WHERE content = 'Oi de novo'"))
    response = await get_stats(server, http, seeded["token"])

    assert posted.status_code == 200
    assert first["conversationsActiveToday"] == 5
    assert response.headers["X-Cache"] == "MISS"
    assert response.json()["total"] == 7
    assert response.json()["conversationsActiveToday"] == 6


async def test_second_message_today_keeps_cache(server, http, seeded):
    # c1's guest already wrote today: another message changes no figure.
    await get_stats(server, http, seeded["token"])
    now = str(int(time.time()))

    await server.post_webhook(http, text_message("Mais uma coisa", wa_id=seeded["phones"]["c1"], timestamp=now))
    await eventually(lambda: rows(server, "SELECT 1 FROM messages WHERE content = 'Mais uma coisa'"))
    response = await get_stats(server, http, seeded["token"])

    assert response.headers["X-Cache"] == "HIT"
    assert response.json()["conversationsActiveToday"] == 5


async def test_range_cached_and_dropped(server, http, seeded):
    today = seeded["today"].isoformat()
    params = {"from": today, "to": today}
    first = await get_stats(server, http, seeded["token"], RANGE, **params)
    second = await get_stats(server, http, seeded["token"], RANGE, **params)

    execute(server, "UPDATE escalations SET status = 'RESOLVED', resolved_at = ? WHERE status = 'PENDING'",
            (dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),))
    third = await get_stats(server, http, seeded["token"], RANGE, **params)

    assert first.headers["X-Cache"] == "MISS"
    assert second.headers["X-Cache"] == "HIT"
    assert third.headers["X-Cache"] == "MISS"
    assert first.json()["escalationsHandled"] == 2
    assert third.json()["escalationsHandled"] == 3


async def test_tenants_never_share_cached_stats(server, http, seeded):
    other = server.tenants[1]
    other_token = await server.token(http, tenant=other)
    mine = await get_stats(server, http, seeded["token"])
    # Give the other tenant the same version, so the cache keys differ only by tenant id.
    execute(
        server,
        "INSERT OR REPLACE INTO stats_versions (tenant_id, version, day_start)"
        " SELECT ?, version, day_start FROM stats_versions WHERE tenant_id = ?",
        (other.id, server.tenant.id),
    )

    theirs = await get_stats(server, http, other_token)
    theirs_again = await get_stats(server, http, other_token)

    assert stats_version(server, other.id) == stats_version(server, server.tenant.id)
    assert mine.json()["total"] == 7
    assert theirs.headers["X-Cache"] == "MISS"
    assert theirs.json()["total"] == 0
    assert theirs_again.headers["X-Cache"] == "HIT"
    assert theirs_again.json()["total"] == 0
    assert theirs.json()["byHotelUnit"] == {"Campos do Jordão": 0, "Ubatuba": 0, "none": 0}
