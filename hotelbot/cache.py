"""hotelbot's own cache: an in-process layer in front of a SQLite file.

It takes the place of the Redis cache of the original design. Values are JSON
documents stored under string keys with a time to live:

- the in-process layer (a dict with expiry times) serves repeated reads
  without any I/O;
- the file ``<data dir>/cache.db`` keeps entries across a restart. It is opened
  with aiosqlite, so no file access blocks the event loop.

Keys are namespaced by tenant (:func:`tenant_key`, :func:`stats_key`) so that
one tenant's entries can never be read under another's name.

The cache is an optimization and never a source of truth. When the file is
deleted, replaced or corrupted while the server runs, the failure is logged,
the file is built again from the in-process entries, and callers see at worst
a miss. No cache error reaches a request.

Nothing secret goes into this cache: the file is plain on disk. Tenants with
their decrypted secrets, which the webhook and N8N routes read on every
request, live in the in-process :class:`hotelbot.tenancy.TenantDirectory`
instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

logger = logging.getLogger(__name__)

Result = TypeVar("Result")

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entries ("
    " key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL NOT NULL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS entries_expiry ON entries (expires_at)",
)
MAX_MEMORY_ENTRIES = 10_000
PURGE_INTERVAL = 60.0
# Seconds between attempts to reopen a cache file that could not be created.
REOPEN_DELAY = 30.0


def tenant_key(tenant_id: str, *parts: str) -> str:
    """Return ``{parts[0]}:{tenant_id}:{parts[1]}:…``, the key of a tenant's entry."""
    if not tenant_id:
        raise ValueError("a tenant key needs a tenant id")
    head, *rest = parts
    return ":".join((head, tenant_id, *rest))


def stats_key(tenant_id: str, unit: str) -> str:
    """Return ``stats:{tenantId}:{unit}``, the prefix of a tenant's dashboard entries.

    ``unit`` is a unit slug, ``all`` for every unit or ``none`` for conversations without one.
    """
    return tenant_key(tenant_id, "stats", unit)


