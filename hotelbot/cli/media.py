"""``hotelbot media purge``: delete stored media files older than a number of days."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

from babel.numbers import format_decimal

from hotelbot.cli.common import CommandError, open_database, say, settings_from
from hotelbot.i18n import current_language
from hotelbot.services.media_retention import purge_media

SIZE_UNITS = ("bytes", "KB", "MB", "GB", "TB")


def add_commands(commands: Any, add_data_dir: Callable) -> None:
    media = commands.add_parser("media", help="manage stored media files")
    actions = media.add_subparsers(dest="action", required=True)

    purge = actions.add_parser(
        "purge", help="delete media files older than DAYS; messages stay and show the file as deleted"
    )
    add_data_dir(purge)
    purge.add_argument(
        "--older-than", type=int, metavar="DAYS",
        help="age in days of the files to delete (default: the media_retention_days setting)",
    )
    purge.set_defaults(handler=run_purge)


def format_size(size: int, language: str) -> str:
    """Return ``size`` bytes in the largest unit below 1024 of the next, e.g. ``1,5 MB`` in pt-BR."""
    value = float(size)
    unit = 0
    while value >= 1024 and unit < len(SIZE_UNITS) - 1:
        value /= 1024
        unit += 1
    pattern = "#,##0" if unit == 0 else "#,##0.0"
    return f"{format_decimal(value, format=pattern, locale=language.replace('-', '_'))} {SIZE_UNITS[unit]}"


def run_purge(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    days = args.older_than if args.older_than is not None else settings.media_retention_days
    if days is None or days < 1:
        raise CommandError("Give --older-than DAYS (1 or more), or set media_retention_days.")

    # NOTE: a running server does not tell connected attendants about files this
    # command removes; they see mediaStatus DELETED when they next load the messages.
    async def purge() -> Any:
        async with open_database(settings) as (db, data_dir):
            return await purge_media(db, data_dir.media, days)

    result = asyncio.run(purge())
    say(
        "Media files deleted: {files}. Space freed: {size}.",
        files=result.files, size=format_size(result.bytes_freed, current_language.get()),
    )
    return 0
