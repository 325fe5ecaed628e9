"""The audit trail: every action of a conversation's life once, the admins' search, and its append-only table."""

from __future__ import annotations

import sqlite3

import pytest

from hotelbot.clock import now_iso as iso_now
from tests.support.attendants import Api, guest_writes, phone
from tests.support.db import eventually, rows
from tests.support.media import jpeg, media_webhook
from tests.support.webhooks import new_wamid


@pytest.fixture
async def api(server, http) -> Api:
    return Api(server, http, server.tenant)


@pytest.fixture
async def other(server, http) -> Api:
    """The second tenant's users."""
    return Api(server, http, server.tenants[1])


async def _guest_with_photo(api: Api, graph) -> tuple[str, str]:
    """Return (conversation id, signed media URL) of a guest who wrote a text and sent a photo."""
    conversation_id = await guest_writes(api, "Bom dia", wa_id=phone(1))
    content = jpeg()
    graph.add_media("9001", content, "image/jpeg")
    response = await api.server.post_webhook(api.http, media_webhook("inbound-image.json", "9001", content, new_wamid()))
    assert response.status_code == 200
    await eventually(lambda: rows(api.server, "SELECT id FROM media_files"))
    listed = await api.call("GET", f"/conversations/{conversation_id}/messages", "attendant")
    media_url = next(item["mediaUrl"] for item in listed.json()["items"] if item["type"] == "IMAGE")
    return conversation_id, media_url


async def _ok(response) -> dict:
    assert response.status_code in (200, 201), response.text
    return response.json()


async def test_conversation_history_full_scenario(api, graph, http):
    started = iso_now()
    conversation_id, media_url = await _guest_with_photo(api, graph)
    attendant_id = await api.user_id("attendant")
    supervisor_id = await api.user_id("supervisor")

    await _ok(await api.call("POST", f"/conversations/{conversation_id}/assign", "attendant", json={"assignedToId": attendant_id}))
    await _ok(await api.call("PATCH", f"/conversations/{conversation_id}", "supervisor", json={"priority": "HIGH"}))
    sent = await _ok(await api.call("POST", "/messages/send-text", "attendant", json={"conversationId": conversation_id, "content": "Olá!"}))
    opened = await api.call("GET", media_url.split("?")[0], "attendant")
    assert opened.status_code == 200
    await _ok(await api.call("POST", f"/conversations/{conversation_id}/release", "attendant"))
    escalated = await http.post(
        api.server.base_url + "/n8n/escalate", headers={"X-API-Key": api.tenant.api_key},
        json={"phone": phone(1), "reason": "Pediu um atendente", "priority": "URGENT"},
    )
    assert escalated.status_code == 200, escalated.text
    await _ok(await api.call("POST", f"/conversations/{conversation_id}/close", "supervisor"))
    finished = iso_now()

    history = await _ok(await api.call("GET", f"/conversations/{conversation_id}/events?limit=200", "attendant"))
    events = history["items"]
    assert history["nextCursor"] is None
    assert [(event["action"], event["actor"]["type"], event["actor"]["id"]) for event in events] == [
        ("AI_LOCKED", "USER", attendant_id),
        ("CONVERSATION_ASSIGNED", "USER", attendant_id),
        ("CONVERSATION_UPDATED", "USER", supervisor_id),
        ("MESSAGE_SENT", "USER", attendant_id),
        ("MEDIA_OPENED", "USER", attendant_id),
        ("AI_UNLOCKED", "USER", attendant_id),
        ("CONVERSATION_RELEASED", "USER", attendant_id),
        ("AI_LOCKED", "N8N", None),
        ("CONVERSATION_ESCALATED", "N8N", None),
        ("AI_UNLOCKED", "USER", supervisor_id),
        ("CONVERSATION_CLOSED", "USER", supervisor_id),
    ]
    for event in events:
        assert started <= event["createdAt"] <= finished
        assert event["conversationId"] == conversation_id
        assert event["tenantId"] == api.tenant.id
    assert events[1]["target"] == attendant_id
    assert events[1]["details"] == {"previousStatus": "BOT"}
    assert events[2]["details"] == {"priority": "HIGH"}
    assert events[3]["target"] == sent["message"]["id"]
    assert events[3]["details"] == {"type": "TEXT"}
    assert events[4]["details"] == {"kind": "IMAGE", "via": "token"}
    assert events[8]["details"] == {"priority": "URGENT", "hotelUnit": None}
    assert events[10]["details"] == {"previousStatus": "OPEN"}


async def test_history_has_no_personal_data(api, graph):
    conversation_id, _ = await _guest_with_photo(api, graph)
    attendant_id = await api.user_id("attendant")
    await _ok(await api.call("POST", f"/conversations/{conversation_id}/assign", "attendant", json={"assignedToId": attendant_id}))
    await _ok(await api.call("POST", "/messages/send-text", "attendant", json={"conversationId": conversation_id, "content": "Texto único XYZ-42"}))

    stored = rows(api.server, "SELECT * FROM audit_events")
    text = repr(stored)
    assert phone(1) not in text
    assert "XYZ-42" not in text
    assert "Ana" not in text


async def test_history_pages_with_cursor(api, graph):
    conversation_id = await guest_writes(api, wa_id=phone(2))
    attendant_id = await api.user_id("attendant")
    await _ok(await api.call("POST", f"/conversations/{conversation_id}/assign", "attendant", json={"assignedToId": attendant_id}))
    await _ok(await api.call("POST", f"/conversations/{conversation_id}/close", "attendant"))

    first = await _ok(await api.call("GET", f"/conversations/{conversation_id}/events?limit=3", "attendant"))
    second = await _ok(await api.call("GET", f"/conversations/{conversation_id}/events?limit=3&cursor={first['nextCursor']}", "attendant"))
    assert [event["action"] for event in first["items"]] == ["AI_LOCKED", "CONVERSATION_ASSIGNED", "AI_UNLOCKED"]
    assert [event["action"] for event in second["items"]] == ["CONVERSATION_CLOSED"]
    assert second["nextCursor"] is None


