"""Building webhook bodies from the WhatsApp fixtures, and changing the server's rows behind its back.

Tests use ``execute`` only to set up states that another part of the product
would normally reach (a conversation locked for people, a closed one, an
outbound message waiting for its statuses).
"""

from __future__ import annotations

import copy
import json
import sqlite3
import uuid
from typing import Any

from tests.support.fakes import load_fixture


def execute(server: Any, sql: str, params: tuple = ()) -> int:
    """Run one write statement on the server's database; return the number of rows changed."""
    connection = sqlite3.connect(server.data_dir / "hotelbot.db", timeout=10)
    try:
        with connection:
            return connection.execute(sql, params).rowcount
    finally:
        connection.close()


def new_wamid() -> str:
    return "wamid.TEST" + uuid.uuid4().hex.upper()


def text_message(
    body: str = "Bom dia",
    *,
    wa_id: str = "5511900000001",
    name: str = "Ana Conceição",
    wamid: str | None = None,
    phone_number_id: str = "106500000000001",
    timestamp: str = "1749416383",
) -> dict:
    """Return a one-message webhook body in the shape of ``inbound-text.json``."""
    payload = copy.deepcopy(load_fixture("inbound-text.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = phone_number_id
    value["contacts"] = [{"profile": {"name": name}, "wa_id": wa_id}]
    message = value["messages"][0]
    message.update({"from": wa_id, "id": wamid or new_wamid(), "timestamp": timestamp})
    message["text"] = {"body": body}
    return payload


def with_message_id(payload: dict, wamid: str) -> dict:
    """Return a copy of a one-message fixture whose message has id ``wamid``."""
    changed = copy.deepcopy(payload)
    changed["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = wamid
    return changed


def first_message(payload: dict) -> dict:
    return payload["entry"][0]["changes"][0]["value"]["messages"][0]


def insert_outbound(server: Any, tenant_id: str, conversation_id: str, wamid: str, status: str = "SENT") -> str:
    """Store an OUTBOUND text row as the send path does after Meta's response; return its id."""
    message_id = uuid.uuid4().hex
    stamp = "2026-01-01T12:00:00.000Z"
    execute(
        server,
        "INSERT INTO messages (id, tenant_id, conversation_id, direction, type, content, status,"
        " whatsapp_msg_id, sender, created_at, received_at, updated_at)"
        " VALUES (?, ?, ?, 'OUTBOUND', 'TEXT', 'Olá!', ?, ?, ?, ?, ?, ?)",
        (message_id, tenant_id, conversation_id, status, wamid, json.dumps({"type": "N8N"}), stamp, stamp, stamp),
    )
    return message_id


async def post_from_guests(server: Any, http: Any, wamids: list[str], text: str, phone_prefix: str) -> None:
    """Post one text webhook per wamid, each from its own guest (``phone_prefix`` and the index), and check each 200."""
    for index, wamid in enumerate(wamids):
        payload = text_message(f"{text} {index}", wa_id=f"{phone_prefix}{index:08d}", wamid=wamid)
        response = await server.post_webhook(http, payload)
        assert response.status_code == 200
