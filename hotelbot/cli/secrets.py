"""``hotelbot secrets``: replace the master key that seals tenant secrets, or the keys that sign logins.

Master key rotation takes two runs. The first writes a new master key to secrets.json,
keeps the previous key in ``oldMasterKeys``, then re-seals every tenant secret
under the new key in one transaction. Because the file is written first, a
failure at any step leaves every value openable. Backups taken before the
rotation still need the previous key. ``--finish`` drops the previous keys once
no tenant secret is sealed under them.

``rotate-signing-keys`` replaces the keys that sign access and refresh tokens
and media links, and revokes every session: after a suspected leak of
secrets.json, every user logs in again and no earlier token or link works.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hotelbot.cli.common import (
    CommandError,
    open_database,
    print_json,
    say,
    settings_from,
)
from hotelbot.datadir import MASTER_KEY_ENV, DataDir, DataDirBusy
from hotelbot.secretbox import SecretBox, SecretBoxError, key_id
from hotelbot.services import key_rotation
from hotelbot.storage import users as user_store

logger = logging.getLogger(__name__)


def add_commands(commands: Any, add_data_dir: Callable) -> None:
    group = commands.add_parser("secrets", help="manage the keys that encrypt tenant secrets and sign logins")
    actions = group.add_subparsers(dest="action", required=True)

    rotate = actions.add_parser(
        "rotate", help="seal every tenant secret under a new master key; the previous key is kept until --finish"
    )
    add_data_dir(rotate)
    rotate.add_argument(
        "--finish", action="store_true",
        help="drop the previous master keys once no tenant secret is sealed under them",
    )
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(handler=run_rotate)

    signing = actions.add_parser(
        "rotate-signing-keys",
        help="replace the keys that sign tokens and media links; every session ends and every user logs in again",
    )
    add_data_dir(signing)
    signing.add_argument("--json", action="store_true")
    signing.set_defaults(handler=run_rotate_signing_keys)


@contextlib.contextmanager
def _holding(data_dir: DataDir, settings: Any, command: str) -> Iterator[None]:
    """Hold ``data_dir``'s serve lock meanwhile, so no server starts and no other key command runs on it.

    Raises CommandError when ``data_dir`` has not been initialized or a server or another command has it locked.
    """
    if not data_dir.exists():
        raise CommandError("No data directory at {path}: run hotelbot init.", path=settings.data_path)
    try:
        lock = data_dir.lock_for_serving(command)
    except DataDirBusy:
        holder = data_dir.lock_holder()
        if holder != "serve":
            raise CommandError("hotelbot {command} is already running on {path}: run this command once it has finished.",
                               command=holder, path=data_dir.root) from None
        raise CommandError("Stop the hotelbot server running on {path} before replacing its keys.",
                           path=data_dir.root) from None
    try:
        yield
    finally:
        lock.close()


def _check_master_key_in_file() -> None:
    """Raise CommandError when the master key comes from the environment, where this command cannot replace it."""
    if os.environ.get(MASTER_KEY_ENV):
        raise CommandError(
            "The master key comes from {name}, so it cannot be rotated in secrets.json. "
            "Unset {name} to rotate the key in the data directory.", name=MASTER_KEY_ENV,
        )


def _flush_to_disk(path: Path) -> None:
    """Flush ``path`` and its directory entry to disk, so the key survives a power cut after the re-seal commits."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


async def _rotate(settings: Any) -> dict[str, Any]:
    async with open_database(settings) as (db, data_dir):
        current = data_dir.load_secrets()
        new_key = secrets.token_bytes(32)
        old_keys = [current.master_key, *current.old_master_keys]
        # The file first, flushed: if the re-seal then fails, every value still opens with a key in the file.
        data_dir.write_master_keys(new_key, old_keys)
        _flush_to_disk(data_dir.secrets_file)
        logger.info("Master key %s written; previous key %s kept", key_id(new_key), key_id(current.master_key))
        try:
            resealed = await key_rotation.reseal_all(db, SecretBox(new_key, tuple(old_keys)))
        except SecretBoxError as error:
            logger.error("Re-sealing tenant secrets failed, nothing re-sealed: %s", error)
            raise CommandError("A tenant secret could not be opened with the master keys: {error}",
                               error=str(error)) from None
    return {"keyId": key_id(new_key), "resealed": resealed, "oldKeys": len(old_keys)}


async def _finish(settings: Any) -> dict[str, Any]:
    async with open_database(settings) as (db, data_dir):
        current = data_dir.load_secrets()
        stale = await key_rotation.count_stale(db, SecretBox(current.master_key, current.old_master_keys))
        if stale:
            raise CommandError(
                "{count} tenant secret(s) are still sealed under a previous key. "
                "Run hotelbot secrets rotate again before --finish.", count=stale,
            )
        data_dir.write_master_keys(current.master_key, [])
        _flush_to_disk(data_dir.secrets_file)
        logger.info("Previous master keys dropped (%d); current key %s", len(current.old_master_keys),
                    key_id(current.master_key))
    return {"keyId": key_id(current.master_key), "droppedKeys": len(current.old_master_keys)}


def run_rotate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    data_dir = DataDir(settings.data_path)
    _check_master_key_in_file()

    if args.finish:
        with _holding(data_dir, settings, "secrets rotate --finish"):
            result = asyncio.run(_finish(settings))
        if args.json:
            print_json(result)
        else:
            say("Previous master keys dropped: {count}. Backups taken before the rotation no longer open.",
                count=result["droppedKeys"])
        return 0

    with _holding(data_dir, settings, "secrets rotate"):
        result = asyncio.run(_rotate(settings))
    if args.json:
        print_json(result)
    else:
        say("Master key {key} in use: {count} tenant secret(s) re-sealed. The previous key stays in secrets.json "
            "for older backups until you run hotelbot secrets rotate --finish.",
            key=result["keyId"], count=result["resealed"])
    return 0


async def _revoke_all_sessions(settings: Any) -> int:
    async with open_database(settings) as (db, _), db.write() as connection:
        return await user_store.revoke_all_sessions(connection, "signing keys replaced")


def run_rotate_signing_keys(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    data_dir = DataDir(settings.data_path)

    with _holding(data_dir, settings, "secrets rotate-signing-keys"):
        # The keys first: a server started on this directory then verifies no earlier token or link, even if
        # revoking the sessions below fails.
        data_dir.write_new_signing_keys()
        _flush_to_disk(data_dir.secrets_file)
        logger.info("Token and media link signing keys replaced in %s", data_dir.secrets_file)
        revoked = asyncio.run(_revoke_all_sessions(settings))
        logger.info("Sessions revoked after the signing keys were replaced: %d", revoked)

    if args.json:
        print_json({"revokedSessions": revoked})
    else:
        say("New signing keys in use: {count} session(s) ended. Every user logs in again, and media links "
            "sent earlier no longer open.", count=revoked)
    return 0
