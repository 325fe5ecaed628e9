"""Named schema migrations, applied in order and recorded in ``migrations``.

Each migration is a SQL file ``NNNN_name.sql`` beside this module. It runs in a
transaction together with the row that records it, so a migration is either
wholly applied and recorded or not at all.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from pathlib import Path

import sqlite_utils

from hotelbot.clock import now_iso
from hotelbot.storage.database import configure_connection

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


@dataclasses.dataclass(frozen=True)
class Migration:
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    return [
        Migration(path.stem, path.read_text(encoding="utf-8"))
        for path in sorted(MIGRATIONS_DIR.glob("*.sql"))
    ]


def _applied(db: sqlite_utils.Database) -> set[str]:
    if "migrations" not in db.table_names():
        return set()
    return {row["name"] for row in db["migrations"].rows}


def pending_migrations(path: Path) -> list[str]:
    """Return the names of migrations not yet applied to the database at ``path``."""
    db = sqlite_utils.Database(path)
    try:
        applied = _applied(db)
    finally:
        db.close()
    return [migration.name for migration in available_migrations() if migration.name not in applied]


def _execute_script(connection: sqlite3.Connection, sql: str) -> None:
    # executescript() would commit the open transaction, so run statement by statement.
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            connection.execute(buffer)
            buffer = ""
    if buffer.strip():
        connection.execute(buffer)


def migrate(path: Path, synchronous: str = "NORMAL") -> list[str]:
    """Apply every pending migration to the database at ``path``; return their names."""
    connection = sqlite3.connect(path, isolation_level=None)
    configure_connection(connection, synchronous)
    db = sqlite_utils.Database(connection)
    applied_now: list[str] = []
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = _applied(db)
        for migration in available_migrations():
            if migration.name in done:
                continue
            connection.execute("BEGIN IMMEDIATE")
            try:
                _execute_script(connection, migration.sql)
                connection.execute(
                    "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                    (migration.name, now_iso()),
                )
            except sqlite3.Error:
                connection.execute("ROLLBACK")
                logger.exception("Migration %s failed; the database is left as before it", migration.name)
                raise
            connection.execute("COMMIT")
            applied_now.append(migration.name)
            logger.info("Migration applied: %s", migration.name)
    finally:
        connection.close()
    return applied_now
