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
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
REOPEN_INTERVAL_SECONDS = 1.0
READER_WAIT_SECONDS = 5.0

T = TypeVar("T")


def _row_factory(cursor: sqlite3.Cursor, row: tuple) -> dict[str, Any]:
    return {column[0]: value for column, value in zip(cursor.description, row)}


def _is_read_only(error: BaseException) -> bool:
    """Return whether ``error`` is SQLite's "attempt to write a readonly database" or one of its variants."""
    return isinstance(error, sqlite3.Error) and getattr(error, "sqlite_errorname", "").startswith("SQLITE_READONLY")


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
        self._read_only_error: str | None = None
        self._last_reopen = 0.0

    async def _connect(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(self.path, isolation_level=None)
        connection.row_factory = _row_factory
        await connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await connection.execute("PRAGMA journal_mode = WAL")
        await connection.execute(f"PRAGMA synchronous = {self._synchronous}")
        await connection.execute("PRAGMA foreign_keys = ON")
        return connection

    async def open(self) -> None:
        await self._open_connections()
        logger.info("Database opened: %s (synchronous=%s)", self.path, self._synchronous)

    async def _open_connections(self) -> None:
        self._writer = await self._connect()
        for _ in range(self._reader_count):
            reader = await self._connect()
            await reader.execute("PRAGMA query_only = ON")
            self._all_readers.append(reader)
            self._readers.put_nowait(reader)

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
    async def write(self, single_statement: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """Yield the writer inside ``BEGIN IMMEDIATE``; commit on exit, roll back on error.

        With ``single_statement`` the caller runs exactly one statement, which
        SQLite applies atomically on its own, and the BEGIN and COMMIT round
        trips to the writer's thread are skipped (the webhook's inbox insert).

        SQLite rolls a transaction back by itself on some I/O errors (a full
        disk), so the rollback here runs only while a transaction is open and
        the caller sees the original error. After a "read-only database" error
        every connection is opened again before the next write (at most once a
        second), so writes resume without a restart once permissions are fixed.
        """
        async with self._write_lock:
            if self._read_only_error is not None:
                await self._reopen_connections()
            if self._writer is None:
                raise sqlite3.OperationalError("database is not open")
            try:
                if not single_statement:
                    await self._writer.execute("BEGIN IMMEDIATE")
                yield self._writer
                if not single_statement:
                    await self._writer.execute("COMMIT")
            except BaseException as error:
                if self._writer.in_transaction:
                    await self._writer.execute("ROLLBACK")
                if _is_read_only(error):
                    self._note_read_only(error)
                raise
            if self._read_only_error is not None:
                logger.info("Database takes writes again: %s", self.path)
                self._read_only_error = None

    def _note_read_only(self, error: BaseException) -> None:
        if self._read_only_error is None:
            logger.error(
                "Database file is read-only (%s): %s; connections will be opened again until writes succeed",
                error, self.path,
            )
        self._read_only_error = str(error)

    async def _reopen_connections(self) -> None:
        """Close and open the writer and every reader, so none keeps the file opened read-only.

        SQLite opens a file read-only when its permissions forbid writing, and
        the connections of one process share the WAL index, so every one of them
        must be closed before a new one can write. Readers in use are waited
        for up to READER_WAIT_SECONDS; otherwise the next write tries again.
        """
        if time.monotonic() - self._last_reopen < REOPEN_INTERVAL_SECONDS:
            return
        self._last_reopen = time.monotonic()
        idle: list[aiosqlite.Connection] = []
        try:
            for _ in self._all_readers:
                idle.append(await asyncio.wait_for(self._readers.get(), READER_WAIT_SECONDS))
        except asyncio.TimeoutError:
            for reader in idle:
                self._readers.put_nowait(reader)
            return

        for connection in [self._writer, *self._all_readers]:
            if connection is not None:
                with contextlib.suppress(sqlite3.Error):
                    await connection.close()
        self._writer = None
        self._all_readers.clear()
        try:
            await self._open_connections()
        except sqlite3.Error as error:
            logger.error("Database connections could not be opened again: %s: %s", self.path, error)

    async def write_on_thread(self, work: Callable[[DirectConnection], Coroutine[Any, Any, T]]) -> T:
        """Run ``work`` on the writer's thread inside ``BEGIN IMMEDIATE``; commit and return its result.

        ``work`` gets a :class:`DirectConnection` and must await nothing else,
        so a whole batch of statements costs one hand-over to the writer's
        thread instead of one per statement. On an error everything is rolled
        back and the error raised, as with :meth:`write`.
        """

        def run() -> T:
            connection = self._writer._conn
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = run_to_completion(work(DirectConnection(connection)))
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            return result

        async with self.write(single_statement=True) as writer:
            # aiosqlite 0.22 runs a function on its thread only through the private Connection._execute.
            return await writer._execute(run)

    async def read_on_thread(self, work: Callable[[DirectConnection], Coroutine[Any, Any, T]]) -> T:
        """Run ``work`` on a reader's thread and return its result: several reads for one hand-over.

        ``work`` gets a :class:`DirectConnection` and must await nothing else.
        """
        async with self.read() as reader:
            raw = reader._conn
            # aiosqlite 0.22 runs a function on its thread only through the private Connection._execute.
            return await reader._execute(lambda: run_to_completion(work(DirectConnection(raw))))

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """Yield a read-only connection from the pool."""
        reader = await self._readers.get()
        try:
            yield reader
        finally:
            self._readers.put_nowait(reader)


class DirectConnection:
    """A plain sqlite3 connection behind the coroutine methods the storage functions use.

    Only for code already on the connection's own thread: each call runs at
    once, so a coroutine built from storage functions never suspends and
    :func:`run_to_completion` can run it there.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    @property
    def in_transaction(self) -> bool:
        return self._connection.in_transaction

    async def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        return self._connection.execute(sql, parameters)

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> sqlite3.Cursor:
        return self._connection.executemany(sql, parameters)

    async def execute_fetchall(self, sql: str, parameters: Any = ()) -> list:
        return self._connection.execute(sql, parameters).fetchall()


def run_to_completion(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends and return its result.

    Raises RuntimeError (after closing the coroutine) if it waits on anything,
    which means it reached outside its DirectConnection.
    """
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return finished.value
    coroutine.close()
    raise RuntimeError("work run on the writer's thread waited on something other than its connection")


# Each aiosqlite call is a round trip to the connection's thread, and a cursor's
# execute, fetch and close are three. execute_fetchall does all in one: about 23
# round trips per inbound message instead of 45 (counted in aiosqlite's debug log).


async def fetch_one(connection: aiosqlite.Connection, sql: str, params: Any = ()) -> dict | None:
    """Return the first row of a query that selects at most a few rows, or None."""
    rows = await connection.execute_fetchall(sql, params)
    return rows[0] if rows else None


async def fetch_all(connection: aiosqlite.Connection, sql: str, params: Any = ()) -> list[dict]:
    return list(await connection.execute_fetchall(sql, params))


async def fetch_value(connection: aiosqlite.Connection, sql: str, params: Any = ()) -> Any:
    row = await fetch_one(connection, sql, params)
    return None if row is None else next(iter(row.values()))