def _prefix_end(prefix: str) -> str:
    """Return the smallest string above every string that starts with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class Cache:
    """Get, set with a time to live, delete and delete by prefix, in memory and in a file."""

    def __init__(
        self, path: Path, max_memory_entries: int = MAX_MEMORY_ENTRIES, clock: Callable[[], float] = time.time
    ) -> None:
        """``clock`` returns wall-clock seconds, because the expiry times stored in the file must hold across a restart."""
        self.path = path
        self._clock = clock
        self._max_memory_entries = max_memory_entries
        self._memory: dict[str, tuple[float, str]] = {}
        self._connection: aiosqlite.Connection | None = None
        self._inode: int | None = None
        self._lock = asyncio.Lock()
        self._purged_at = 0.0
        self._retry_at = 0.0
        # Key -> (lock, number of tasks holding or waiting for it).
        self._computing: dict[str, tuple[asyncio.Lock, int]] = {}

    async def open(self) -> None:
        """Open the file, building it again when it cannot be read; drop expired entries."""
        async with self._lock:
            await self._open_file()
            await self._guarded("purge", self._purge_file)
        logger.info("Cache opened: %s", self.path)

    async def close(self) -> None:
        async with self._lock:
            await self._close_file()
        self._memory.clear()
        logger.info("Cache closed: %s", self.path)

    async def get(self, key: str) -> Any | None:
        """Return the value stored under ``key``, or None when it is missing or expired."""
        text = self._memory_get(key)
        if text is None:
            text = await self._file_get(key)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError:
            logger.warning("Cache entry %s is not valid JSON; deleting it", key)
            await self.delete(key)
            return None

    async def set(self, key: str, value: Any, ttl: float) -> None:
        """Store ``value`` (JSON-serializable) under ``key`` for ``ttl`` seconds."""
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        expires_at = self._clock() + ttl
        self._memory_put(key, expires_at, text)

        async def write(connection: aiosqlite.Connection) -> None:
            await connection.execute(
                "INSERT INTO entries (key, value, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                (key, text, expires_at),
            )
            if time.monotonic() - self._purged_at > PURGE_INTERVAL:
                await self._purge_file(connection)

        async with self._lock:
            await self._guarded("set", write)

    async def delete(self, key: str) -> None:
        self._memory.pop(key, None)

        async def remove(connection: aiosqlite.Connection) -> None:
            await connection.execute("DELETE FROM entries WHERE key = ?", (key,))

        async with self._lock:
            await self._guarded("delete", remove)

    async def delete_prefix(self, prefix: str) -> None:
        """Delete every entry whose key starts with ``prefix`` (which must not be empty)."""
        if not prefix:
            raise ValueError("an empty prefix would delete the whole cache")
        for key in [key for key in self._memory if key.startswith(prefix)]:
            del self._memory[key]

        async def remove(connection: aiosqlite.Connection) -> None:
            await connection.execute(
                "DELETE FROM entries WHERE key >= ? AND key < ?", (prefix, _prefix_end(prefix))
            )

        async with self._lock:
            await self._guarded("delete by prefix", remove)

    @contextlib.asynccontextmanager
    async def computing(self, key: str) -> AsyncIterator[None]:
        """Let one task at a time compute the value of ``key``; the others wait, then read what it stored.

        Dashboards that refresh on the same event would otherwise all count the
        same figures at the same moment.
        """
        lock, users = self._computing.get(key, (asyncio.Lock(), 0))
        self._computing[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._computing[key]
            if users == 1:
                del self._computing[key]
            else:
                self._computing[key] = (lock, users - 1)

    # -- the in-process layer ------------------------------------------------

    def _memory_get(self, key: str) -> str | None:
        entry = self._memory.get(key)
        if entry is None:
            return None
        expires_at, text = entry
        if expires_at <= self._clock():
            self._memory.pop(key, None)
            return None
        return text

    def _memory_put(self, key: str, expires_at: float, text: str) -> None:
        self._memory.pop(key, None)
        self._memory[key] = (expires_at, text)
        if len(self._memory) <= self._max_memory_entries:
            return

        now = self._clock()
        for stale in [name for name, (expiry, _) in self._memory.items() if expiry <= now]:
            del self._memory[stale]
        while len(self._memory) > self._max_memory_entries:
            # Dicts keep insertion order, so the first key is the oldest entry.
            del self._memory[next(iter(self._memory))]

    # -- the file ------------------------------------------------------------

    async def _file_get(self, key: str) -> str | None:
        async def read(connection: aiosqlite.Connection) -> tuple[float, str] | None:
            async with connection.execute(
                "SELECT expires_at, value FROM entries WHERE key = ?", (key,)
            ) as cursor:
                return await cursor.fetchone()

        async with self._lock:
            row = await self._guarded("get", read)
        if row is None:
            return None
        expires_at, text = row
        if expires_at <= self._clock():
            return None
        self._memory_put(key, expires_at, text)
        return text

    async def _guarded(
        self, operation: str, action: Callable[[aiosqlite.Connection], Awaitable[Result]]
    ) -> Result | None:
        """Run ``action`` on the file and return its result, or None when the file stays unusable.

        A missing, replaced or unreadable file is logged and built again, then
        ``action`` runs once more. The caller must have acquired ``self._lock``.
        """
        for attempt in (1, 2):
            if self._connection is None and time.monotonic() < self._retry_at:
                return None
            if self._connection is None or await asyncio.to_thread(self._file_replaced):
                await self._rebuild(f"the file is missing or was replaced before {operation}")
            if self._connection is None:
                self._retry_at = time.monotonic() + REOPEN_DELAY
                return None
            try:
                return await action(self._connection)
            except sqlite3.DatabaseError as error:
                if attempt == 2:
                    logger.error("Cache %s failed again on %s: %s; serving from memory", operation, self.path, error)
                    return None
                await self._rebuild(f"{operation} failed: {error}")
        return None

    def _file_replaced(self) -> bool:
        try:
            return os.stat(self.path).st_ino != self._inode
        except OSError:
            return True

    async def _rebuild(self, reason: str) -> None:
        """Remove the cache file, create it again and write the live in-process entries back into it."""
        logger.warning("Cache file %s is unusable (%s); building it again", self.path, reason)
        await self._close_file()
        await asyncio.to_thread(self._remove_files)
        await self._open_file()
        if self._connection is None:
            return

        now = self._clock()
        live = [(key, text, expiry) for key, (expiry, text) in self._memory.items() if expiry > now]
        try:
            await self._connection.executemany(
                "INSERT OR REPLACE INTO entries (key, value, expires_at) VALUES (?, ?, ?)", live
            )
        except sqlite3.DatabaseError as error:
            logger.error("Cache file %s could not take back %d entries: %s", self.path, len(live), error)
            return
        logger.info("Cache file %s built again with %d entries from memory", self.path, len(live))

    def _remove_files(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            # A file that cannot be removed makes the next open fail, which is logged there.
            with contextlib.suppress(OSError):
                os.remove(f"{self.path}{suffix}")

    async def _open_file(self) -> None:
        """Open (creating) the file; when it is not a usable database, replace it with an empty one."""
        for attempt in (1, 2):
            try:
                self._connection = await self._connect()
                return
            except sqlite3.DatabaseError as error:
                logger.warning("Cache file %s cannot be opened (%s); replacing it", self.path, error)
                await self._close_file()
                await asyncio.to_thread(self._remove_files)
            except OSError as error:
                logger.error("Cache file %s cannot be created (%s); serving from memory", self.path, error)
                return
        logger.error("Cache file %s cannot be opened; serving from memory", self.path)

    async def _connect(self) -> aiosqlite.Connection:
        # No fsync, because the file is disposable. With a rollback journal SQLite
        # checks the file's change counter at the start of every transaction, so a
        # file overwritten under it fails at the next statement (seen with SQLite 3.40).
        connection = await aiosqlite.connect(self.path, isolation_level=None)
        self._connection = connection
        await connection.execute("PRAGMA busy_timeout = 2000")
        await connection.execute("PRAGMA journal_mode = DELETE")
        await connection.execute("PRAGMA synchronous = OFF")
        for statement in SCHEMA:
            await connection.execute(statement)
        self._inode = (await asyncio.to_thread(os.stat, self.path)).st_ino
        return connection

    async def _close_file(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(sqlite3.Error, ValueError):
            await connection.close()

    async def _purge_file(self, connection: aiosqlite.Connection) -> None:
        await connection.execute("DELETE FROM entries WHERE expires_at <= ?", (self._clock(),))
        self._purged_at = time.monotonic()
