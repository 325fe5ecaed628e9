"""An attendant's Socket.IO client that queues every event it receives."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import socketio


class EventClient:
    """python-socketio's AsyncClient with a queue per event name."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: dict[str, list[Any]] = collections.defaultdict(list)
        self._queues: dict[str, asyncio.Queue] = collections.defaultdict(asyncio.Queue)
        self.sio.on("*", self._record)

    async def _record(self, event: str, data: Any = None) -> None:
        self.received[event].append(data)
        self._queues[event].put_nowait(data)

    async def connect(self, base_url: str, token: str | None = None, *, auth: Any = None, query_token: bool = False) -> None:
        url = base_url + (f"?token={token}" if query_token and token else "")
        await self.sio.connect(
            url,
            auth=auth if auth is not None else ({"token": token} if token and not query_token else None),
            socketio_path="socket.io",
            transports=["websocket"],
            wait_timeout=5,
        )

    async def next(self, event: str, timeout: float = 5.0) -> Any:
        """Return the next ``event`` payload; raise TimeoutError after ``timeout`` seconds."""
        return await asyncio.wait_for(self._queues[event].get(), timeout)

    async def expect_none(self, event: str, within: float = 0.5) -> None:
        """Assert that no further ``event`` arrives within ``within`` seconds."""
        try:
            data = await asyncio.wait_for(self._queues[event].get(), within)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected {event}: {data}")

    async def call(self, event: str, data: Any, timeout: float = 5.0) -> Any:
        return await self.sio.call(event, data, timeout=timeout)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await self.sio.shutdown() if hasattr(self.sio, "shutdown") else None
