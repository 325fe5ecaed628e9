"""Online backups of a data directory, and their restore.

A backup is a gzip'd tar holding a consistent copy of the application
database (SQLite's online backup API, safe while the server writes), the
secrets file and the media store, plus ``manifest.json``. The secrets file
holds the master key that opens the tenants' tokens: whoever has a backup has
everything, so a backup must be kept as safely as the server itself, or
encrypted with a passphrase.

Encrypted backups start with ``HBK1``, a 16-byte scrypt salt and an 8-byte
nonce prefix, followed by 1 MiB chunks, each ``<length:4><AES-256-GCM
ciphertext>``; a chunk's nonce is the prefix plus its index, and its
associated data is its index and whether it is the last, so chunks cannot be
reordered, dropped or truncated unnoticed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import os
import secrets
import shutil
import sqlite3
import struct
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from hotelbot import __version__
from hotelbot.clock import now_iso
from hotelbot.datadir import SECRETS_FILE, DataDir

logger = logging.getLogger(__name__)

MAGIC = b"HBK1"
CHUNK = 1024 * 1024
Progress = Callable[[str, float], None]


class BackupError(Exception):
    """A backup cannot be written or restored; the message says why (English, translated by the CLI)."""

    def __init__(self, message: str, **params: object) -> None:
        self.params = params
        super().__init__(message)


def _key(passphrase: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode())


def _encrypt(source: BinaryIO, target: BinaryIO, passphrase: str) -> None:
    salt, prefix = secrets.token_bytes(16), secrets.token_bytes(8)
    cipher = AESGCM(_key(passphrase, salt))
    target.write(MAGIC + salt + prefix)
    index = 0
    chunk = source.read(CHUNK)
    while True:
        following = source.read(CHUNK)
        final = not following
        nonce = prefix + struct.pack(">I", index)
        sealed = cipher.encrypt(nonce, chunk, struct.pack(">I?", index, final))
        target.write(struct.pack(">I", len(sealed)) + sealed)
        if final:
            return
        chunk, index = following, index + 1


def _decrypt(source: BinaryIO, target: BinaryIO, passphrase: str) -> None:
    header = source.read(len(MAGIC) + 24)
    if not header.startswith(MAGIC):
        raise BackupError("This file is not an encrypted hotelbot backup.")
    salt, prefix = header[4:20], header[20:28]
    cipher = AESGCM(_key(passphrase, salt))
    index = 0
    while True:
        size = source.read(4)
        if len(size) < 4:
            raise BackupError("The backup is truncated.")
        expected = struct.unpack(">I", size)[0]
        sealed = source.read(expected)
        if len(sealed) < expected:
            raise BackupError("The backup is truncated.")
        nonce = prefix + struct.pack(">I", index)
        for final in (False, True):
            try:
                target.write(cipher.decrypt(nonce, sealed, struct.pack(">I?", index, final)))
                break
            except InvalidTag:
                if final:
                    raise BackupError("Wrong passphrase, or the backup is damaged.") from None
        if final:
            return
        index += 1


def _copy_database(source: Path, target: Path, progress: Progress) -> None:
    """Copy a live SQLite database page by page with the online backup API.

    The source connection keeps one read transaction open for the whole copy, so
    the copy is the snapshot at its start. Without it, SQLite restarts the copy
    whenever another process (the server) commits between two steps, and a
    large database under steady writes would never finish.
    """
    origin = sqlite3.connect(source, timeout=30, isolation_level=None)
    copy = sqlite3.connect(target)
    try:
        origin.execute("BEGIN")
        origin.execute("SELECT count(*) FROM sqlite_master").fetchone()

        def report(status: int, remaining: int, total: int) -> None:
            progress("database", 1.0 - remaining / total if total else 1.0)

        origin.backup(copy, pages=2048, progress=report, sleep=0)
        origin.execute("COMMIT")
    finally:
        origin.close()
        copy.close()
    progress("database", 1.0)


def _master_keys(secrets_content: bytes) -> tuple[str | None, list[str]]:
    """Return the master key and the previous ones that a secrets file's content names."""
    content = json.loads(secrets_content)
    return content.get("masterKey"), content.get("oldMasterKeys", [])


def _media_files(data_dir: DataDir) -> Iterator[Path]:
    if data_dir.media.is_dir():
        yield from (path for path in sorted(data_dir.media.rglob("*")) if path.is_file() and not path.name.endswith(".part"))


def create_backup(data_dir: DataDir, destination: Path, passphrase: str | None = None, progress: Progress = lambda *_: None) -> dict:
    """Write a backup of ``data_dir`` to ``destination``; return its manifest."""
    if not data_dir.exists():
        raise BackupError("No hotelbot data directory at {path}.", path=data_dir.root)
    destination.parent.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".backup-") as scratch:
        database_copy = Path(scratch) / "hotelbot.db"
        keys_before = _master_keys(data_dir.secrets_file.read_bytes())
        _copy_database(data_dir.database, database_copy, progress)
        secrets_content = data_dir.secrets_file.read_bytes()
        if _master_keys(secrets_content) != keys_before:
            # After secrets rotate and --finish, the copy may hold tenant secrets sealed under a key that the
            # secrets file no longer contains, so the backup would restore without its tenants' tokens.
            logger.error("Master key changed during the backup of %s; backup abandoned", data_dir.root)
            raise BackupError("The master key changed during the backup (hotelbot secrets rotate ran): run the backup again.")
        with contextlib.closing(sqlite3.connect(database_copy)) as connection:
            messages = connection.execute("SELECT count(*) FROM messages").fetchone()[0]
        media = list(_media_files(data_dir))
        manifest = {"version": __version__, "createdAt": now_iso(), "messages": messages, "mediaFiles": len(media)}

        archive_path = Path(scratch) / "backup.tar.gz"
        with tarfile.open(archive_path, "w:gz") as archive:
            archive.add(database_copy, "hotelbot.db")
            secrets_info = archive.gettarinfo(data_dir.secrets_file, "secrets.json")
            secrets_info.size = len(secrets_content)
            archive.addfile(secrets_info, io.BytesIO(secrets_content))
            for number, path in enumerate(media, start=1):
                archive.add(path, "media/" + str(path.relative_to(data_dir.media)))
                progress("media", number / len(media))
            raw = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))

        _write_final(archive_path, destination, passphrase, progress)

    logger.info("Backup written to %s (%d messages, %d media files)", destination, messages, len(media))
    return manifest


