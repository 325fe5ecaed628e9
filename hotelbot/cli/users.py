"""``hotelbot user ...``: create users, reset passwords, unlock accounts."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from typing import Any

from hotelbot.cli.common import CommandError, add_secret_options, open_database, print_json, read_secret, say, settings_from
from hotelbot.i18n import translate
from hotelbot.services import provisioning
from hotelbot.storage import users as user_store


def add_commands(commands: Any, add_data_dir: Callable) -> None:
    user = commands.add_parser("user", help="manage attendants, supervisors and admins")
    actions = user.add_subparsers(dest="action", required=True)

    create = actions.add_parser("create", help="create a user (prompts for the password when not given)")
    add_data_dir(create)
    create.add_argument("--tenant", required=True, help="tenant id")
    create.add_argument("--email", required=True)
    create.add_argument("--name", help="name shown to colleagues (default: the email's local part)")
    create.add_argument("--role", required=True, choices=provisioning.ROLES)
    create.add_argument("--hotel-unit", help="the unit the user works for (default: every unit)")
    create.add_argument("--language", default="pt-BR", choices=provisioning.LANGUAGES)
    create.add_argument("--json", action="store_true")
    add_secret_options(create, "password", "password")
    create.set_defaults(handler=run_create)

    reset = actions.add_parser("reset-password", help="set a new password and end the user's sessions")
    add_data_dir(reset)
    reset.add_argument("--email", required=True)
    add_secret_options(reset, "password", "new password")
    reset.set_defaults(handler=run_reset)

    unlock = actions.add_parser("unlock", help="clear a lock after repeated failed logins")
    add_data_dir(unlock)
    unlock.add_argument("--email", required=True)
    unlock.set_defaults(handler=run_unlock)


def _new_password(args: argparse.Namespace) -> str:
    password = read_secret(args, "password", "Password", required=not sys.stdin.isatty())
    if password:
        return password
    first = getpass.getpass(translate("Password") + ": ")
    second = getpass.getpass(translate("Repeat the password") + ": ")
    if first != second:
        raise CommandError("The passwords do not match.")
    return first


def run_create(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    password = _new_password(args)

    async def create() -> str:
        async with open_database(settings) as (db, _):
            return await provisioning.create_user(
                db, args.tenant, email=args.email, name=args.name or args.email.split("@")[0],
                role=args.role, password=password, hotel_unit=args.hotel_unit,
                language=args.language, rounds=settings.bcrypt_rounds,
            )

    user_id = asyncio.run(create())
    if args.json:
        print_json({"userId": user_id, "tenantId": args.tenant, "email": args.email.lower()})
    else:
        say("User created: {id} ({email})", id=user_id, email=args.email.lower())
    return 0


async def _find_user(db: Any, email: str) -> dict:
    async with db.read() as connection:
        user = await user_store.select_login_user(connection, email.strip().lower())
    if user is None:
        raise CommandError("No user with email {email}.", email=email)
    return user


def run_reset(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    password = _new_password(args)

    async def reset() -> None:
        async with open_database(settings) as (db, _):
            user = await _find_user(db, args.email)
            await provisioning.reset_password(db, user["tenant_id"], user["id"], password, settings.bcrypt_rounds)

    asyncio.run(reset())
    say("Password changed for {email}; their sessions were ended.", email=args.email)
    return 0


def run_unlock(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def unlock() -> None:
        async with open_database(settings) as (db, _):
            user = await _find_user(db, args.email)
            await provisioning.unlock_user(db, user["tenant_id"], user["id"])

    asyncio.run(unlock())
    say("Account unlocked: {email}", email=args.email)
    return 0
