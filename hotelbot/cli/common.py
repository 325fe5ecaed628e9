"""Helpers every CLI command shares: settings, the database, secret input and output."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hotelbot.datadir import DataDir
from hotelbot.i18n import current_language, translate
from hotelbot.secretbox import SecretBox
from hotelbot.settings import Settings, load_settings
from hotelbot.storage.database import Database
from hotelbot.storage.migrations import migrate


class CommandError(Exception):
    """A CLI command cannot proceed; the message (English, translated on output) says why."""

    def __init__(self, message: str, **params: Any) -> None:
        self.params = params
        super().__init__(message)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request with its full URL at INFO; the URLs may carry tokens.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("huey").setLevel(logging.WARNING)
    logging.getLogger("huey.consumer").setLevel(logging.WARNING)


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides = {"data_dir": getattr(args, "data_dir", None), **extra}
    settings = load_settings(overrides)
    current_language.set(settings.language)
    return settings


def say(message: str, **params: Any) -> None:
    """Print a translated line for the person at the terminal."""
    print(translate(message, **params))


def print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def read_secret(args: argparse.Namespace, name: str, label: str, required: bool = True) -> str | None:
    """Read a secret from ``--NAME``, ``--NAME-file``, ``--NAME-env`` or a hidden prompt."""
    attribute = name.replace("-", "_")
    value = getattr(args, attribute, None)
    file_path = getattr(args, f"{attribute}_file", None)
    env_name = getattr(args, f"{attribute}_env", None)

    if value:
        return value
    if file_path:
        return Path(file_path).read_text(encoding="utf-8").strip()
    if env_name:
        if env_name not in os.environ:
            raise CommandError("Environment variable {name} is not set.", name=env_name)
        return os.environ[env_name]
    if not required:
        return None
    if sys.stdin.isatty():
        return getpass.getpass(translate(label) + ": ").strip()
    raise CommandError("Missing {option}: pass --{option}, --{option}-file or --{option}-env.", option=name)


def add_secret_options(parser: argparse.ArgumentParser, name: str, help_text: str) -> None:
    parser.add_argument(f"--{name}", help=f"{help_text} (visible in shell history; prefer the -file or -env form)")
    parser.add_argument(f"--{name}-file", metavar="PATH", help=f"file holding the {help_text}")
    parser.add_argument(f"--{name}-env", metavar="VAR", help=f"environment variable holding the {help_text}")


def open_box(data_dir: DataDir) -> SecretBox:
    secrets = data_dir.load_secrets()
    return SecretBox(secrets.master_key, secrets.old_master_keys)


@contextlib.asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[tuple[Database, DataDir]]:
    """Open the data directory's database, creating and migrating it when needed."""
    data_dir = DataDir(settings.data_path)
    data_dir.create()
    migrate(data_dir.database, settings.db_synchronous)
    db = Database(data_dir.database, settings.db_synchronous, readers=1)
    await db.open()
    try:
        yield db, data_dir
    finally:
        await db.close()
