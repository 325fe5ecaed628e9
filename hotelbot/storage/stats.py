"""The dashboard's queries: counts of conversations and escalations, and the stats version.

Every query takes the tenant id. ``unit_slug`` None means every unit, a slug
limits the figures to that unit, and :data:`NO_UNIT` to rows without a unit.
Escalations are counted by the unit they were raised for.
Periods are half-open, ``start <= time < end``, in UTC ISO 8601 strings.
Each query reads an index (see ``0003_stats_versions.sql``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator

import aiosqlite

from hotelbot.clock import from_iso, to_iso
from hotelbot.storage.database import fetch_all, fetch_one, fetch_value


@dataclasses.dataclass(frozen=True)
class StatsVersion:
    """The tenant's row of ``stats_versions``; version 0 when the tenant has none yet."""

    version: int
    day_start: str | None


NO_UNIT = ""
# A guest message carries Meta's timestamp, which can precede the row of a new
# conversation by as long as Meta kept retrying the webhook. Meta retries an
# unacknowledged webhook for up to 7 days, so a conversation created later than
# that after a period cannot have a guest message in it.
# NOTE: a message stored later than that would be missed by past periods.
LATE_DELIVERY = dt.timedelta(days=7)


def _unit_filter(unit_slug: str | None, column: str = "hotel_unit") -> str:
    """Return the SQL condition on ``column`` for ``unit_slug``, which binds ``:unit``."""
    if unit_slug is None:
        return ""
    if unit_slug == NO_UNIT:
        return f" AND {column} IS NULL"
    return f" AND {column} = :unit"


@contextlib.asynccontextmanager
async def snapshot(connection: aiosqlite.Connection) -> AsyncIterator[aiosqlite.Connection]:
    """Run the reads inside one read transaction, so they see one state of the database."""
    await connection.execute("BEGIN")
    try:
        yield connection
    finally:
        await connection.execute("COMMIT")


async def select_stats_version(connection: aiosqlite.Connection, tenant_id: str) -> StatsVersion:
    # Every stats request runs this, cached or not: execute_fetchall makes one
    # trip to the connection's thread where fetch_one makes three.
    rows = await connection.execute_fetchall(
        "SELECT version, day_start FROM stats_versions WHERE tenant_id = ?", (tenant_id,)
    )
    if not rows:
        return StatsVersion(0, None)
    row = next(iter(rows))
    return StatsVersion(row["version"], row["day_start"])


async def update_day_start(connection: aiosqlite.Connection, tenant_id: str, day_start: str) -> None:
    """Record the start of the tenant's current day, which the "active today" trigger compares with."""
    await connection.execute(
        "INSERT INTO stats_versions (tenant_id, version, day_start) VALUES (?, 0, ?)"
        " ON CONFLICT (tenant_id) DO UPDATE SET day_start = excluded.day_start",
        (tenant_id, day_start),
    )


async def select_conversation_counts(
    connection: aiosqlite.Connection, tenant_id: str, unit_slug: str | None
) -> list[dict]:
    """Return ``{hotel_unit, status, priority, count}`` rows: conversations per combination."""
    return await fetch_all(
        connection,
        "SELECT hotel_unit, status, priority, count(*) AS count FROM conversations"
        f" WHERE tenant_id = :tenant{_unit_filter(unit_slug)} GROUP BY hotel_unit, status, priority",
        {"tenant": tenant_id, "unit": unit_slug},
    )


async def select_open_escalations_by_priority(
    connection: aiosqlite.Connection, tenant_id: str, unit_slug: str | None
) -> dict[str, int]:
    """Return the number of escalations not yet resolved, per priority."""
    rows = await fetch_all(
        connection,
        "SELECT priority, count(*) AS count FROM escalations"
        f" WHERE tenant_id = :tenant AND status != 'RESOLVED'{_unit_filter(unit_slug)} GROUP BY priority",
        {"tenant": tenant_id, "unit": unit_slug},
    )
    return {row["priority"]: row["count"] for row in rows}


async def select_escalations_by_priority(
    connection: aiosqlite.Connection, tenant_id: str, start: str, end: str, unit_slug: str | None
) -> dict[str, int]:
    """Return the number of escalations created in the period, per priority."""
    rows = await fetch_all(
        connection,
        "SELECT priority, count(*) AS count FROM escalations"
        " WHERE tenant_id = :tenant AND created_at >= :start AND created_at < :end"
        f"{_unit_filter(unit_slug)} GROUP BY priority",
        {"tenant": tenant_id, "start": start, "end": end, "unit": unit_slug},
    )
    return {row["priority"]: row["count"] for row in rows}


async def count_escalations_resolved(
    connection: aiosqlite.Connection, tenant_id: str, start: str, end: str, unit_slug: str | None
) -> int:
    return await fetch_value(
        connection,
        "SELECT count(*) FROM escalations"
        f" WHERE tenant_id = :tenant AND resolved_at >= :start AND resolved_at < :end{_unit_filter(unit_slug)}",
        {"tenant": tenant_id, "start": start, "end": end, "unit": unit_slug},
    )


async def select_first_response_seconds(
    connection: aiosqlite.Connection, tenant_id: str, start: str, end: str, unit_slug: str | None
) -> list[float]:
    """Return the seconds from creation to first response of each escalation created in the period that got one."""
    rows = await fetch_all(
        connection,
        "SELECT (julianday(first_response_at) - julianday(created_at)) * 86400.0 AS seconds FROM escalations"
        f" WHERE tenant_id = :tenant AND created_at >= :start AND created_at < :end{_unit_filter(unit_slug)}"
        " AND first_response_at IS NOT NULL",
        {"tenant": tenant_id, "start": start, "end": end, "unit": unit_slug},
    )
    return [row["seconds"] for row in rows]


async def count_active_conversations(
    connection: aiosqlite.Connection, tenant_id: str, start: str, end: str, unit_slug: str | None
) -> tuple[int, int]:
    """Return (active, finished by the AI alone) for the conversations a guest wrote to in the period.

    A conversation whose latest guest message falls in the period is active
    without reading its messages. One whose latest guest message is later is
    active when an earlier guest message falls in the period. The AI finished
    a conversation alone when it has no assignee and no escalation was open at
    any moment of the period.

    NOTE: hotelbot keeps no history of assignments, so the assignee is the
    current one. A conversation an attendant took without an escalation and
    then released back to the AI counts as finished by the AI.
    """
    row = await fetch_one(
        connection,
        "SELECT count(*) AS active,"
        "       coalesce(sum(c.assigned_to_id IS NULL AND NOT EXISTS ("
        "           SELECT 1 FROM escalations e WHERE e.conversation_id = c.id AND e.created_at < :end"
        "              AND (e.resolved_at IS NULL OR e.resolved_at >= :start))), 0) AS ai_finished"
        "  FROM conversations c"
        f" WHERE c.tenant_id = :tenant AND c.last_inbound_at >= :start{_unit_filter(unit_slug, 'c.hotel_unit')}"
        "   AND (c.last_inbound_at < :end OR (c.created_at < :created_before AND EXISTS ("
        "        SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.created_at >= :start"
        "           AND m.created_at < :end AND m.direction = 'INBOUND')))",
        {
            "tenant": tenant_id, "start": start, "end": end, "unit": unit_slug,
            "created_before": to_iso(from_iso(end) + LATE_DELIVERY),
        },
    )
    return row["active"], row["ai_finished"]
