"""The data directory: SQLite files, media, cache and generated secrets.

Layout::

    <data dir>/
      hotelbot.db       application database
      queue.db          Huey's queue (its own file, its own transactions)
      cache.db          file-backed cache
      media/<tenant>/   stored media files
      secrets.json      generated keys, mode 0600
      run/              the one-file executable's unpack directory
"""

from __future__ import annotations

import base64
import dataclasses
import fcntl
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SECRETS_FILE = "secrets.json"
MASTER_KEY_ENV = "HOTELBOT_MASTER_KEY"


class DataDirBusy(RuntimeError):
    """Another hotelbot server already runs on this data directory."""


@dataclasses.dataclass(frozen=True)
class DataSecrets:
    jwt_secret: str
    master_key: bytes
    old_master_keys: tuple[bytes, ...]
    media_key: bytes

    def __repr__(self) -> str:
        return "DataSecrets(<hidden>)"


@dataclasses.dataclass(frozen=True)
class DataDir:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / "hotelbot.db"

    @property
    def queue(self) -> Path:
        return self.root / "queue.db"

    @property
    def cache(self) -> Path:
        return self.root / "cache.db"

    @property
    def media(self) -> Path:
        return self.root / "media"

    @property
    def secrets_file(self) -> Path:
        return self.root / SECRETS_FILE

    @property
    def lock_file(self) -> Path:
        return self.root / "run" / "serve.lock"

    def lock_for_serving(self, holder: str = "serve") -> Any:
        """Take the lock that marks this directory as served; raise DataDirBusy if another process holds it.

        ``holder`` names the command taking the lock (``serve``, ``secrets rotate``), written after the
        pid so that a refused command can name it. Returns the open lock file; the lock lasts until it is
        closed or the process ends.
        """
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        handle = self.lock_file.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise DataDirBusy(str(self.root)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {holder}")
        handle.flush()
        return handle

    def lock_holder(self) -> str:
        """Return the command named in the lock file, such as ``serve``; ``serve`` for a file with a pid only."""
        try:
            content = self.lock_file.read_text()
        except OSError:
            return "serve"
        _, _, holder = content.strip().partition(" ")
        return holder or "serve"

    def is_serving(self) -> bool:
        """Whether a server process holds this directory's serve lock."""
        if not self.lock_file.exists():
            return False
        with self.lock_file.open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
        return False

    def exists(self) -> bool:
        return self.secrets_file.is_file() and self.database.is_file()

    def create(self) -> None:
        """Create the directories and, when missing, the secrets file (mode 0600)."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.media.mkdir(exist_ok=True)
        if self.secrets_file.exists():
            return

        content = {
            "jwtSecret": secrets.token_urlsafe(48),
            "masterKey": base64.b64encode(secrets.token_bytes(32)).decode(),
            "oldMasterKeys": [],
            "mediaKey": base64.b64encode(secrets.token_bytes(32)).decode(),
        }
        descriptor = os.open(self.secrets_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(content, handle, indent=2)
        logger.info("Secrets generated in %s", self.secrets_file)

    def load_secrets(self) -> DataSecrets:
        """Read the secrets file; HOTELBOT_MASTER_KEY (base64) overrides its master key."""
        content = json.loads(self.secrets_file.read_text())
        master = os.environ.get(MASTER_KEY_ENV) or content["masterKey"]
        return DataSecrets(
            jwt_secret=content["jwtSecret"],
            master_key=base64.b64decode(master),
            old_master_keys=tuple(base64.b64decode(key) for key in content.get("oldMasterKeys", [])),
            media_key=base64.b64decode(content["mediaKey"]),
        )

    def write_master_keys(self, new_key: bytes, old_keys: list[bytes]) -> None:
        self._update_secrets({
            "masterKey": base64.b64encode(new_key).decode(),
            "oldMasterKeys": [base64.b64encode(key).decode() for key in old_keys],
        })

    def write_new_signing_keys(self) -> None:
        """Replace the keys that sign access tokens and media links with new random ones."""
        self._update_secrets({
            "jwtSecret": secrets.token_urlsafe(48),
            "mediaKey": base64.b64encode(secrets.token_bytes(32)).decode(),
        })

    def _update_secrets(self, changes: dict[str, Any]) -> None:
        """Write ``changes`` into the secrets file through a 0600 temporary file and a rename.

        The new file keeps the old one's owner, so a command run as root leaves it readable by the
        service's own user.
        """
        content = json.loads(self.secrets_file.read_text())
        content.update(changes)
        owner = self.secrets_file.stat()
        temporary = self.secrets_file.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            if os.geteuid() == 0:
                os.fchown(handle.fileno(), owner.st_uid, owner.st_gid)
            json.dump(content, handle, indent=2)
        os.replace(temporary, self.secrets_file)
