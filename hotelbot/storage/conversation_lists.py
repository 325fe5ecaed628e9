"""The attendants' list of conversations (the Kanban) and the reads behind a read mark."""

from __future__ import annotations

import dataclasses

import aiosqlite

from hotelbot.storage.conversations import CONVERSATION_VIEW
from hotelbot.storage.database import fetch_all, fetch_value

# The trigram tokenizer indexes runs of 3 characters; a shorter search cannot use it.
TRIGRAM_LENGTH = 3


@dataclasses.dataclass(frozen=True)
class ConversationFilter:
    """The selection of a tenant's conversations to list; empty fields do not filter.

    ``unit_slug`` with ``include_no_unit`` lists one unit and the conversations
    with no unit; ``only_no_unit`` lists those without a unit alone.
    ``after`` is the (lastMessageAt, id) of the last item already shown.
    """

    statuses: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    unit_slug: str | None = None
    include_no_unit: bool = False
    only_no_unit: bool = False
    assigned_to_id: str | None = None
    unassigned: bool = False
    search: str | None = None
    search_digits: str | None = None
    closed_since: str | None = None
    after: tuple[str, str] | None = None


def _like_pattern(text: str) -> str:
    """Return a LIKE pattern matching ``text`` anywhere, with ``%``, ``_`` and ``\\`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _unit_clause(selection: ConversationFilter) -> tuple[str | None, list]:
    if selection.only_no_unit:
        return "c.hotel_unit IS NULL", []
    if selection.unit_slug and selection.include_no_unit:
        return "(c.hotel_unit = ? OR c.hotel_unit IS NULL)", [selection.unit_slug]
    if selection.unit_slug:
        return "c.hotel_unit = ?", [selection.unit_slug]
    return None, []


def _phrase(text: str) -> str:
    """Quote ``text`` as one FTS5 phrase, so its characters are matched literally."""
    return '"' + text.replace('"', '""') + '"'


def _indexed_search(selection: ConversationFilter, tenant_id: str) -> tuple[str, list]:
    """Match through the trigram indexes: conversations with the text in a message, a name or a phone.

    The CROSS JOINs keep SQLite from walking every conversation and asking the
    full-text index once per row.
    """
    contact_match = f"name : {_phrase(selection.search)}"
    if selection.search_digits:
        contact_match += f" OR phone : {_phrase(selection.search_digits)}"
    candidates = (
        "SELECT m.conversation_id FROM message_text_search s CROSS JOIN messages m ON m.rowid = s.rowid"
        " WHERE message_text_search MATCH ? AND m.tenant_id = ?"
        " UNION SELECT c2.id FROM contact_search s2 CROSS JOIN contacts k2 ON k2.rowid = s2.rowid"
        " CROSS JOIN conversations c2 ON c2.tenant_id = k2.tenant_id AND c2.contact_id = k2.id"
        " WHERE contact_search MATCH ? AND k2.tenant_id = ?"
    )
    return f"c.id IN ({candidates})", [_phrase(selection.search), tenant_id, contact_match, tenant_id]


def _search_clause(selection: ConversationFilter, tenant_id: str) -> tuple[str | None, list]:
    if not selection.search:
        return None, []
    if len(selection.search) >= TRIGRAM_LENGTH:
        return _indexed_search(selection, tenant_id)

    # Shorter than a trigram: the indexes cannot help, so LIKE reads the candidates.
    pattern = _like_pattern(selection.search)
    alternatives = ["k.name LIKE ? ESCAPE '\\'"]
    params: list = [pattern]
    if selection.search_digits:
        alternatives.append("k.phone LIKE ? ESCAPE '\\'")
        params.append(_like_pattern(selection.search_digits))
    alternatives.append(
        "EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.content LIKE ? ESCAPE '\\')"
    )
    params.append(pattern)
    return "(" + " OR ".join(alternatives) + ")", params


def _where(selection: ConversationFilter, tenant_id: str) -> tuple[list[str], list]:
    clauses: list[str] = []
    params: list = []
    if selection.statuses:
        clauses.append(f"c.status IN ({', '.join('?' for _ in selection.statuses)})")
        params.extend(selection.statuses)
    if selection.priorities:
        clauses.append(f"c.priority IN ({', '.join('?' for _ in selection.priorities)})")
        params.extend(selection.priorities)
    if selection.assigned_to_id:
        clauses.append("c.assigned_to_id = ?")
        params.append(selection.assigned_to_id)
    if selection.unassigned:
        clauses.append("c.assigned_to_id IS NULL")
    if selection.closed_since:
        clauses.append("c.closed_at >= ?")
        params.append(selection.closed_since)

    for clause, extra in (_unit_clause(selection), _search_clause(selection, tenant_id)):
        if clause:
            clauses.append(clause)
            params.extend(extra)

    if selection.after:
        clauses.append("(c.last_message_at, c.id) < (?, ?)")
        params.extend(selection.after)
    return clauses, params


async def select_conversation_page(
    connection: aiosqlite.Connection, tenant_id: str, selection: ConversationFilter, limit: int
) -> list[dict]:
    """Return up to ``limit`` rows of ``CONVERSATION_VIEW``, newest lastMessageAt first.

    A search of 3 or more characters goes through the trigram indexes of
    migration 0005 and ignores case. NOTE: accents still count (``Joao``
    does not find ``João``), and a shorter search falls back to LIKE, which
    ignores case for ASCII letters only and reads every candidate's messages.
    """
    clauses, params = _where(selection, tenant_id)
    sql = (
        CONVERSATION_VIEW
        + " WHERE c.tenant_id = ?"
        + "".join(f" AND {clause}" for clause in clauses)
        + " ORDER BY c.last_message_at DESC, c.id DESC LIMIT ?"
    )
    return await fetch_all(connection, sql, (tenant_id, *params, limit))


async def select_last_inbound_wamid(connection: aiosqlite.Connection, tenant_id: str, conversation_id: str) -> str | None:
    """Return the wamid of the guest's latest message in a conversation, or None."""
    return await fetch_value(
        connection,
        "SELECT whatsapp_msg_id FROM messages WHERE tenant_id = ? AND conversation_id = ?"
        " AND direction = 'INBOUND' AND whatsapp_msg_id IS NOT NULL"
        " ORDER BY created_at DESC, received_at DESC, id DESC LIMIT 1",
        (tenant_id, conversation_id),
    )