class _ProgressReader:
    """A file wrapper that reports the share of ``total`` bytes read so far as stage ``writing``."""

    def __init__(self, handle: BinaryIO, total: int, progress: Progress) -> None:
        self._handle = handle
        self._total = total
        self._done = 0
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._done += len(data)
        self._progress("writing", self._done / self._total if self._total else 1.0)
        return data


def _write_final(archive_path: Path, destination: Path, passphrase: str | None, progress: Progress) -> None:
    """Write the archive to ``destination`` (encrypted with a passphrase), mode 0600, replacing it atomically."""
    partial = destination.with_name(destination.name + ".part")
    try:
        with archive_path.open("rb") as plain, partial.open("wb") as target:
            os.chmod(partial, 0o600)
            source = _ProgressReader(plain, archive_path.stat().st_size, progress)
            if passphrase:
                _encrypt(source, target, passphrase)
            else:
                shutil.copyfileobj(source, target, CHUNK)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, destination)


def _safe_members(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = []
    for member in archive.getmembers():
        path = Path(member.name)
        if path.is_absolute() or ".." in path.parts or not (member.isfile() or member.isdir()):
            raise BackupError("The backup contains an unsafe path: {path}.", path=member.name)
        members.append(member)
    return members


def restore_backup(source: Path, data_dir: DataDir, passphrase: str | None = None, replace: bool = False) -> dict:
    """Restore a backup into ``data_dir``; return its manifest.

    Refuses while a server runs on ``data_dir``, and refuses to replace existing
    data unless ``replace``; replaced data is kept beside it, renamed.
    """
    if not source.is_file():
        raise BackupError("Backup file not found: {path}.", path=source)
    if data_dir.is_serving():
        raise BackupError("A hotelbot server is running on this data directory; stop it first.")
    if data_dir.exists() and not replace:
        raise BackupError("The data directory already contains data; pass --replace to replace it.")

    data_dir.root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=data_dir.root.parent) as scratch:
        unpacked = _unpack(source, Path(scratch), passphrase)
        manifest = _check_unpacked(unpacked)

        if data_dir.root.exists() and any(data_dir.root.iterdir()):
            aside = data_dir.root.with_name(f"{data_dir.root.name}.before-restore-{dt.datetime.now():%Y%m%d-%H%M%S}")
            data_dir.root.rename(aside)
            logger.info("Existing data moved to %s", aside)
        (unpacked / "manifest.json").unlink()
        shutil.move(str(unpacked), str(data_dir.root))
        os.chmod(data_dir.root, 0o700)

    logger.info("Backup %s restored into %s (%d messages)", source, data_dir.root, manifest["messages"])
    return manifest


def _unpack(source: Path, scratch: Path, passphrase: str | None) -> Path:
    """Decrypt (when encrypted) and unpack a backup into ``scratch``; return the unpacked folder."""
    archive_path = scratch / "backup.tar.gz"
    with source.open("rb") as encrypted, archive_path.open("wb") as plain:
        head = encrypted.read(len(MAGIC))
        encrypted.seek(0)
        if head == MAGIC:
            if not passphrase:
                raise BackupError("This backup is encrypted: pass its passphrase.")
            _decrypt(encrypted, plain, passphrase)
        else:
            shutil.copyfileobj(encrypted, plain)

    unpacked = scratch / "data"
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            archive.extractall(unpacked, members=_safe_members(archive), filter="data")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise BackupError("The backup cannot be read: {error}.", error=error) from error
    return unpacked


def _check_unpacked(unpacked: Path) -> dict:
    """Return the manifest of an unpacked backup; raise BackupError when a part is missing or damaged."""
    for name in ("manifest.json", "hotelbot.db", SECRETS_FILE):
        if not (unpacked / name).is_file():
            raise BackupError("The backup is incomplete: {name} is missing.", name=name)
    try:
        manifest = json.loads((unpacked / "manifest.json").read_text())
    except ValueError as error:
        raise BackupError("The backup cannot be read: {error}.", error=error) from error

    try:
        with contextlib.closing(sqlite3.connect(unpacked / "hotelbot.db")) as connection:
            verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError:
        verdict = "not a database"
    if verdict != "ok":
        raise BackupError("The backup's database failed its integrity check.")
    return manifest


def rotate_backups(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` scheduled backups in ``folder``; return the deleted ones."""
    backups = sorted(folder.glob("hotelbot-*.backup"))
    removed = backups[:-keep] if keep > 0 else []
    for path in removed:
        path.unlink()
    return removed
