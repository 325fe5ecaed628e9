"""The media store on disk: ``<data dir>/media/{tenantId}/{fileId}``.

A file arrives through :class:`IncomingFile`: a temporary file in the
tenant's folder, hashed and bounded while it is written, and renamed to its
final name only when complete, so no reader sees half a file. Paths are built
only from ids of the stored form (32 hex digits, plus an extension for files),
never from a name a guest or a URL supplied.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from hotelbot.clock import new_id
from hotelbot.domain.media import is_file_id, is_tenant_id

logger = logging.getLogger(__name__)

# Temporary files end in ".part", which backups skip.
PARTIAL_PREFIX = ".incoming-"
PARTIAL_SUFFIX = ".part"
COPY_CHUNK = 1024 * 1024


class FileTooLarge(Exception):
    """The file grew past its size limit; nothing of it is kept."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"file larger than {limit} bytes")


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, tenant_id: str) -> Path:
        """Return the tenant's folder; raise ValueError for an id not of the stored form."""
        if not is_tenant_id(tenant_id):
            raise ValueError("invalid tenant id")
        return self.root / tenant_id

    def path(self, tenant_id: str, file_id: str) -> Path | None:
        """Return where a file lives, or None when either id is not of the stored form."""
        if not is_tenant_id(tenant_id) or not is_file_id(file_id):
            return None
        return self.root / tenant_id / file_id

    def incoming(self, tenant_id: str, limit: int) -> IncomingFile:
        return IncomingFile(self.folder(tenant_id), limit)

    def remove(self, tenant_id: str, file_id: str) -> int:
        """Delete a stored file; return the bytes freed (0 when it was already gone)."""
        path = self.path(tenant_id, file_id)
        if path is None:
            return 0
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def remove_stale_partials(self, older_than_seconds: float) -> int:
        """Delete temporary files left by downloads that a crash interrupted; return the bytes freed."""
        freed = 0
        cutoff = time.time() - older_than_seconds
        for partial in self.root.glob(f"*/{PARTIAL_PREFIX}*{PARTIAL_SUFFIX}"):
            try:
                stat = partial.stat()
                if stat.st_mtime < cutoff:
                    partial.unlink()
                    freed += stat.st_size
            except FileNotFoundError:
                continue
        return freed


class IncomingFile:
    """A file being written into a tenant's folder, hashed and bounded as it grows.

    Use as ``async with``: leaving the block without :meth:`keep` deletes the
    temporary file, also on an error or a cancelled task.
    """

    def __init__(self, folder: Path, limit: int) -> None:
        self._folder = folder
        self._limit = limit
        self._handle: BinaryIO | None = None
        self._temporary: Path | None = None
        self._kept = False
        self.size = 0
        self.digest = hashlib.sha256()

    async def __aenter__(self) -> IncomingFile:
        await asyncio.to_thread(self._open)
        return self

    def _open(self) -> None:
        self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX, dir=self._folder)
        self._handle = os.fdopen(descriptor, "wb")
        self._temporary = Path(name)

    async def __aexit__(self, kind: type | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if not self._kept:
            self._discard()

    def _discard(self) -> None:
        if self._handle is not None and not self._handle.closed:
            self._handle.close()
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)

    def _account(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._limit:
            raise FileTooLarge(self._limit)
        self.digest.update(chunk)

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk``; raise FileTooLarge as soon as the file passes its limit."""
        self._account(chunk)
        assert self._handle is not None
        await asyncio.to_thread(self._handle.write, chunk)

    async def copy_from(self, source: BinaryIO) -> None:
        """Append everything ``source`` holds, in a thread; raise FileTooLarge past the limit."""
        await asyncio.to_thread(self._copy, source)

    def _copy(self, source: BinaryIO) -> None:
        assert self._handle is not None
        while chunk := source.read(COPY_CHUNK):
            self._account(chunk)
            self._handle.write(chunk)

    async def keep(self, extension: str) -> str:
        """Flush the file to disk under a new random id ending in ``extension``; return that id."""
        file_id = new_id() + extension
        if not is_file_id(file_id):
            raise ValueError(f"invalid extension {extension!r}")
        await asyncio.to_thread(self._finish, self._folder / file_id)
        self._kept = True
        return file_id

    def _finish(self, destination: Path) -> None:
        assert self._handle is not None and self._temporary is not None
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self._temporary, destination)
