"""Fixtures: fake Graph API and N8N on loopback, and the real server in a temporary data directory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.support.fakes import FakeGraph, FakeN8N
from tests.support.server import ServerProcess, launch
from tests.support.sockets import EventClient


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph().start()
    yield fake
    fake.stop()


@pytest.fixture
def n8n() -> Iterator[FakeN8N]:
    fake = FakeN8N().start()
    yield fake
    fake.stop()


@pytest.fixture
def server_settings() -> dict:
    """Extra HOTELBOT_* settings for the server; override in a test module to change them."""
    return {}


@pytest.fixture
def server(tmp_path, graph, n8n, server_settings) -> Iterator[ServerProcess]:
    process = launch(tmp_path / "data", graph.url, n8n.url, **server_settings)
    yield process
    process.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


@pytest.fixture
async def sockets() -> AsyncIterator[list[EventClient]]:
    """A list to which a test appends its socket clients; all are closed afterwards."""
    clients: list[EventClient] = []
    yield clients
    for client in clients:
        await client.close()
