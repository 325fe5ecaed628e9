"""A hand-built set of conversations, escalations and messages for the dashboard's numbers.

Times are placed on the tenant's calendar days (America/Sao_Paulo), so the
expected counts for "today", for one unit and for a range of days can be
worked out by hand. :data:`CONVERSATIONS` lists each conversation with what
makes it count.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import uuid
import zoneinfo
from typing import Any

import httpx

from hotelbot.clock import to_iso
from tests.support.db import rows

STATS = "/conversations/stats"
RANGE = "/conversations/stats/range"
ZONE = zoneinfo.ZoneInfo("America/Sao_Paulo")
CAMPOS = "campos-do-jordao"
UBATUBA = "ubatuba"


@dataclasses.dataclass(frozen=True)
class Escalation:
    priority: str
    status: str
    unit: str | None
    created: tuple[str, float]  # (day: "today", "yesterday" or "old", hours after the day's start)
    first_response_seconds: float | None = None
    resolved: tuple[str, float] | None = None


@dataclasses.dataclass(frozen=True)
class Seed:
    label: str
    status: str
    priority: str
    unit: str | None
    assigned: bool
    inbound: tuple[str, float]
    outbound: tuple[str, float] | None = None
    escalation: Escalation | None = None


CONVERSATIONS = (
    # Active today, no escalation, nobody assigned: finished by the AI.
    Seed("c1", "BOT", "MEDIUM", CAMPOS, False, ("today", 1)),
    # Active today; its escalation was resolved yesterday, so today the AI finished it.
    Seed("c2", "BOT", "LOW", None, False, ("today", 2),
         escalation=Escalation("LOW", "RESOLVED", None, ("yesterday", 1), 1800, ("yesterday", 2))),
    # Active today with an escalation still waiting for people.
    Seed("c3", "OPEN", "URGENT", UBATUBA, False, ("today", 3),
         escalation=Escalation("URGENT", "PENDING", UBATUBA, ("today", 3))),
    # Active today, taken by an attendant 120 s after the escalation.
    Seed("c4", "IN_PROGRESS", "HIGH", CAMPOS, True, ("today", 1),
         escalation=Escalation("HIGH", "IN_PROGRESS", CAMPOS, ("today", 1), 120)),
    # Guest wrote yesterday only; escalation raised yesterday, resolved today.
    Seed("c5", "CLOSED", "MEDIUM", CAMPOS, True, ("yesterday", 4),
         escalation=Escalation("MEDIUM", "RESOLVED", CAMPOS, ("yesterday", 5), 600, ("today", 0.5))),
    # Active today, escalated today, first response after 300 s, resolved today.
    Seed("c6", "CLOSED", "HIGH", None, True, ("today", 2),
         escalation=Escalation("HIGH", "RESOLVED", None, ("today", 2), 300, ("today", 4))),
    # The guest wrote three days ago; only the AI wrote today, which does not make it active.
    Seed("c7", "BOT", "MEDIUM", UBATUBA, False, ("old", 10), outbound=("today", 0.2)),
)


def day_start(label: str, today: dt.date) -> dt.datetime:
    offsets = {"today": 0, "yesterday": 1, "old": 3}
    day = today - dt.timedelta(days=offsets[label])
    return dt.datetime.combine(day, dt.time(), tzinfo=ZONE)


def moment(when: tuple[str, float], today: dt.date) -> str:
    label, hours = when
    return to_iso(day_start(label, today) + dt.timedelta(hours=hours))


def tenant_today() -> dt.date:
    return dt.datetime.now(ZONE).date()


def _insert_message(connection: sqlite3.Connection, tenant_id: str, conversation_id: str, direction: str, at: str) -> None:
    sender = {"type": "CONTACT"} if direction == "INBOUND" else {"type": "N8N"}
    connection.execute(
        "INSERT INTO messages (id, tenant_id, conversation_id, direction, type, content, status, whatsapp_msg_id,"
        " sender, created_at, received_at, updated_at) VALUES (?, ?, ?, ?, 'TEXT', 'Olá', ?, ?, ?, ?, ?, ?)",
        (
            uuid.uuid4().hex, tenant_id, conversation_id, direction,
            "RECEIVED" if direction == "INBOUND" else "SENT", "wamid.SEED" + uuid.uuid4().hex.upper(),
            json.dumps(sender), at, at, at,
        ),
    )


def _insert_escalation(connection: sqlite3.Connection, tenant_id: str, conversation_id: str, escalation: Escalation, today: dt.date) -> None:
    created_at = moment(escalation.created, today)
    first_response_at = None
    if escalation.first_response_seconds is not None:
        created = dt.datetime.fromisoformat(created_at.replace("Z", "+00:00"))
        first_response_at = to_iso(created + dt.timedelta(seconds=escalation.first_response_seconds))
    resolved_at = moment(escalation.resolved, today) if escalation.resolved else None
    connection.execute(
        "INSERT INTO escalations (id, tenant_id, conversation_id, reason, hotel_unit, priority, status,"
        " created_at, first_response_at, resolved_at) VALUES (?, ?, ?, 'Hóspede pediu atendente', ?, ?, ?, ?, ?, ?)",
        (
            uuid.uuid4().hex, tenant_id, conversation_id, escalation.unit, escalation.priority, escalation.status,
            created_at, first_response_at, resolved_at,
        ),
    )


def seed_conversation(connection: sqlite3.Connection, tenant_id: str, seed: Seed, phone: str, assignee_id: str | None, today: dt.date) -> str:
    """Insert a contact, its conversation, messages and escalation; return the conversation id."""
    contact_id, conversation_id = uuid.uuid4().hex, uuid.uuid4().hex
    inbound_at = moment(seed.inbound, today)
    outbound_at = moment(seed.outbound, today) if seed.outbound else None
    connection.execute(
        "INSERT INTO contacts (id, tenant_id, phone, phone_key, name, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (contact_id, tenant_id, phone, phone[:4] + phone[5:], f"Hóspede {seed.label}", inbound_at, inbound_at),
    )
    connection.execute(
        "INSERT INTO conversations (id, tenant_id, contact_id, status, priority, hotel_unit, ia_locked,"
        " assigned_to_id, last_message_at, last_inbound_at, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            conversation_id, tenant_id, contact_id, seed.status, seed.priority, seed.unit,
            int(seed.status in ("OPEN", "IN_PROGRESS")), assignee_id if seed.assigned else None,
            max(inbound_at, outbound_at or ""), inbound_at, inbound_at, inbound_at,
        ),
    )
    _insert_message(connection, tenant_id, conversation_id, "INBOUND", inbound_at)
    if outbound_at:
        _insert_message(connection, tenant_id, conversation_id, "OUTBOUND", outbound_at)
    if seed.escalation:
        _insert_escalation(connection, tenant_id, conversation_id, seed.escalation, today)
    return conversation_id


def seed_tenant(server: Any, tenant_id: str, assignee_id: str, seeds: tuple[Seed, ...] = CONVERSATIONS) -> dict[str, Any]:
    """Write ``seeds`` into the server's database for one tenant; return ``{label: conversation id}`` and phones."""
    today = tenant_today()
    ids: dict[str, Any] = {"today": today, "phones": {}}
    connection = sqlite3.connect(server.data_dir / "hotelbot.db", timeout=10)
    try:
        with connection:
            for index, seed in enumerate(seeds):
                phone = f"55119{index + 1:08d}"
                ids[seed.label] = seed_conversation(connection, tenant_id, seed, phone, assignee_id, today)
                ids["phones"][seed.label] = phone
    finally:
        connection.close()
    return ids


def user_id(server: Any, label: str, tenant: Any = None) -> str:
    email = (tenant or server.tenant).users[label]
    return rows(server, "SELECT id FROM users WHERE email = ?", (email,))[0]["id"]


def stats_version(server: Any, tenant_id: str) -> int:
    return rows(server, "SELECT version FROM stats_versions WHERE tenant_id = ?", (tenant_id,))[0]["version"]


async def get_stats(server: Any, http: httpx.AsyncClient, token: str, path: str = STATS, **params: str) -> httpx.Response:
    return await http.get(server.base_url + path, params=params, headers={"Authorization": f"Bearer {token}"})
