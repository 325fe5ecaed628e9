"""The queries behind the health report: a write probe, the inbox backlog, Meta's complaints."""

from __future__ import annotations

import aiosqlite

from hotelbot.clock import now_iso
from hotelbot.storage.database import fetch_all, fetch_one, fetch_value

# Meta's Graph API error code for an access token that is invalid, expired or revoked.
TOKEN_REJECTED_CODE = 190


async def touch_health_probe(connection: aiosqlite.Connection) -> None:
    """Rewrite the probe row; raises sqlite3.Error when the database file takes no writes."""
    await connection.execute(
        "INSERT INTO health_probe (id, checked_at) VALUES (1, ?)"
        " ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        (now_iso(),),
    )


async def select_inbox_backlog(connection: aiosqlite.Connection) -> dict:
    """Return ``{backlog, oldest, last}``: unprocessed webhooks, the oldest one's and the newest webhook's time."""
    row = await fetch_one(
        connection,
        "SELECT count(*) AS backlog, min(received_at) AS oldest FROM inbox WHERE processed_at IS NULL",
    )
    row["last"] = await fetch_value(connection, "SELECT max(received_at) FROM inbox")
    return row


async def select_recent_account_errors(connection: aiosqlite.Connection, since: str) -> list[dict]:
    """Return account-level errors from Meta since ``since``, grouped by tenant, code and title, newest first."""
    return await fetch_all(
        connection,
        "SELECT tenant_id, code, title, max(received_at) AS last, count(*) AS n FROM account_errors"
        " WHERE received_at > ? GROUP BY tenant_id, code, title ORDER BY last DESC",
        (since,),
    )


async def select_rejected_token_tenants(connection: aiosqlite.Connection, since: str) -> list[dict]:
    """Return ``{tenant_id, last_rejected_at}`` of tenants whose token Meta still rejects.

    A tenant counts when a send failed with error 190 after ``since`` and after
    the tenant was last updated (a new token clears it), and no message
    created after that failure has been sent.
    """
    return await fetch_all(
        connection,
        "SELECT m.tenant_id, max(m.updated_at) AS last_rejected_at FROM messages m"
        " JOIN tenants t ON t.id = m.tenant_id"
        " WHERE m.direction = 'OUTBOUND' AND m.status = 'FAILED' AND m.updated_at > ?"
        " AND m.updated_at > t.updated_at AND json_extract(m.error, '$.code') = ?"
        " AND NOT EXISTS (SELECT 1 FROM messages s WHERE s.tenant_id = m.tenant_id"
        " AND s.direction = 'OUTBOUND' AND s.whatsapp_msg_id IS NOT NULL AND s.created_at > m.updated_at)"
        " GROUP BY m.tenant_id ORDER BY m.tenant_id",
        (since, TOKEN_REJECTED_CODE),
    )


async def count_open_dead_letters(connection: aiosqlite.Connection) -> int:
    """Return the number of dead letters not yet retried."""
    return await fetch_value(connection, "SELECT count(*) FROM dead_letters WHERE retried_at IS NULL")
