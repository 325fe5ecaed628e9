"""Reading the server's SQLite file from tests, and waiting for a state to be reached."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from typing import Any


def rows(server: Any, sql: str, params: tuple = ()) -> list[dict]:
    connection = sqlite3.connect(server.data_dir / "hotelbot.db", timeout=5)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute(sql, params)]
    finally:
        connection.close()


async def eventually(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Re-run ``check`` until it returns a truthy value; raise TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not reached in {timeout} s (last value {value!r})")
        await asyncio.sleep(interval)


def wait_until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Re-run ``check`` until it returns a truthy value, for synchronous fixtures; raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not reached in {timeout} s (last value {value!r})")
        time.sleep(0.05)
