"""The ``hotelbot`` command: serve, init, tenants, users.

Output is for hotel IT staff, in pt-BR by default (``HOTELBOT_LANGUAGE=en`` for
English). Commands that create things accept ``--json`` so scripts can read
ids and keys. Exit codes: 0 success, 1 the command failed, 2 invalid usage.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import socket
import sqlite3
import sys
from typing import TYPE_CHECKING, Any

from hotelbot import __version__
from hotelbot.cli import demo, dev, jobs, maintenance, media, secrets, tenants, users
from hotelbot.cli import guests
from hotelbot.cli.common import CommandError, configure_logging, say, settings_from
from hotelbot.datadir import DataDir
from hotelbot.errors import AppError, error_body
from hotelbot.i18n import current_language, translate
from hotelbot.settings import SETTINGS, SettingsError

if TYPE_CHECKING:
    from hotelbot.server import ListenFailed

logger = logging.getLogger(__name__)


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data directory (default: HOTELBOT_DATA_DIR or ./hotelbot-data)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotelbot", description="WhatsApp service hub for hotel groups.")
    parser.add_argument("--version", action="version", version=f"hotelbot {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API, Socket.IO and the job queue")
    _add_data_dir(serve)
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 8000)")
    serve.add_argument("--demo", action="store_true", help="create a demo tenant and user when there is no tenant")
    serve.set_defaults(handler=run_serve)

    init = commands.add_parser("init", help="create the data directory, its secrets and database")
    _add_data_dir(init)
    init.add_argument("--demo", action="store_true", help="also create a demo tenant and user")
    init.set_defaults(handler=run_init)

    settings = commands.add_parser("settings", help="list every setting with its default and help")
    settings.set_defaults(handler=run_settings)

    tenants.add_commands(commands, _add_data_dir)
    users.add_commands(commands, _add_data_dir)
    jobs.add_commands(commands, _add_data_dir)
    maintenance.add_commands(commands, _add_data_dir)
    dev.add_commands(commands, _add_data_dir)
    media.add_commands(commands, _add_data_dir)
    secrets.add_commands(commands, _add_data_dir)
    guests.add_commands(commands, _add_data_dir)
    demo.add_commands(commands, _add_data_dir)
    return parser


def run_settings(args: argparse.Namespace) -> int:
    for setting in SETTINGS:
        print(f"HOTELBOT_{setting.name.upper():<24} {str(setting.default):<28} {setting.unit}: {setting.help}")
    return 0


def run_init(args: argparse.Namespace) -> int:
    from hotelbot.cli.common import open_database

    settings = settings_from(args)

    async def initialize() -> None:
        async with open_database(settings) as (db, data_dir):
            if args.demo:
                await demo.ensure_demo(db, data_dir, settings)

    asyncio.run(initialize())
    say("Data directory ready: {path}", path=settings.data_path)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from hotelbot.cli.common import open_database
    from hotelbot.server import ListenFailed, run_server

    settings = settings_from(args, host=args.host, port=args.port, demo=True if args.demo else None)
    data_dir = DataDir(settings.data_path)
    if data_dir.is_serving():
        holder = data_dir.lock_holder()
        if holder != "serve":
            raise CommandError("hotelbot {command} is running on {path}: start the server once it has finished.",
                               command=holder, path=settings.data_path)
        raise CommandError("Another hotelbot server is already running on {path}.", path=settings.data_path)
    if settings.demo:
        async def prepare() -> None:
            async with open_database(settings) as (db, data_dir):
                await demo.ensure_demo(db, data_dir, settings)

        asyncio.run(prepare())
    try:
        asyncio.run(run_server(settings))
    except ListenFailed as failure:
        raise _listen_error(failure) from None
    return 0


def _listen_error(failure: ListenFailed) -> CommandError:
    """Return the error to print when ``serve`` cannot listen on its host and port."""
    where = {"host": failure.host, "port": failure.port}
    if isinstance(failure.error, socket.gaierror):
        return CommandError("The host name {host} could not be resolved: set --host to an IP address of this machine.", **where)
    if failure.error.errno == errno.EADDRINUSE:
        return CommandError("Port {port} on {host} is already in use by another program: stop it, or set another port "
                            "with --port.", **where)
    if failure.error.errno == errno.EADDRNOTAVAIL:
        return CommandError("This machine has no address {host}: set --host to one of its addresses, "
                            "127.0.0.1, or 0.0.0.0 for all of them.", **where)
    if failure.error.errno == errno.EACCES:
        return CommandError("Listening on port {port} requires root: set --port to 1024 or above.", **where)
    return CommandError("Listening on {host} port {port} failed: {error}", error=failure.error.strerror or str(failure.error), **where)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from(args)
    except SettingsError as error:
        print(str(error), file=sys.stderr)
        return 2
    # Commands other than serve print their own results; their log lines matter only when something is wrong.
    explicit_level = "HOTELBOT_LOG_LEVEL" in os.environ
    configure_logging(settings.log_level if args.command == "serve" or explicit_level else "WARNING")

    try:
        return args.handler(args)
    except CommandError as error:
        print(translate(str(error), **error.params), file=sys.stderr)
        return 1
    except AppError as error:
        body: dict[str, Any] = error_body(error, current_language.get())
        print(body["error"], file=sys.stderr)
        for detail in body.get("details", []):
            print(f"  {detail.get('field')}: {detail.get('message')}", file=sys.stderr)
        return 1
    except SettingsError as error:
        print(str(error), file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as error:
        # A file the command cannot read or write, a full disk, a port in use: one line naming the error, no traceback.
        logger.debug("Command %s failed", args.command, exc_info=True)
        print(translate("The command failed: {error}", error=f"{type(error).__name__}: {error}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
