"""``hotelbot dev generate``: fill a data directory with realistic data for development and benchmarks.

Each run creates new tenants (with hotel units, an admin, a supervisor and
attendants), then guests with pt-BR names and Brazilian phones, one
conversation each, escalations and inbound and outbound messages spread over
the last ``--days`` days. Conversations older than two days are mostly closed;
the recent ones fill the board with BOT, OPEN and IN_PROGRESS.

The bulk load uses plain sqlite3 ``executemany`` in one transaction. Indexes
and triggers of the loaded tables are dropped first and created again at the
end (faster than updating them row by row), and each tenant's stats version is
set once afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hotelbot.cli.common import CommandError, open_box, open_database, say, settings_from
from hotelbot.cli.dev_data import FIRST_NAMES, SURNAMES, UNIT_NAMES, Batches, TenantPlan, add_conversation
from hotelbot.datadir import DataDir
from hotelbot.domain.units import slugify
from hotelbot.services import provisioning

LOADED_TABLES = ("contacts", "conversations", "messages", "escalations")
BATCH_ROWS = 50_000
# Development users get cheap password hashes, so that generating many tenants stays fast.
DEV_BCRYPT_ROUNDS = 4


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a whole number above 0")
    return value


def add_commands(commands: Any, add_data_dir: Callable) -> None:
    dev = commands.add_parser("dev", help="development tools")
    actions = dev.add_subparsers(dest="action", required=True)

    generate = actions.add_parser("generate", help="fill a data directory with generated tenants, guests and messages")
    add_data_dir(generate)
    generate.add_argument("--tenants", type=_positive_int, default=1, help="tenants to create (default 1)")
    generate.add_argument("--conversations", type=_positive_int, default=1000,
                          help="conversations in all, split evenly among the tenants (default 1000)")
    generate.add_argument("--messages", type=_positive_int, default=10_000,
                          help="messages in all, at least one per conversation (default 10000)")
    generate.add_argument("--days", type=_positive_int, default=90, help="days of history, ending now (default 90)")
    generate.add_argument("--seed", type=int, help="random seed, to generate the same data again")
    generate.set_defaults(handler=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.messages < args.conversations:
        raise CommandError("--messages must be at least --conversations (every conversation has a message).")
    if args.tenants > args.conversations:
        raise CommandError("--conversations must be at least --tenants.")

    if DataDir(settings.data_path).is_serving():
        raise CommandError("Stop the server running on {path} before generating data.", path=settings.data_path)

    started = time.perf_counter()
    rng = random.Random(args.seed)
    password = secrets.token_urlsafe(12)
    tenants = asyncio.run(_create_tenants(settings, args.tenants, password, rng))
    database = settings.data_path / "hotelbot.db"
    counts = load_conversations(database, tenants, args.conversations, args.messages, args.days, rng)

    say("Generated {tenants} tenant(s), {conversations} conversations, {messages} messages and {escalations}"
        " escalations in {seconds} s.", tenants=len(tenants), seconds=f"{time.perf_counter() - started:.1f}", **counts)
    say("Emails and password of the generated users: {path}", path=settings.data_path / "dev-users.json")
    return 0


async def _create_tenants(settings: Any, count: int, password: str, rng: random.Random) -> list[TenantPlan]:
    """Create ``count`` tenants with units and users; write their logins to ``dev-users.json``."""
    plans, logins = [], []
    async with open_database(settings) as (db, data_dir):
        box = open_box(data_dir)
        for _ in range(count):
            plan, users = await _create_tenant(db, box, password, rng)
            plans.append(plan)
            logins.append({"tenantId": plan.id, "password": password, "users": users})

    path = data_dir.root / "dev-users.json"
    existing = json.loads(path.read_text()) if path.exists() else []
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(existing + logins, handle, ensure_ascii=False, indent=2)
    return plans


async def _create_tenant(db: Any, box: Any, password: str, rng: random.Random) -> tuple[TenantPlan, list[dict]]:
    tag = secrets.token_hex(3)
    units = rng.sample(UNIT_NAMES, rng.randint(2, 4))
    created = await provisioning.create_tenant(
        db, box, name=f"Hotel {rng.choice(SURNAMES)} {tag}", phone_number_id=str(rng.randrange(10**14, 10**15)),
        access_token=secrets.token_urlsafe(32), app_secret=secrets.token_hex(16),
        verify_token=secrets.token_urlsafe(16), n8n_url=None, hotel_units=units,
    )
    tenant_id = created["tenantId"]
    roles = [("admin", "ADMIN", None), ("supervisor", "SUPERVISOR", None)]
    roles += [(f"attendant{index}", "ATTENDANT", units[index % len(units)] if index % 2 else None) for index in range(4)]

    users, attendant_ids = [], []
    for label, role, unit in roles:
        email = f"{label}.{tag}@hotelbot.dev"
        user_id = await provisioning.create_user(
            db, tenant_id, email=email, name=f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}", role=role,
            password=password, hotel_unit=unit, rounds=DEV_BCRYPT_ROUNDS,
        )
        users.append({"email": email, "role": role, "hotelUnit": unit})
        if role == "ATTENDANT":
            attendant_ids.append(user_id)
    return TenantPlan(tenant_id, tuple(slugify(unit) for unit in units), tuple(attendant_ids)), users


def load_conversations(
    database: Path, tenants: list[TenantPlan], conversations: int, messages: int, days: int, rng: random.Random
) -> dict[str, int]:
    """Insert the conversations and messages in one transaction; return the counts written."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = DELETE")
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("PRAGMA cache_size = -262144")
        connection.execute("BEGIN IMMEDIATE")
        schema = _drop_indexes_and_triggers(connection)
        counts = _insert_all(connection, tenants, conversations, messages, days, rng)
        for statement in schema:
            connection.execute(statement)
        _rebuild_full_text_indexes(connection)
        connection.executemany(
            "INSERT OR REPLACE INTO stats_versions (tenant_id, version) VALUES (?, random())",
            [(tenant.id,) for tenant in tenants],
        )
        connection.execute("COMMIT")
        connection.execute("PRAGMA journal_mode = WAL")
    finally:
        connection.close()
    return counts


