"""The health report behind ``/healthz`` and ``hotelbot doctor``.

A check is ``ok``, ``warning`` (worth a look, still serving) or ``failing``
(the service cannot do its job: ``/healthz`` answers 503).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import sqlite3
from typing import Any

from hotelbot.clock import from_iso, now, to_iso
from hotelbot.storage.database import fetch_all, fetch_one, fetch_value

MIN_FREE_BYTES = 500 * 1024 * 1024
INBOX_STALE_SECONDS = 300
QUIET_WEBHOOK_HOURS = 24
DEAD_LETTER_WARNING = 10


def _check(status: str, **facts: Any) -> dict[str, Any]:
    return {"status": status, **facts}


async def _database(runtime: Any) -> dict[str, Any]:
    try:
        async with runtime.db.write() as connection:
            await connection.execute("CREATE TEMP TABLE IF NOT EXISTS health_probe (x)")
        return _check("ok")
    except sqlite3.Error as error:
        return _check("failing", error=str(error))


async def _inbox(runtime: Any) -> dict[str, Any]:
    async with runtime.db.read() as connection:
        row = await fetch_one(
            connection,
            "SELECT count(*) AS backlog, min(received_at) AS oldest FROM inbox WHERE processed_at IS NULL",
        )
        last = await fetch_value(connection, "SELECT max(received_at) FROM inbox")

    age = (now() - from_iso(row["oldest"])).total_seconds() if row["oldest"] else 0.0
    status = "failing" if age > INBOX_STALE_SECONDS else "ok"
    quiet = last is None or (now() - from_iso(last)) > dt.timedelta(hours=QUIET_WEBHOOK_HOURS)
    return {
        "inbox": _check(status, backlog=row["backlog"], oldestUnprocessedAt=row["oldest"], oldestAgeSeconds=round(age, 1)),
        "webhooks": _check("warning" if quiet else "ok", lastReceivedAt=last, quietHours=QUIET_WEBHOOK_HOURS),
    }


async def _meta_problems(runtime: Any) -> dict[str, Any]:
    since = to_iso(now() - dt.timedelta(hours=24))
    async with runtime.db.read() as connection:
        errors = await fetch_all(
            connection,
            "SELECT tenant_id, code, title, max(received_at) AS last, count(*) AS n FROM account_errors"
            " WHERE received_at > ? GROUP BY tenant_id, code, title ORDER BY last DESC",
            (since,),
        )
        rejected = await fetch_all(
            connection,
            "SELECT DISTINCT tenant_id FROM messages WHERE direction = 'OUTBOUND' AND status = 'FAILED'"
            " AND json_extract(error, '$.code') = 190 AND updated_at > ?",
            (since,),
        )
        dead = await fetch_value(connection, "SELECT count(*) FROM dead_letters WHERE retried_at IS NULL")

    token_status = "failing" if rejected else "ok"
    return {
        "accessTokens": _check(token_status, rejectedTenants=[row["tenant_id"] for row in rejected]),
        "metaAccountErrors": _check(
            "warning" if errors else "ok",
            recent=[{"tenantId": row["tenant_id"], "code": row["code"], "title": row["title"], "count": row["n"], "lastAt": row["last"]} for row in errors],
        ),
        "deadLetters": _check("warning" if dead >= DEAD_LETTER_WARNING else "ok", count=dead),
    }


async def health_report(runtime: Any) -> dict[str, Any]:
    """Return ``{status, checks}``; status is the worst of the checks."""
    checks: dict[str, Any] = {"database": await _database(runtime)}
    checks.update(await _inbox(runtime))
    checks.update(await _meta_problems(runtime))

    depth = await asyncio.to_thread(runtime.jobs.pending_count)
    checks["queue"] = _check("ok", depth=depth)
    usage = shutil.disk_usage(runtime.data_dir.root)
    checks["disk"] = _check("failing" if usage.free < MIN_FREE_BYTES else "ok", freeBytes=usage.free)

    statuses = {check["status"] for check in checks.values()}
    overall = "failing" if "failing" in statuses else "warning" if "warning" in statuses else "ok"
    return {"status": overall, "checks": checks}
