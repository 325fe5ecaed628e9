"""``hotelbot tenant ...``: create and change tenants, their units and keys."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

from hotelbot.cli.common import (
    CommandError, add_secret_options, open_box, open_database, print_json, read_secret, say, settings_from,
)
from hotelbot.serialize import tenant_json
from hotelbot.services import provisioning
from hotelbot.storage import tenants as tenant_store


def add_commands(commands: Any, add_data_dir: Callable) -> None:
    tenant = commands.add_parser("tenant", help="manage tenants (WhatsApp numbers)")
    actions = tenant.add_subparsers(dest="action", required=True)

    create = actions.add_parser("create", help="create a tenant; prints its id, N8N API key and forward secret once")
    add_data_dir(create)
    create.add_argument("--name", required=True, help="name shown to attendants")
    create.add_argument("--phone-number-id", required=True, help="WhatsApp phone number id from Meta")
    create.add_argument("--waba-id", help="WhatsApp Business Account id (needed to list templates)")
    create.add_argument(
        "--n8n-url",
        help="URL of the N8N webhook that receives guests' messages; without it every conversation goes to people",
    )
    create.add_argument("--time-zone", default="America/Sao_Paulo", help="IANA time zone of the hotel")
    create.add_argument("--hotel-unit", action="append", default=[], help="hotel unit name; repeat for several")
    create.add_argument("--json", action="store_true", help="print the result as JSON")
    for name, text in (("access-token", "Meta access token"), ("app-secret", "Meta app secret"),
                       ("verify-token", "webhook verify token")):
        add_secret_options(create, name, text)
    create.set_defaults(handler=run_create)

    update = actions.add_parser("update", help="change a tenant's settings or secrets")
    add_data_dir(update)
    update.add_argument("--tenant", required=True, help="tenant id")
    update.add_argument("--name")
    update.add_argument("--phone-number-id")
    update.add_argument("--waba-id")
    update.add_argument("--n8n-url", help='a new N8N webhook URL; "" removes it and hands every conversation to people')
    update.add_argument("--time-zone")
    update.add_argument("--read-receipts", choices=("on", "off"), help="send read receipts to WhatsApp")
    update.add_argument(
        "--retention-months", type=int, metavar="N",
        help="delete guests' messages and media older than N months every day (0 keeps them)",
    )
    for name, text in (("access-token", "Meta access token"), ("app-secret", "Meta app secret"),
                       ("verify-token", "webhook verify token")):
        add_secret_options(update, name, text)
    update.set_defaults(handler=run_update)

    listing = actions.add_parser("list", help="list tenants")
    add_data_dir(listing)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)

    for action, help_text, handler in (
        ("rotate-key", "replace the N8N API key; the old one stops working", run_rotate_key),
        ("rotate-forward-secret", "replace the secret that signs forwards to N8N", run_rotate_forward_secret),
    ):
        rotate = actions.add_parser(action, help=help_text)
        add_data_dir(rotate)
        rotate.add_argument("--tenant", required=True, help="tenant id")
        rotate.add_argument("--json", action="store_true")
        rotate.set_defaults(handler=handler)

    unit = actions.add_parser("unit", help="add or remove hotel units")
    unit_actions = unit.add_subparsers(dest="unit_action", required=True)
    for action, handler in (("add", run_unit_add), ("remove", run_unit_remove)):
        command = unit_actions.add_parser(action)
        add_data_dir(command)
        command.add_argument("--tenant", required=True, help="tenant id")
        command.add_argument("--name", required=True, help="unit name as people write it")
        command.set_defaults(handler=handler)


def run_create(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    secrets = {
        "access_token": read_secret(args, "access-token", "Meta access token"),
        "app_secret": read_secret(args, "app-secret", "Meta app secret"),
        "verify_token": read_secret(args, "verify-token", "Webhook verify token"),
    }

    async def create() -> dict:
        async with open_database(settings) as (db, data_dir):
            return await provisioning.create_tenant(
                db, open_box(data_dir), name=args.name, phone_number_id=args.phone_number_id,
                waba_id=args.waba_id, n8n_url=args.n8n_url, time_zone=args.time_zone,
                hotel_units=args.hotel_unit, **secrets,
            )

    result = asyncio.run(create())
    if args.json:
        print_json(result)
    else:
        say("Tenant created: {id}", id=result["tenantId"])
        say("N8N API key (shown only now): {key}", key=result["apiKey"])
        say("Forward signing secret (shown only now): {secret}", secret=result["forwardSecret"])
    return 0


def run_update(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    fields: dict[str, Any] = {
        column: value for column, value in (
            ("name", args.name), ("phone_number_id", args.phone_number_id), ("waba_id", args.waba_id),
            ("n8n_url", args.n8n_url), ("time_zone", args.time_zone),
        ) if value is not None
    }
    if args.read_receipts is not None:
        fields["read_receipts"] = 1 if args.read_receipts == "on" else 0
    if args.retention_months is not None:
        if not 0 <= args.retention_months <= 1200:
            raise CommandError("--retention-months must be a whole number from 0 to 1200.")
        fields["retention_months"] = args.retention_months
    secrets = {
        key: value for key, value in (
            ("access_token", read_secret(args, "access-token", "", required=False)),
            ("app_secret", read_secret(args, "app-secret", "", required=False)),
            ("verify_token", read_secret(args, "verify-token", "", required=False)),
        ) if value
    }
    if not fields and not secrets:
        raise CommandError("Nothing to change: pass at least one option.")

    async def update() -> None:
        async with open_database(settings) as (db, data_dir):
            await provisioning.update_tenant(db, open_box(data_dir), args.tenant, fields=fields, secrets_to_seal=secrets)

    asyncio.run(update())
    say("Tenant updated: {id}", id=args.tenant)
    return 0


def run_list(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def load() -> list:
        async with open_database(settings) as (db, data_dir):
            async with db.read() as connection:
                return await tenant_store.select_tenants(connection, open_box(data_dir))

    tenants = [tenant_json(tenant) for tenant in asyncio.run(load())]
    if args.json:
        print_json({"items": tenants})
    else:
        for tenant in tenants:
            units = ", ".join(unit["name"] for unit in tenant["hotelUnits"]) or "-"
            print(f"{tenant['id']}  {tenant['name']}  {tenant['phoneNumberId']}  {units}")
    return 0


def _rotate(args: argparse.Namespace, rotate: Callable, label: str, json_key: str) -> int:
    settings = settings_from(args)

    async def run() -> str:
        async with open_database(settings) as (db, data_dir):
            return await rotate(db, open_box(data_dir), args.tenant)

    value = asyncio.run(run())
    if args.json:
        print_json({"tenantId": args.tenant, json_key: value})
    else:
        say(label, value=value)
    return 0


def run_rotate_key(args: argparse.Namespace) -> int:
    return _rotate(args, provisioning.rotate_api_key, "New N8N API key (shown only now): {value}", "apiKey")


def run_rotate_forward_secret(args: argparse.Namespace) -> int:
    return _rotate(args, provisioning.rotate_forward_secret, "New forward signing secret (shown only now): {value}", "forwardSecret")


def run_unit_add(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def run() -> str:
        async with open_database(settings) as (db, data_dir):
            return await provisioning.add_unit(db, open_box(data_dir), args.tenant, args.name)

    slug = asyncio.run(run())
    say("Hotel unit saved: {name} ({slug})", name=args.name.strip(), slug=slug)
    return 0


def run_unit_remove(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def run() -> bool:
        async with open_database(settings) as (db, _):
            return await provisioning.remove_unit(db, args.tenant, args.name)

    if not asyncio.run(run()):
        raise CommandError("Hotel unit not found: {name}", name=args.name)
    say("Hotel unit removed: {name}", name=args.name)
    return 0
