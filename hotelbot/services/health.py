"""The health report behind ``/healthz``.

A check is ``ok``, ``warning`` (worth a look, still serving) or ``failing``
(the service cannot do its job, so ``/healthz`` returns 503). The checks:

- ``database``: a row of the database file is rewritten (a full disk, a
  read-only file or directory fail it);
- ``inbox``: stored webhooks not yet processed, failing when the oldest has
  waited more than ``INBOX_STALE_SECONDS``;
- ``webhooks``: a warning when none arrived for ``QUIET_WEBHOOK_HOURS``;
- ``accessTokens``: failing while Meta rejects a tenant's token (error 190);
- ``metaAccountErrors``: a warning for account-level errors Meta reported in
  the last 24 hours;
- ``deadLetters``: a warning from ``DEAD_LETTER_WARNING`` jobs whose attempts are spent;
- ``queue``: jobs queued or scheduled;
- ``disk``: failing below the ``min_free_disk_mb`` setting free beside the data directory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import shutil
import sqlite3
from typing import Any

from hotelbot.clock import from_iso, now, to_iso
from hotelbot.storage import health as health_store

logger = logging.getLogger(__name__)

INBOX_STALE_SECONDS = 300
QUIET_WEBHOOK_HOURS = 24
DEAD_LETTER_WARNING = 10
META_ERROR_HOURS = 24


def _check(status: str, **facts: Any) -> dict[str, Any]:
    return {"status": status, **facts}


class _DatabaseState:
    """The last database probe's error, so a lasting failure is logged once, not on every check."""

    error: str | None = None


async def _database(runtime: Any) -> dict[str, Any]:
    try:
        async with runtime.db.write() as connection:
            await health_store.touch_health_probe(connection)
    except sqlite3.Error as error:
        if str(error) != _DatabaseState.error:
            logger.error("Health check: the database takes no writes: %s", error)
        _DatabaseState.error = str(error)
        return _check("failing", error=str(error))

    if _DatabaseState.error is not None:
        logger.info("Health check: the database takes writes again")
        _DatabaseState.error = None
    return _check("ok")


async def _inbox(runtime: Any) -> dict[str, Any]:
    async with runtime.db.read() as connection:
        row = await health_store.select_inbox_backlog(connection)

    age = (now() - from_iso(row["oldest"])).total_seconds() if row["oldest"] else 0.0
    status = "failing" if age > INBOX_STALE_SECONDS else "ok"
    last = row["last"]
    quiet = last is None or (now() - from_iso(last)) > dt.timedelta(hours=QUIET_WEBHOOK_HOURS)
    return {
        "inbox": _check(status, backlog=row["backlog"], oldestUnprocessedAt=row["oldest"], oldestAgeSeconds=round(age, 1)),
        "webhooks": _check("warning" if quiet else "ok", lastReceivedAt=last, quietHours=QUIET_WEBHOOK_HOURS),
    }


async def _meta_problems(runtime: Any) -> dict[str, Any]:
    since = to_iso(now() - dt.timedelta(hours=META_ERROR_HOURS))
    async with runtime.db.read() as connection:
        errors = await health_store.select_recent_account_errors(connection, since)
        rejected = await health_store.select_rejected_token_tenants(connection, since)
        dead = await health_store.count_open_dead_letters(connection)

    recent = [
        {"tenantId": row["tenant_id"], "code": row["code"], "title": row["title"], "count": row["n"], "lastAt": row["last"]}
        for row in errors
    ]
    return {
        "accessTokens": _check(
            "failing" if rejected else "ok",
            rejectedTenants=[row["tenant_id"] for row in rejected],
            lastRejectedAt=max((row["last_rejected_at"] for row in rejected), default=None),
        ),
        "metaAccountErrors": _check("warning" if errors else "ok", recent=recent),
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
    low = usage.free < runtime.settings.min_free_disk_mb * 1024 * 1024
    checks["disk"] = _check("failing" if low else "ok", freeBytes=usage.free)

    statuses = {check["status"] for check in checks.values()}
    overall = "ok"
    if "failing" in statuses:
        overall = "failing"
    elif "warning" in statuses:
        overall = "warning"
    return {"status": overall, "checks": checks}