def _rebuild_full_text_indexes(connection: sqlite3.Connection) -> None:
    """Index the loaded rows in the full-text tables, whose triggers were dropped during the load."""
    names = [
        row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE % USING fts5%'"
        )
    ]
    for name in names:
        connection.execute(f'INSERT INTO "{name}" ("{name}") VALUES (\'rebuild\')')


def _drop_indexes_and_triggers(connection: sqlite3.Connection) -> list[str]:
    """Drop the loaded tables' own indexes and triggers; return the SQL that creates them again."""
    marks = ", ".join("?" for _ in LOADED_TABLES)
    rows = connection.execute(
        f"SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger')"
        f" AND tbl_name IN ({marks}) AND sql IS NOT NULL",
        LOADED_TABLES,
    ).fetchall()
    for kind, name, _ in rows:
        connection.execute(f'DROP {kind.upper()} "{name}"')
    # Indexes first, because a trigger's own queries may use them.
    return [sql for kind, _, sql in rows if kind == "index"] + [sql for kind, _, sql in rows if kind == "trigger"]


def _insert_all(
    connection: sqlite3.Connection, tenants: list[TenantPlan], conversations: int, messages: int, days: int,
    rng: random.Random,
) -> dict[str, int]:
    per_conversation = _message_counts(conversations, messages, rng)
    batches = Batches()
    counts = {"conversations": 0, "messages": 0, "escalations": 0}
    phones: dict[str, set[str]] = {tenant.id: set() for tenant in tenants}
    now = time.time()

    for index, message_count in enumerate(per_conversation):
        tenant = tenants[index % len(tenants)]
        add_conversation(batches, tenant, phones[tenant.id], message_count, now, days, rng)
        if len(batches.messages) >= BATCH_ROWS:
            _flush(connection, batches, counts)
    _flush(connection, batches, counts)
    return counts


def _message_counts(conversations: int, messages: int, rng: random.Random) -> list[int]:
    """Split ``messages`` among conversations: at least one each, a long tail for a few."""
    counts = [1] * conversations
    weights = [rng.expovariate(1.0) for _ in range(conversations)]
    for index in rng.choices(range(conversations), weights=weights, k=messages - conversations):
        counts[index] += 1
    return counts


def _flush(connection: sqlite3.Connection, batches: Batches, counts: dict[str, int]) -> None:
    connection.executemany(
        "INSERT INTO contacts (id, tenant_id, phone, phone_key, user_id, name, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        batches.contacts,
    )
    connection.executemany(
        "INSERT INTO conversations (id, tenant_id, contact_id, status, priority, hotel_unit, ia_locked, ia_locked_by,"
        " ia_locked_at, assigned_to_id, last_message_at, last_inbound_at, unread_count, closed_at, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        batches.conversations,
    )
    connection.executemany(
        "INSERT INTO messages (id, tenant_id, conversation_id, direction, type, content, metadata, media_id,"
        " media_status, status, error, whatsapp_msg_id, sender, created_by, forward_state, created_at, received_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        batches.messages,
    )
    connection.executemany(
        "INSERT INTO escalations (id, tenant_id, conversation_id, reason, hotel_unit, priority, status, created_at,"
        " first_response_at, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        batches.escalations,
    )
    counts["conversations"] += len(batches.conversations)
    counts["messages"] += len(batches.messages)
    counts["escalations"] += len(batches.escalations)
    for rows in (batches.contacts, batches.conversations, batches.messages, batches.escalations):
        rows.clear()


