"""``hotelbot guest export|erase`` for a guest's LGPD request, and ``hotelbot retention run`` for the tenants' policies."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hotelbot.cache import Cache
from hotelbot.cli.common import CommandError, open_database, print_json, say, settings_from
from hotelbot.clock import from_iso
from hotelbot.services import audit, guest_data, retention


def add_commands(commands: Any, add_data_dir: Callable) -> None:
    guest = commands.add_parser("guest", help="export or erase a guest's personal data")
    actions = guest.add_subparsers(dest="action", required=True)

    export = actions.add_parser("export", help="write one zip with the guest's contact, messages, media and audit entries")
    add_data_dir(export)
    export.add_argument("--tenant", required=True, help="tenant id")
    export.add_argument("--phone", required=True, help="the guest's WhatsApp number, e.g. 5511987654321")
    export.add_argument("--to", required=True, type=Path, metavar="FILE", help="zip file to create; it must not exist")
    export.set_defaults(handler=run_export)

    erase = actions.add_parser("erase", help="delete the guest's messages, media and contact; conversations stay anonymised")
    add_data_dir(erase)
    erase.add_argument("--tenant", required=True, help="tenant id")
    erase.add_argument("--phone", required=True, help="the guest's WhatsApp number, e.g. 5511987654321")
    erase.add_argument("--dry-run", action="store_true", help="print what would be removed and change nothing")
    erase.set_defaults(handler=run_erase)

    policies = commands.add_parser("retention", help="apply the tenants' retention policies")
    policy_actions = policies.add_subparsers(dest="action", required=True)
    run = policy_actions.add_parser("run", help="delete messages, media and audit entries older than each policy allows, now")
    add_data_dir(run)
    run.add_argument(
        "--as-of", metavar="TIME",
        help="apply the policies as if it were TIME (ISO 8601, UTC when no offset is given); default: now",
    )
    run.set_defaults(handler=run_retention)


def run_export(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    target: Path = args.to
    if target.exists():
        raise CommandError("{path} already exists; choose a new file name.", path=str(target))

    async def export() -> dict[str, int]:
        async with open_database(settings) as (db, data_dir):
            # Created readable by its owner only, because it contains a guest's personal data.
            with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as stream:
                return await guest_data.export(
                    db, data_dir.media, args.tenant, audit.CLI, guest_data.GuestReference(phone=args.phone), stream
                )

    try:
        counts = asyncio.run(export())
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    say("Guest data exported to {path}: {messages} messages, {files} media files.",
        path=str(target), messages=counts["messages"], files=counts["mediaFiles"])
    return 0


def run_erase(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    # NOTE: a running server keeps its own in-memory copy of the dashboard's counts
    # until they expire (stats_cache_ttl); the cache file is cleared here.
    async def erase() -> dict[str, Any]:
        async with open_database(settings) as (db, data_dir):
            cache = Cache(data_dir.cache)
            await cache.open()
            try:
                return await guest_data.erase(
                    db, data_dir.media, cache, args.tenant, audit.CLI,
                    guest_data.GuestReference(phone=args.phone), dry_run=args.dry_run,
                )
            finally:
                await cache.close()

    print_json(asyncio.run(erase()))
    return 0


def _moment(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = from_iso(text)
    except ValueError:
        raise CommandError("Invalid --as-of time {value}: use ISO 8601, e.g. 2027-01-31T12:00:00Z.", value=text) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def run_retention(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    moment = _moment(args.as_of)

    async def apply() -> list[retention.TenantRun]:
        async with open_database(settings) as (db, data_dir):
            return await retention.apply_policies(
                db, data_dir.media, settings.audit_retention_days, moment=moment, actor=audit.CLI
            )

    runs = asyncio.run(apply())
    print_json({"tenants": [
        {"tenantId": run.tenant_id, "before": run.cutoff, "messages": run.messages,
         "mediaFiles": run.media_files, "conversations": run.conversations}
        for run in runs
    ]})
    return 0
