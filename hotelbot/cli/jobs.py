"""``hotelbot jobs ...``: list, replay and discard jobs whose attempts are spent."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

from hotelbot.cli.common import open_database, print_json, say, settings_from
from hotelbot.datadir import DataDir
from hotelbot.jobs.queue import JobQueue
from hotelbot.services import dead_letters


def add_commands(commands: Any, add_data_dir: Callable) -> None:
    jobs = commands.add_parser("jobs", help="jobs whose attempts are spent (dead letters)")
    actions = jobs.add_subparsers(dest="action", required=True)

    failed = actions.add_parser("failed", help="list dead letters")
    add_data_dir(failed)
    failed.add_argument("--all", action="store_true", help="include the ones already retried")
    failed.add_argument("--json", action="store_true")
    failed.set_defaults(handler=run_failed)

    retry = actions.add_parser("retry", help="queue dead letters again (the running server picks them up)")
    add_data_dir(retry)
    target = retry.add_mutually_exclusive_group(required=True)
    target.add_argument("id", nargs="?", help="dead letter id")
    target.add_argument("--all", action="store_true", help="every dead letter not yet retried")
    retry.set_defaults(handler=run_retry)

    discard = actions.add_parser("discard", help="delete a dead letter")
    add_data_dir(discard)
    discard.add_argument("id", help="dead letter id")
    discard.set_defaults(handler=run_discard)


def _queue(data_dir: DataDir) -> JobQueue:
    return JobQueue(data_dir.queue, workers=1, media_workers=1, retry_delay=1.0, retry_delay_max=1.0, shutdown_timeout=1.0)


def run_failed(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def load() -> list[dict]:
        async with open_database(settings) as (db, _):
            return await dead_letters.list_dead_letters(db, include_retried=args.all)

    items = asyncio.run(load())
    if args.json:
        print_json({"items": items})
        return 0
    if not items:
        say("No failed jobs.")
    for item in items:
        print(f"{item['id']}  {item['kind']:<14} {item['createdAt']}  {item['attempts']}x  {item['error'][:100]}")
    return 0


def run_retry(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def retry() -> int:
        async with open_database(settings) as (db, data_dir):
            queue = _queue(data_dir)
            ids = [args.id] if args.id else [item["id"] for item in await dead_letters.list_dead_letters(db)]
            for dead_letter_id in ids:
                await dead_letters.retry_dead_letter(db, queue, dead_letter_id)
            return len(ids)

    count = asyncio.run(retry())
    say("{count} job(s) queued again.", count=count)
    return 0


def run_discard(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def discard() -> None:
        async with open_database(settings) as (db, _):
            await dead_letters.discard_dead_letter(db, args.id)

    asyncio.run(discard())
    say("Dead letter discarded: {id}", id=args.id)
    return 0



