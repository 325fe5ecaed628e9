"""Every cell of the conversation state table, allowed and refused, through the real API.

Rows are the conversation's status before the event; each test is one column
(an event) and walks its rows with one guest per row.
"""

from __future__ import annotations

import pytest

from tests.support.attendants import Api, conversation_row, escalations_of, guest_writes, phone
from tests.support.db import rows
from tests.support.webhooks import execute

STATES = ("BOT", "OPEN", "IN_PROGRESS", "CLOSED")


@pytest.fixture
async def api(server, http) -> Api:
    return Api(server, http, server.tenant)


async def escalate(api: Api, conversation_id: str, reason: str = "Hóspede pediu uma pessoa") -> dict:
    response = await api.http.post(
        api.server.base_url + "/n8n/escalate", headers={"X-API-Key": api.tenant.api_key},
        json={"conversationId": conversation_id, "reason": reason, "priority": "HIGH"},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def in_state(api: Api, state: str, number: int) -> str:
    """Return a new conversation brought to ``state`` through the API (IN_PROGRESS: assigned to attendant)."""
    conversation_id = await guest_writes(api, wa_id=phone(number))
    if state == "OPEN":
        await escalate(api, conversation_id)
    if state == "IN_PROGRESS":
        attendant_id = await api.user_id("attendant")
        response = await api.call("POST", f"/conversations/{conversation_id}/assign", "supervisor", json={"assignedToId": attendant_id})
        assert response.status_code == 200
    if state == "CLOSED":
        response = await api.call("POST", f"/conversations/{conversation_id}/close", "supervisor")
        assert response.status_code == 200
    assert conversation_row(api.server, conversation_id)["status"] == state
    return conversation_id


def close_window(api: Api, conversation_id: str) -> None:
    execute(api.server, "UPDATE conversations SET last_inbound_at = ? WHERE id = ?", ("2020-01-01T00:00:00.000Z", conversation_id))


async def test_inbound_message_column(api):
    wa_id = phone(100)
    created = await guest_writes(api, wa_id=wa_id)
    assert conversation_row(api.server, created)["status"] == "BOT"
    await guest_writes(api, "de novo", wa_id=wa_id)
    assert conversation_row(api.server, created)["status"] == "BOT"
    assert rows(api.server, "SELECT count(*) AS n FROM conversations") == [{"n": 1}]

    attendant_id = await api.user_id("attendant")
    for number, state in enumerate(("OPEN", "IN_PROGRESS"), start=101):
        conversation_id = await in_state(api, state, number)
        await guest_writes(api, "mais uma", wa_id=phone(number))
        row = conversation_row(api.server, conversation_id)
        assert (state, row["status"], row["ia_locked"]) == (state, state, 1)
    assert conversation_row(api.server, conversation_id)["assigned_to_id"] == attendant_id

    closed = await in_state(api, "CLOSED", 103)
    execute(api.server, "UPDATE conversations SET assigned_to_id = ? WHERE id = ?", (attendant_id, closed))
    await guest_writes(api, "voltei", wa_id=phone(103))
    row = conversation_row(api.server, closed)
    assert row["status"] == "BOT"
    assert row["ia_locked"] == 0
    assert row["assigned_to_id"] is None
    assert row["closed_at"] is None


async def test_escalate_column(api):
    bot = await in_state(api, "BOT", 110)
    first = await escalate(api, bot)
    row = conversation_row(api.server, bot)
    assert (row["status"], row["ia_locked"]) == ("OPEN", 1)
    assert first["iaLocked"] is True

    again = await escalate(api, bot, "de novo")
    assert again["escalationId"] == first["escalationId"]
    assert len(escalations_of(api.server, bot)) == 1

    in_progress = await in_state(api, "IN_PROGRESS", 111)
    created = await escalate(api, in_progress)
    returned = await escalate(api, in_progress)
    assert conversation_row(api.server, in_progress)["status"] == "IN_PROGRESS"
    assert created["escalationId"] == returned["escalationId"]
    assert [item["status"] for item in escalations_of(api.server, in_progress)] == ["PENDING"]

    closed = await in_state(api, "CLOSED", 112)
    await escalate(api, closed)
    row = conversation_row(api.server, closed)
    assert (row["status"], row["ia_locked"], row["closed_at"]) == ("OPEN", 1, None)


async def test_assign_column(api):
    campos_id = await api.user_id("attendant_campos")
    for number, state in enumerate(("BOT", "OPEN", "CLOSED"), start=120):
        conversation_id = await in_state(api, state, number)
        response = await api.call("POST", f"/conversations/{conversation_id}/assign", "supervisor", json={"assignedToId": campos_id})
        assert (state, response.status_code) == (state, 200)
        row = conversation_row(api.server, conversation_id)
        assert (state, row["status"], row["assigned_to_id"], row["ia_locked"]) == (state, "IN_PROGRESS", campos_id, 1)

    opened = conversation_row(api.server, (await _by_phone(api, 121)))
    [escalation] = escalations_of(api.server, opened["id"])
    assert escalation["status"] == "IN_PROGRESS"
    assert escalation["first_response_at"] is not None
    assert opened["ia_locked_by"] == "N8N"

    closed_outside = await in_state(api, "CLOSED", 123)
    close_window(api, closed_outside)
    refused = await api.call("POST", f"/conversations/{closed_outside}/assign", "supervisor", json={"assignedToId": campos_id})
    assert refused.status_code == 409
    assert refused.json()["code"] == "INVALID_TRANSITION"
    assert refused.json()["error"] == "Esta conversa está encerrada e a janela de 24 horas do hóspede expirou."
    assert conversation_row(api.server, closed_outside)["status"] == "CLOSED"


async def test_reassign_rules(api):
    attendant_id = await api.user_id("attendant")
    campos_id = await api.user_id("attendant_campos")
    conversation_id = await in_state(api, "IN_PROGRESS", 130)

    by_supervisor = await api.call("POST", f"/conversations/{conversation_id}/assign", "supervisor", json={"assignedToId": campos_id})
    assert by_supervisor.status_code == 200
    by_admin = await api.call("POST", f"/conversations/{conversation_id}/assign", "admin", json={"assignedToId": attendant_id})
    assert by_admin.status_code == 200
    own = await api.call("POST", f"/conversations/{conversation_id}/assign", "attendant", json={"assignedToId": attendant_id})
    assert own.status_code == 200
    taken = await api.call("POST", f"/conversations/{conversation_id}/assign", "attendant_campos", json={"assignedToId": campos_id})
    assert taken.status_code == 409
    assert taken.json()["code"] == "ALREADY_ASSIGNED"
    assert conversation_row(api.server, conversation_id)["assigned_to_id"] == attendant_id

    execute(api.server, "UPDATE conversations SET assigned_to_id = NULL WHERE id = ?", (conversation_id,))
    unassigned = await api.call("POST", f"/conversations/{conversation_id}/assign", "attendant_campos", json={"assignedToId": campos_id})
    assert unassigned.status_code == 200
    assert conversation_row(api.server, conversation_id)["assigned_to_id"] == campos_id


async def test_reply_column(api):
    attendant_id = await api.user_id("attendant")
    for number, state in enumerate(("BOT", "OPEN", "CLOSED"), start=140):
        conversation_id = await in_state(api, state, number)
        response = await api.call("POST", "/messages/send-text", "attendant", json={"conversationId": conversation_id, "content": "Olá"})
        assert (state, response.status_code) == (state, 201)
        row = conversation_row(api.server, conversation_id)
        assert (state, row["status"], row["assigned_to_id"], row["ia_locked"]) == (state, "IN_PROGRESS", attendant_id, 1)

    closed_outside = await in_state(api, "CLOSED", 143)
    close_window(api, closed_outside)
    refused = await api.call("POST", "/messages/send-text", "attendant", json={"conversationId": closed_outside, "content": "Olá"})
    assert refused.status_code == 422
    assert refused.json()["code"] == "WINDOW_CLOSED"
    assert conversation_row(api.server, closed_outside)["status"] == "CLOSED"


async def test_release_column(api, sockets):
    for number, state in enumerate(STATES, start=150):
        conversation_id = await in_state(api, state, number)
        # Connected after the set-up, so it receives only what the release emits.
        watcher = await api.socket("supervisor", sockets)

        response = await api.call("POST", f"/conversations/{conversation_id}/release", "attendant")

        assert (state, response.status_code) == (state, 200)
        row = conversation_row(api.server, conversation_id)
        if state in ("BOT", "CLOSED"):
            assert (state, row["status"]) == (state, state)
            await watcher.expect_none("conversation:updated", within=0.3)
            continue
        assert (state, row["status"], row["ia_locked"], row["assigned_to_id"]) == (state, "BOT", 0, None)
        assert [item["status"] for item in escalations_of(api.server, conversation_id)] in ([], ["RESOLVED"])
        assert (await watcher.next("conversation:updated"))["conversation"]["status"] == "BOT"

    opened = await _by_phone(api, 151)
    assert [item["status"] for item in escalations_of(api.server, opened)] == ["RESOLVED"]


async def test_close_column(api, sockets):
    for number, state in enumerate(("BOT", "OPEN", "IN_PROGRESS"), start=160):
        conversation_id = await in_state(api, state, number)
        watcher = await api.socket("supervisor", sockets)

        response = await api.call("POST", f"/conversations/{conversation_id}/close", "attendant")

        assert (state, response.status_code) == (state, 200)
        row = conversation_row(api.server, conversation_id)
        assert (state, row["status"], row["ia_locked"]) == (state, "CLOSED", 0)
        assert row["closed_at"] is not None
        assert (await watcher.next("conversation:updated"))["conversation"]["status"] == "CLOSED"

    opened = await _by_phone(api, 161)
    [escalation] = escalations_of(api.server, opened)
    assert escalation["status"] == "RESOLVED"

    closed = await in_state(api, "CLOSED", 163)
    again = await api.call("POST", f"/conversations/{closed}/close", "attendant")
    assert again.status_code == 409
    assert again.json()["code"] == "INVALID_TRANSITION"
    assert again.json()["error"] == "Esta conversa já está encerrada."


async def _by_phone(api: Api, number: int) -> str:
    found = rows(
        api.server,
        "SELECT c.id FROM conversations c JOIN contacts k ON k.id = c.contact_id WHERE k.phone = ?",
        (phone(number),),
    )
    return found[0]["id"]

