"""No hot query reads a whole table: EXPLAIN QUERY PLAN of the SQL the storage functions run.

Each case calls the real storage function on a generated data directory
(``hotelbot dev generate``) while a trace callback records the statements it
runs. Every recorded SELECT is then explained. A plan line ``SCAN <table>``
without an index fails. The index each query is expected to search is stated
in the table of cases, so a change of plan shows up here first.

The plans are checked twice: as a fresh database has them (no statistics, the
way the server runs) and after ``ANALYZE``.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from hotelbot.storage import conversation_lists, conversations, media, messages, outbound, stats, tenants, users
from hotelbot.storage.conversation_lists import ConversationFilter
from hotelbot.storage.database import _row_factory

FULL_SCAN = re.compile(r"^SCAN (\w+)$")
TODAY = ("2026-01-01T03:00:00.000Z", "2026-01-02T03:00:00.000Z")
YEAR = ("2025-01-01T03:00:00.000Z", "2026-01-02T03:00:00.000Z")


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("plans") / "data"
    subprocess.run(
        [sys.executable, "-m", "hotelbot", "dev", "generate", "--data-dir", str(data_dir), "--tenants", "2",
         "--conversations", "3000", "--messages", "30000", "--seed", "11"],
        check=True, capture_output=True, timeout=120,
    )
    return data_dir / "hotelbot.db"


@pytest.fixture(scope="module")
def sample(generated) -> dict[str, Any]:
    """Real ids of the first tenant to query with."""
    connection = sqlite3.connect(generated)
    connection.row_factory = sqlite3.Row
    try:
        conversation = connection.execute(
            "SELECT c.id, c.tenant_id, c.hotel_unit, c.assigned_to_id, k.phone_key, c.last_message_at"
            " FROM conversations c JOIN contacts k ON k.id = c.contact_id"
            " WHERE c.assigned_to_id IS NOT NULL AND c.hotel_unit IS NOT NULL LIMIT 1"
        ).fetchone()
        message = connection.execute(
            "SELECT id, whatsapp_msg_id, created_at, received_at FROM messages WHERE conversation_id = ? LIMIT 1",
            (conversation["id"],),
        ).fetchone()
        user = connection.execute("SELECT id, email FROM users WHERE tenant_id = ? LIMIT 1", (conversation["tenant_id"],)).fetchone()
    finally:
        connection.close()
    return {**dict(conversation), "message": dict(message), "user": dict(user)}


Call = Callable[[aiosqlite.Connection, dict[str, Any]], Awaitable[Any]]


def page(**fields: Any) -> Call:
    return lambda c, s: conversation_lists.select_conversation_page(
        c, s["tenant_id"], ConversationFilter(**{key: value(s) if callable(value) else value for key, value in fields.items()}), 50
    )


# (name, call, indexes the plan is expected to search)
CASES: list[tuple[str, Call, set[str]]] = [
    ("list, no filter", page(), {"conversations_recent"}),
    ("list by status", page(statuses=("OPEN", "IN_PROGRESS")), {"conversations_status", "conversations_recent"}),
    ("list by priority", page(priorities=("URGENT",)), {"conversations_recent"}),
    ("list by unit", page(unit_slug=lambda s: s["hotel_unit"]), {"conversations_unit", "conversations_recent"}),
    ("list by unit and no unit", page(unit_slug=lambda s: s["hotel_unit"], include_no_unit=True),
     {"conversations_recent", "conversations_unit"}),
    ("list without unit", page(only_no_unit=True), {"conversations_unit", "conversations_recent"}),
    ("list by assignee", page(assigned_to_id=lambda s: s["assigned_to_id"]), {"conversations_assignee", "conversations_recent"}),
    ("list unassigned", page(unassigned=True), {"conversations_assignee", "conversations_recent"}),
    # A search finds its candidates in the trigram indexes; SQLite then walks the recent
    # conversations, or (with statistics) reads the candidates by id and sorts them.
    ("list by search text", page(search="Silva"), {"conversations_recent", "sqlite_autoindex_conversations_1"}),
    ("list by search digits", page(search="1999", search_digits="1999"),
     {"conversations_recent", "sqlite_autoindex_conversations_1"}),
    ("list by short search", page(search="Si"), {"conversations_recent"}),
    ("list next page", page(after=lambda s: (s["last_message_at"], s["id"])), {"conversations_recent"}),
    ("one conversation", lambda c, s: conversations.select_conversation_view(c, s["tenant_id"], s["id"]), {"sqlite_autoindex_conversations_1"}),
    ("messages of a conversation", lambda c, s: messages.select_messages(c, s["tenant_id"], s["id"], 50, None), {"messages_conversation"}),
    ("messages, next page", lambda c, s: messages.select_messages(
        c, s["tenant_id"], s["id"], 50, (s["message"]["created_at"], s["message"]["received_at"], s["message"]["id"])), {"messages_conversation"}),
    ("message by wamid", lambda c, s: messages.select_message_by_wamid(c, s["tenant_id"], s["message"]["whatsapp_msg_id"]), {"messages_wamid"}),
    ("message by id", lambda c, s: messages.select_message(c, s["tenant_id"], s["message"]["id"]), {"sqlite_autoindex_messages_1"}),
    ("guest by phone key", lambda c, s: conversations.select_conversation_by_contact(c, s["tenant_id"], phone_key=s["phone_key"]),
     {"contacts_phone"}),
    ("guest by user id", lambda c, s: conversations.select_conversation_by_contact(c, s["tenant_id"], user_id="BR.abc"),
     {"contacts_user"}),
    ("open escalation", lambda c, s: conversations.select_open_escalation(c, s["tenant_id"], s["id"]), {"escalations_open"}),
    ("tenant by API key hash", lambda c, s: tenants.select_tenant_id_by_api_key(c, "hbk_unknown"), {"sqlite_autoindex_tenants_3"}),
    ("session check", lambda c, s: users.select_active_principal(c, "session-id", s["user"]["id"]), {"sqlite_autoindex_sessions_1"}),
    ("login by email", lambda c, s: users.select_login_user(c, s["user"]["email"]), {"sqlite_autoindex_users_2"}),
    ("repeated clientMessageId", lambda c, s: outbound.select_client_message(c, s["tenant_id"], s["user"]["id"], "client-1"), {"messages_client_id"}),
    ("replies waiting", lambda c, s: outbound.select_pending_outbound(c, s["tenant_id"], s["id"]), {"messages_outbound_pending"}),
    ("replies waiting, count", lambda c, s: outbound.count_pending_outbound(c, s["tenant_id"], s["id"]), {"messages_outbound_pending"}),
    ("reply recipient", lambda c, s: outbound.select_recipient(c, s["tenant_id"], s["id"]), {"sqlite_autoindex_conversations_1"}),
    ("last guest wamid", lambda c, s: conversation_lists.select_last_inbound_wamid(c, s["tenant_id"], s["id"]), {"messages_conversation"}),
    ("media file", lambda c, s: media.select_media_file(c, s["tenant_id"], "file-id"), {"sqlite_autoindex_media_files_1"}),
    ("stats version", lambda c, s: stats.select_stats_version(c, s["tenant_id"]), {"PRIMARY KEY"}),
    ("stats counts", lambda c, s: stats.select_conversation_counts(c, s["tenant_id"], None), {"conversations_stats"}),
    ("stats counts of a unit", lambda c, s: stats.select_conversation_counts(c, s["tenant_id"], s["hotel_unit"]), {"conversations_stats"}),
    ("stats counts without unit", lambda c, s: stats.select_conversation_counts(c, s["tenant_id"], stats.NO_UNIT), {"conversations_stats"}),
    ("stats open escalations", lambda c, s: stats.select_open_escalations_by_priority(c, s["tenant_id"], None), {"escalations_open_priority"}),
    ("stats open escalations of a unit", lambda c, s: stats.select_open_escalations_by_priority(c, s["tenant_id"], s["hotel_unit"]),
     {"escalations_open_priority"}),
    ("stats escalations resolved", lambda c, s: stats.count_escalations_resolved(c, s["tenant_id"], *TODAY, None), {"escalations_resolved"}),
    ("stats escalations created", lambda c, s: stats.select_escalations_by_priority(c, s["tenant_id"], *YEAR, s["hotel_unit"]),
     {"escalations_created"}),
    ("stats first responses", lambda c, s: stats.select_first_response_seconds(c, s["tenant_id"], *TODAY, None), {"escalations_created"}),
    ("stats active today", lambda c, s: stats.count_active_conversations(c, s["tenant_id"], *TODAY, None),
     {"conversations_inbound", "escalations_conversation", "messages_conversation"}),
    ("stats active in a year of a unit", lambda c, s: stats.count_active_conversations(c, s["tenant_id"], *YEAR, s["hotel_unit"]),
     {"conversations_inbound", "escalations_conversation", "messages_conversation"}),
]


async def recorded_statements(database: Path, call: Call, sample: dict[str, Any]) -> list[str]:
    """Run ``call`` on a read-only connection; return the SELECT statements it ran, parameters filled in."""
    statements: list[str] = []
    connection = await aiosqlite.connect(database, isolation_level=None)
    try:
        connection.row_factory = _row_factory
        await connection.execute("PRAGMA query_only = ON")
        await connection.set_trace_callback(statements.append)
        await call(connection, sample)
    finally:
        await connection.close()
    return [statement for statement in statements if statement.lstrip().upper().startswith(("SELECT", "WITH"))]


def query_plan(database: Path, statement: str) -> list[str]:
    connection = sqlite3.connect(database)
    try:
        return [row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + statement)]
    finally:
        connection.close()


@pytest.fixture(scope="module", params=["fresh", "analyzed"])
def database(request, generated, tmp_path_factory) -> Path:
    if request.param == "fresh":
        return generated
    copy = tmp_path_factory.mktemp("analyzed") / "hotelbot.db"
    source, target = sqlite3.connect(generated), sqlite3.connect(copy)
    try:
        source.backup(target)
        target.execute("ANALYZE")
        target.commit()
    finally:
        source.close()
        target.close()
    return copy


@pytest.mark.parametrize(("name", "call", "indexes"), CASES, ids=[case[0] for case in CASES])
async def test_query_reads_no_whole_table(database, sample, name, call, indexes):
    statements = await recorded_statements(database, call, sample)

    assert statements, f"{name} ran no SELECT"
    lines = [line for statement in statements for line in query_plan(database, statement)]
    full_scans = [line for line in lines if FULL_SCAN.match(line)]
    assert full_scans == [], f"{name}: {lines}"
    used: set[str] = set()
    for line in lines:
        used.update(re.findall(r"INDEX (\w+)", line))
        if "USING PRIMARY KEY" in line:
            used.add("PRIMARY KEY")
    assert used & indexes, f"{name} searched {sorted(used)}, expected one of {sorted(indexes)}: {lines}"

