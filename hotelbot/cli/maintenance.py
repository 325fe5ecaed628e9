"""``hotelbot backup``, ``hotelbot restore`` and ``hotelbot doctor``."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hotelbot.cli.common import CommandError, add_secret_options, open_box, read_secret, say, settings_from
from hotelbot.datadir import DataDir
from hotelbot.i18n import translate
from hotelbot.secretbox import SecretBoxError
from hotelbot.services.backup import BackupError, create_backup, restore_backup
from hotelbot.storage.migrations import pending_migrations


def add_commands(commands: Any, add_data_dir: Callable) -> None:
    backup = commands.add_parser("backup", help="write a consistent backup while the service runs")
    add_data_dir(backup)
    backup.add_argument("--to", required=True, metavar="FILE", help="backup file to write")
    add_secret_options(backup, "passphrase", "passphrase that encrypts the backup")
    backup.set_defaults(handler=run_backup)

    restore = commands.add_parser("restore", help="restore a backup into a stopped data directory")
    add_data_dir(restore)
    restore.add_argument("file", help="backup file")
    restore.add_argument("--replace", action="store_true", help="replace existing data (kept beside it, renamed)")
    add_secret_options(restore, "passphrase", "passphrase of an encrypted backup")
    restore.set_defaults(handler=run_restore)

    doctor = commands.add_parser("doctor", help="check a data directory and configuration")
    add_data_dir(doctor)
    doctor.set_defaults(handler=run_doctor)


class ProgressLine:
    """Redraws one terminal line per backup stage (``Database:  42%``); silent when stderr is not a terminal."""

    def __init__(self) -> None:
        self._last_drawn: tuple[str, int] | None = None
        self._enabled = sys.stderr.isatty()

    def __call__(self, stage: str, fraction: float) -> None:
        if not self._enabled:
            return
        percent = int(fraction * 100)
        if (stage, percent) == self._last_drawn:
            return
        if self._last_drawn is not None and self._last_drawn[0] != stage:
            print(file=sys.stderr)
        self._last_drawn = (stage, percent)
        print(f"\r{translate(stage.capitalize())}: {percent:3d}%", end="", file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self._last_drawn is not None:
            print(file=sys.stderr)


def run_backup(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    passphrase = read_secret(args, "passphrase", "", required=False)
    progress = ProgressLine()
    try:
        manifest = create_backup(DataDir(settings.data_path), Path(args.to), passphrase, progress)
    except BackupError as error:
        raise CommandError(str(error), **error.params) from None
    except OSError as error:
        raise CommandError("Backup failed: {error}", error=error) from None
    finally:
        progress.finish()
    say("Backup written: {path} ({messages} messages, {media} media files)", path=args.to,
        messages=manifest["messages"], media=manifest["mediaFiles"])
    if not passphrase:
        say("The backup holds the master key: keep it as safe as the server, or use --passphrase-file.")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    passphrase = read_secret(args, "passphrase", "", required=False)
    try:
        manifest = restore_backup(Path(args.file), DataDir(settings.data_path), passphrase, args.replace)
    except BackupError as error:
        raise CommandError(str(error), **error.params) from None
    except OSError as error:
        raise CommandError("Restore failed: {error}", error=error) from None
    say("Backup restored into {path} ({messages} messages).", path=settings.data_path, messages=manifest["messages"])
    return 0


def _doctor_findings(settings: Any) -> list[tuple[str, str, dict]]:
    """Return (level, message, params) for each thing worth telling; level is ok, warning or problem."""
    data_dir = DataDir(settings.data_path)
    if not data_dir.exists():
        return [("problem", "No data directory at {path}: run hotelbot init.", {"path": data_dir.root})]

    findings: list[tuple[str, str, dict]] = []
    mode = data_dir.secrets_file.stat().st_mode & 0o777
    if mode & 0o077:
        findings.append(("problem", "secrets.json is readable by others (mode {mode}): run chmod 600 on it.", {"mode": oct(mode)}))
    unwritable = _unwritable_files(data_dir)
    if unwritable:
        findings.append((
            "problem", "Not writable by this user: {files}. Fix their owner or permissions (chown, chmod).",
            {"files": ", ".join(unwritable)},
        ))
    pending = pending_migrations(data_dir.database)
    if pending:
        findings.append(("warning", "{count} migration(s) will be applied at the next start.", {"count": len(pending)}))

    with sqlite3.connect(data_dir.database) as connection:
        verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
        findings.append(("ok" if verdict == "ok" else "problem", "Database integrity: {verdict}", {"verdict": verdict}))
        tenants = connection.execute("SELECT id, name, n8n_url FROM tenants").fetchall() if not pending or "0001_initial" not in pending else []
        for tenant_id, name, n8n_url in tenants:
            if not n8n_url:
                findings.append(("warning", "Tenant {name} has no N8N URL: guests' messages are not answered by the assistant.", {"name": name}))
            admins = connection.execute("SELECT count(*) FROM users WHERE tenant_id = ? AND role = 'ADMIN' AND active = 1", (tenant_id,)).fetchone()[0]
            if not admins:
                findings.append(("warning", "Tenant {name} has no active admin.", {"name": name}))
        if not tenants:
            findings.append(("warning", "No tenant yet: create one with hotelbot tenant create.", {}))
        if tenants and "0007_tenant_retention" not in pending:
            findings.extend(_retention_findings(connection, settings))
        dead = connection.execute("SELECT count(*) FROM dead_letters WHERE retried_at IS NULL").fetchone()[0] if tenants else 0
        if dead:
            findings.append(("warning", "{count} failed job(s): see hotelbot jobs failed.", {"count": dead}))

    if "0001_initial" not in pending:
        try:
            asyncio.run(_open_all_secrets(data_dir))
            findings.append(("ok", "The master key opens every tenant's secrets.", {}))
        except SecretBoxError:
            findings.append(("problem", "The master key does not open the tenants' secrets: check HOTELBOT_MASTER_KEY and secrets.json.", {}))

    free = shutil.disk_usage(data_dir.root).free
    level = "problem" if free < settings.min_free_disk_mb * 1024 * 1024 else "ok"
    findings.append((level, "Free disk space: {megabytes} MB", {"megabytes": free // (1024 * 1024)}))
    if data_dir.is_serving():
        findings.append(("ok", "A server is running on this data directory.", {}))
    return findings


def _retention_findings(connection: sqlite3.Connection, settings: Any) -> list[tuple[str, str, dict]]:
    """Return the retention policy in force: each tenant's months, the media and the audit trail's days."""
    findings: list[tuple[str, str, dict]] = []
    for name, months in connection.execute("SELECT name, retention_months FROM tenants ORDER BY name"):
        if months:
            findings.append(("ok", "Tenant {name}: guests' messages and media are deleted after {months} month(s).", {"name": name, "months": months}))
        else:
            findings.append(("ok", "Tenant {name}: guests' messages and media are kept with no time limit.", {"name": name}))
    if settings.media_retention_days:
        findings.append(("ok", "Media files of every tenant are deleted after {days} day(s).", {"days": settings.media_retention_days}))
    if settings.audit_retention_days:
        findings.append(("ok", "Audit entries are deleted after {days} day(s).", {"days": settings.audit_retention_days}))
    else:
        findings.append(("ok", "Audit entries are kept with no time limit.", {}))
    return findings


def _unwritable_files(data_dir: DataDir) -> list[str]:
    """Return the names of the data directory and its SQLite files that this user cannot write."""
    candidates = [data_dir.root, data_dir.media, data_dir.queue]
    for suffix in ("", "-wal", "-shm"):
        candidates.append(data_dir.database.with_name(data_dir.database.name + suffix))
    return [
        str(path.relative_to(data_dir.root)) if path != data_dir.root else str(path)
        for path in candidates
        if path.exists() and not os.access(path, os.W_OK)
    ]


async def _open_all_secrets(data_dir: DataDir) -> None:
    """Decrypt every tenant's secrets; raise SecretBoxError when the master key does not open them.

    Opens the database as it is: the doctor checks, and never migrates or creates anything.
    """
    from hotelbot.storage.database import Database
    from hotelbot.storage.tenants import select_tenants

    db = Database(data_dir.database, readers=1)
    await db.open()
    try:
        async with db.read() as connection:
            await select_tenants(connection, open_box(data_dir))
    finally:
        await db.close()


def run_doctor(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    findings = _doctor_findings(settings)
    marks = {"ok": "OK  ", "warning": "!   ", "problem": "ERRO" if settings.language == "pt-BR" else "FAIL"}
    for level, message, params in findings:
        print(f"[{marks[level]}] {translate(message, **params)}")
    problems = sum(1 for level, _, _ in findings if level == "problem")
    return 1 if problems else 0



