"""The tenants' retention policies, applied once a day.

A tenant's ``retention_months`` (set with ``hotelbot tenant update
--retention-months N``; 0 keeps everything) removes the guests' messages and
media files older than N months, and anonymises the contacts of closed
conversations inactive that long. The conversation rows stay, so the
dashboard's counts hold. Audit entries older than ``audit_retention_days``
are deleted in the same run. Each tenant's run is logged and audited with counts.
"""

from __future__ import annotations

import asyncio
import calendar
import dataclasses
import datetime as dt
import logging
from pathlib import Path
from typing import Any

from hotelbot.clock import now, to_iso
from hotelbot.media_store import MediaStore
from hotelbot.services import audit
from hotelbot.storage import audit as audit_store
from hotelbot.storage import guests as guest_store
from hotelbot.storage import retention as retention_store
from hotelbot.storage.database import Database

logger = logging.getLogger(__name__)

RUN_INTERVAL_SECONDS = 24 * 3600
BATCH_SIZE = 500


@dataclasses.dataclass
class TenantRun:
    """The counts of one tenant's retention run: rows and files removed, conversations anonymised."""

    tenant_id: str
    cutoff: str
    messages: int = 0
    media_files: int = 0
    conversations: int = 0


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """Return the same day and time ``months`` calendar months earlier (the month's last day when shorter)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


async def _remove_old_messages(db: Database, store: MediaStore, run: TenantRun) -> None:
    """Delete the tenant's messages older than the cutoff in batches, and their files."""
    while True:
        async with db.write() as connection:
            message_ids = await retention_store.select_messages_before(connection, run.tenant_id, run.cutoff, BATCH_SIZE)
            file_ids = await retention_store.delete_messages(connection, run.tenant_id, message_ids) if message_ids else []
        for file_id in file_ids:
            await asyncio.to_thread(store.remove, run.tenant_id, file_id)
        run.messages += len(message_ids)
        run.media_files += len(file_ids)
        if len(message_ids) < BATCH_SIZE:
            return


async def _anonymise_inactive(db: Database, run: TenantRun, actor: audit.Actor) -> None:
    """Anonymise closed conversations inactive since the cutoff and audit the run's counts."""
    async with db.write() as connection:
        conversations = await retention_store.select_inactive_closed_conversations(connection, run.tenant_id, run.cutoff)
        await guest_store.anonymise_conversations(connection, run.tenant_id, [row["id"] for row in conversations])
        for row in conversations:
            await guest_store.anonymise_contact(connection, run.tenant_id, row["contact_id"])
        run.conversations = len(conversations)
        await audit.record(
            connection, run.tenant_id, actor, "RETENTION_APPLIED",
            details={"cutoff": run.cutoff, "messages": run.messages, "mediaFiles": run.media_files, "conversations": run.conversations},
        )


async def apply_policies(
    db: Database, media_root: Path, audit_retention_days: int, *, moment: dt.datetime | None = None, actor: audit.Actor = audit.SYSTEM
) -> list[TenantRun]:
    """Apply every tenant's retention as of ``moment`` (now by default); return what each run removed."""
    moment = moment or now()
    # The audit trail goes first, so this run's own entries are kept.
    if audit_retention_days:
        cutoff = to_iso(moment - dt.timedelta(days=audit_retention_days))
        async with db.write() as connection:
            deleted = await audit_store.delete_audit_events_before(connection, cutoff)
        logger.info("Audit retention: %d entries older than %s deleted (%d days kept)", deleted, cutoff, audit_retention_days)

    async with db.read() as connection:
        policies = await retention_store.select_retention_policies(connection)

    runs = []
    store = MediaStore(media_root)
    for policy in policies:
        run = TenantRun(policy["id"], to_iso(months_before(moment, policy["retention_months"])))
        await _remove_old_messages(db, store, run)
        await _anonymise_inactive(db, run, actor)
        logger.info(
            "Retention of tenant %s (%d months, before %s): %d messages, %d media files deleted, %d conversations anonymised",
            run.tenant_id, policy["retention_months"], run.cutoff, run.messages, run.media_files, run.conversations,
        )
        runs.append(run)

    return runs


async def keep_policies(runtime: Any) -> None:
    """Apply the retention policies at start and then once a day while the server runs."""
    logger.info("Retention started: policies applied every %d s", RUN_INTERVAL_SECONDS)
    while True:
        try:
            await apply_policies(runtime.db, runtime.data_dir.media, runtime.settings.audit_retention_days)
        except Exception:
            logger.exception("Retention run failed; trying again in %d s", RUN_INTERVAL_SECONDS)
        await asyncio.sleep(RUN_INTERVAL_SECONDS)