async def test_logins_and_user_administration(api):
    failed = await api.http.post(api.server.base_url + "/auth/login", json={"email": api.tenant.users["attendant"], "password": "errada-123456"})
    assert failed.status_code == 401
    attendant_id = await api.user_id("attendant")
    admin_id = await api.user_id("admin")
    created = await _ok(await api.call("POST", "/users", "admin", json={
        "email": "nova@hotel.example", "name": "Nova", "role": "ATTENDANT", "password": "senha-segura-123", "language": "pt-BR",
    }))
    new_id = created["user"]["id"]
    await _ok(await api.call("PATCH", f"/users/{new_id}", "admin", json={"role": "SUPERVISOR"}))
    await _ok(await api.call("POST", f"/users/{new_id}/deactivate", "admin"))

    failures = await _ok(await api.call("GET", "/audit?action=LOGIN_FAILED", "admin"))
    assert [(item["actor"]["id"], item["details"]) for item in failures["items"]] == [(attendant_id, {"reason": "password"})]

    by_admin = await _ok(await api.call("GET", f"/audit?userId={admin_id}", "admin"))
    assert [item["action"] for item in by_admin["items"]] == ["USER_DEACTIVATED", "USER_UPDATED", "USER_CREATED", "LOGIN"]
    assert by_admin["items"][0]["target"] == new_id
    assert by_admin["items"][1]["details"] == {"fields": ["role"]}
    assert by_admin["items"][2]["details"] == {"role": "ATTENDANT"}


async def test_audit_filters_by_time_and_pages(api):
    await api.user_id("admin")
    middle = iso_now()
    await api.user_id("supervisor")

    later = await _ok(await api.call("GET", f"/audit?action=LOGIN&from={middle}", "admin"))
    earlier = await _ok(await api.call("GET", f"/audit?action=LOGIN&to={middle}", "admin"))
    assert len(later["items"]) == 1
    assert len(earlier["items"]) == 1
    assert later["items"][0]["actor"]["id"] == await api.user_id("supervisor")

    first = await _ok(await api.call("GET", "/audit?action=LOGIN&limit=1", "admin"))
    second = await _ok(await api.call("GET", f"/audit?action=LOGIN&limit=1&cursor={first['nextCursor']}", "admin"))
    assert first["items"][0]["id"] == later["items"][0]["id"]
    assert second["items"][0]["id"] == earlier["items"][0]["id"]
    assert second["nextCursor"] is None


async def test_audit_rejects_bad_requests(api):
    no_token = await api.call("GET", "/audit", None)
    attendant = await api.call("GET", "/audit", "attendant")
    supervisor = await api.call("GET", "/audit", "supervisor")
    bad_action = await api.call("GET", "/audit?action=DROP", "admin")
    bad_time = await api.call("GET", "/audit?from=ontem", "admin")
    bad_cursor = await api.call("GET", "/audit?cursor=%%%", "admin")
    long_user = await api.call("GET", "/audit?userId=" + "x" * 65, "admin")

    assert no_token.status_code == 401
    assert attendant.status_code == 403
    assert supervisor.status_code == 403
    assert bad_action.status_code == 400
    assert bad_action.json()["details"][0]["field"] == "action"
    assert bad_time.status_code == 400
    assert bad_time.json()["details"][0]["field"] == "from"
    assert bad_cursor.status_code == 400
    assert long_user.status_code == 400


async def test_other_tenant_sees_nothing(api, other):
    conversation_id = await guest_writes(api, wa_id=phone(3))
    attendant_id = await api.user_id("attendant")
    await _ok(await api.call("POST", f"/conversations/{conversation_id}/assign", "attendant", json={"assignedToId": attendant_id}))

    foreign = await other.call("GET", f"/conversations/{conversation_id}/events", "supervisor")
    unknown = await api.call("GET", "/conversations/0123456789abcdef0123456789abcdef/events", "supervisor")
    no_token = await api.call("GET", f"/conversations/{conversation_id}/events", None)
    trail = await _ok(await other.call("GET", "/audit?limit=200", "admin"))

    assert foreign.status_code == 404
    assert foreign.json() == unknown.json()
    assert no_token.status_code == 401
    assert {item["tenantId"] for item in trail["items"]} == {other.tenant.id}
    assert all(item["conversationId"] != conversation_id for item in trail["items"])


def test_table_refuses_update_and_delete(server):
    connection = sqlite3.connect(server.data_dir / "hotelbot.db", timeout=5)
    try:
        connection.execute(
            "INSERT INTO audit_events (id, tenant_id, actor_type, action, created_at) VALUES ('e1', ?, 'CLI', 'TENANT_UPDATED', '2020-01-01T00:00:00.000Z')",
            (server.tenant.id,),
        )
        connection.commit()
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("UPDATE audit_events SET action = 'LOGIN' WHERE id = 'e1'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("DELETE FROM audit_events WHERE id = 'e1'")
        connection.rollback()

        connection.execute("INSERT INTO audit_purge_window (before) VALUES ('2019-01-01T00:00:00.000Z')")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("DELETE FROM audit_events WHERE id = 'e1'")
        connection.rollback()

        connection.execute("INSERT INTO audit_purge_window (before) VALUES ('2021-01-01T00:00:00.000Z')")
        deleted = connection.execute("DELETE FROM audit_events WHERE id = 'e1'").rowcount
        connection.execute("DELETE FROM audit_purge_window")
        connection.commit()
        assert deleted == 1
    finally:
        connection.close()
