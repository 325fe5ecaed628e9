"""The application database: one SQLite file in WAL mode.

Every write goes through one connection, serialized by a lock, inside
``BEGIN IMMEDIATE`` so that a transaction never fails half-way on a lock it
could not upgrade. Reads use a small pool of their own connections and run
concurrently with the writer, as WAL allows. aiosqlite keeps each blocking
sqlite3 connection on its own thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000


def _row_factory(cursor: sqlite3.Cursor, row: tuple) -> dict[str, Any]:
    return {column[0]: value for column, value in zip(cursor.description, row)}


def configure_connection(connection: sqlite3.Connection, synchronous: str) -> None:
    """Apply hotelbot's pragmas to a plain sqlite3 connection."""
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(f"PRAGMA synchronous = {synchronous}")
    connection.execute("PRAGMA foreign_keys = ON")


class Database:
    """Async access to the application database: one writer, several readers."""

    def __init__(self, path: Path, synchronous: str = "NORMAL", readers: int = 4) -> None:
        self.path = path
        self._synchronous = synchronous
        self._reader_count = readers
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []

    async def _connect(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(self.path, isolation_level=None)
        connection.row_factory = _row_factory
        await connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await connection.execute("PRAGMA journal_mode = WAL")
        await connection.execute(f"PRAGMA synchronous = {self._synchronous}")
        await connection.execute("PRAGMA foreign_keys = ON")
        return connection

    async def open(self) -> None:
        self._writer = await self._connect()
        for _ in range(self._reader_count):
            reader = await self._connect()
            await reader.execute("PRAGMA query_only = ON")
            self._all_readers.append(reader)
            self._readers.put_nowait(reader)
        logger.info("Database opened: %s (synchronous=%s)", self.path, self._synchronous)

    async def close(self) -> None:
        if self._writer is not None:
            async with self._write_lock:
                with contextlib.suppress(sqlite3.Error):
                    await self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                await self._writer.close()
                self._writer = None
        for reader in self._all_readers:
            await reader.close()
        self._all_readers.clear()
        logger.info("Database closed: %s", self.path)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """Yield the writer inside ``BEGIN IMMEDIATE``; commit on exit, roll back on error.

        SQLite rolls a transaction back by itself on some I/O errors (a full
        disk), so the rollback here runs only while a transaction is open and
        the caller sees the original error. After a "read-only database" error
        the writer is opened again, so writes resume once permissions are fixed.
        """
        assert self._writer is not None, "database is not open"
        async with self._write_lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
                yield self._writer
                await self._writer.execute("COMMIT")
            except BaseException as error:
                if self._writer.in_transaction:
                    await self._writer.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error) and getattr(error, "sqlite_errorname", "").startswith("SQLITE_READONLY"):
                    await self._reopen_writer()
                raise

    async def _reopen_writer(self) -> None:
        """Replace the writer with a new connection; keep the old one if the new one cannot be opened."""
        try:
            replacement = await self._connect()
        except sqlite3.Error as error:
            logger.error("Database writer could not be opened again: %s", error)
            return
        previous, self._writer = self._writer, replacement
        with contextlib.suppress(sqlite3.Error):
            await previous.close()
        logger.warning("Database writer opened again after a read-only error: %s", self.path)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """Yield a read-only connection from the pool."""
        reader = await self._readers.get()
        try:
            yield reader
        finally:
            self._readers.put_nowait(reader)


async def fetch_one(connection: aiosqlite.Connection, sql: str, params: Any = ()) -> dict | None:
    async with connection.execute(sql, params) as cursor:
        return await cursor.fetchone()


async def fetch_all(connection: aiosqlite.Connection, sql: str, params: Any = ()) -> list[dict]:
    async with connection.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


async def fetch_value(connection: aiosqlite.Connection, sql: str, params: Any = ()) -> Any:
    row = await fetch_one(connection, sql, params)
    return None if row is None else next(iter(row.values()))
