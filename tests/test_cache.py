"""hotelbot's file-backed cache: on its own against a real file, and inside the running server."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest

from hotelbot.cache import Cache, stats_key, tenant_key
from tests.support.db import eventually, rows
from tests.support.stats_data import get_stats, seed_tenant, stats_version, user_id
from tests.support.webhooks import execute


class Clock:
    """A wall clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def cache(tmp_path, clock):
    opened = Cache(tmp_path / "cache.db", clock=clock)
    await opened.open()
    yield opened
    await opened.close()


def file_keys(path: Path) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return [row[0] for row in connection.execute("SELECT key FROM entries ORDER BY key")]
    finally:
        connection.close()


async def reopened(cache: Cache, clock: Clock) -> Cache:
    await cache.close()
    fresh = Cache(cache.path, clock=clock)
    await fresh.open()
    return fresh


# -- the cache on its own ------------------------------------------------------


async def test_get_returns_stored_value(cache):
    await cache.set("stats:t1:all", {"total": 3, "byStatus": {"BOT": 3}}, ttl=60)

    assert await cache.get("stats:t1:all") == {"total": 3, "byStatus": {"BOT": 3}}
    assert await cache.get("stats:t1:ubatuba") is None


async def test_returned_value_is_a_copy(cache):
    await cache.set("key", {"items": [1]}, ttl=60)

    value = await cache.get("key")
    value["items"].append(2)

    assert await cache.get("key") == {"items": [1]}


async def test_entry_expires_after_ttl(cache, clock):
    await cache.set("key", 1, ttl=300)

    clock.now += 299
    before = await cache.get("key")
    clock.now += 1
    after = await cache.get("key")

    assert before == 1
    assert after is None


async def test_expired_entry_not_read_from_file(cache, clock):
    await cache.set("key", 1, ttl=10)
    clock.now += 11

    fresh = await reopened(cache, clock)
    try:
        assert await fresh.get("key") is None
        assert file_keys(fresh.path) == []
    finally:
        await fresh.close()


async def test_entries_survive_reopen(cache, clock):
    await cache.set("stats:t1:all:7:day:2026-12-04", {"total": 9}, ttl=300)

    fresh = await reopened(cache, clock)
    try:
        assert await fresh.get("stats:t1:all:7:day:2026-12-04") == {"total": 9}
    finally:
        await fresh.close()


async def test_delete_removes_entry_from_file(cache, clock):
    await cache.set("a", 1, ttl=60)
    await cache.set("b", 2, ttl=60)

    await cache.delete("a")

    assert await cache.get("a") is None
    assert file_keys(cache.path) == ["b"]


async def test_delete_prefix_spares_other_tenants(cache, clock):
    for key in ("stats:t1:all:1", "stats:t1:ubatuba:1", "stats:t10:all:1", "stats:t2:all:1", "config:t1:units"):
        await cache.set(key, key, ttl=60)

    await cache.delete_prefix("stats:t1:")

    assert await cache.get("stats:t1:all:1") is None
    assert await cache.get("stats:t1:ubatuba:1") is None
    assert await cache.get("stats:t10:all:1") == "stats:t10:all:1"
    assert await cache.get("stats:t2:all:1") == "stats:t2:all:1"
    assert file_keys(cache.path) == ["config:t1:units", "stats:t10:all:1", "stats:t2:all:1"]


async def test_empty_prefix_rejected(cache):
    with pytest.raises(ValueError):
        await cache.delete_prefix("")


async def test_one_task_computes_a_key_at_a_time(cache):
    order: list[str] = []
    first_inside = asyncio.Event()

    async def compute(name: str, hold: asyncio.Event | None) -> None:
        async with cache.computing("stats:t1:all"):
            order.append(f"{name} in")
            if hold is not None:
                first_inside.set()
                await hold.wait()
            order.append(f"{name} out")

    release = asyncio.Event()
    first = asyncio.create_task(compute("first", release))
    await first_inside.wait()
    second = asyncio.create_task(compute("second", None))
    other_key = cache.computing("stats:t2:all")
    async with other_key:
        order.append("other key")
    release.set()
    await asyncio.gather(first, second)

    assert order == ["first in", "other key", "first out", "second in", "second out"]
    assert cache._computing == {}


def test_keys_carry_tenant():
    assert stats_key("t1", "all") == "stats:t1:all"
    assert stats_key("t1", "campos-do-jordao") == "stats:t1:campos-do-jordao"
    assert tenant_key("t1", "config", "units") == "config:t1:units"
    with pytest.raises(ValueError):
        tenant_key("", "stats", "all")


async def test_memory_layer_bounded(tmp_path, clock):
    cache = Cache(tmp_path / "cache.db", max_memory_entries=3, clock=clock)
    await cache.open()
    try:
        for index in range(5):
            await cache.set(f"key{index}", index, ttl=60)

        assert len(cache._memory) == 3
        assert await cache.get("key0") == 0
        assert file_keys(cache.path) == ["key0", "key1", "key2", "key3", "key4"]
    finally:
        await cache.close()


async def test_deleted_file_rebuilt_from_memory(cache, caplog):
    await cache.set("old", 1, ttl=60)
    os.remove(cache.path)

    from_memory = await cache.get("old")
    await cache.set("new", 2, ttl=60)

    assert from_memory == 1
    assert cache.path.exists()
    assert file_keys(cache.path) == ["new", "old"]
    assert "is unusable (the file is missing or was replaced before set)" in caplog.text


async def test_corrupted_file_rebuilt(cache, caplog):
    await cache.set("kept", {"total": 1}, ttl=60)
    with open(cache.path, "r+b") as handle:
        handle.write(os.urandom(4096))
    cache._memory.pop("kept")
    await cache.set("other", 2, ttl=60)

    missing = await cache.get("kept")
    await cache.set("after", 3, ttl=60)

    assert missing is None
    assert await cache.get("after") == 3
    assert "after" in file_keys(cache.path)
    assert "building it again" in caplog.text


async def test_truncated_file_rebuilt(cache, caplog):
    await cache.set("kept", 1, ttl=60)
    with open(cache.path, "wb"):
        pass

    await cache.set("new", 2, ttl=60)

    assert file_keys(cache.path) == ["kept", "new"]
    assert "no such table: entries" in caplog.text


async def test_garbage_file_replaced_at_open(tmp_path, clock, caplog):
    path = tmp_path / "cache.db"
    path.write_bytes(b"not a database " * 500)
    cache = Cache(path, clock=clock)

    await cache.open()
    try:
        await cache.set("key", 1, ttl=60)
        assert file_keys(path) == ["key"]
        assert "cannot be opened (file is not a database); replacing it" in caplog.text
    finally:
        await cache.close()


async def test_unusable_location_serves_from_memory(tmp_path, clock, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache's folder should be")
    cache = Cache(blocker / "cache.db", clock=clock)
    caplog.set_level(logging.WARNING, logger="hotelbot.cache")

    await cache.open()
    try:
        await cache.set("key", 1, ttl=60)
        assert await cache.get("key") == 1
        assert await cache.get("missing") is None
        assert "serving from memory" in caplog.text
    finally:
        await cache.close()


# -- the cache inside the server -----------------------------------------------


@pytest.fixture
async def seeded(server, http):
    ids = seed_tenant(server, server.tenant.id, user_id(server, "attendant"))
    ids["token"] = await server.token(http)
    return ids


def change_behind_back(server, conversation_id: str) -> int:
    """Change a counted field without changing the stats version; return that version."""
    version = stats_version(server, server.tenant.id)
    execute(server, "UPDATE conversations SET priority = 'URGENT' WHERE id = ?", (conversation_id,))
    execute(server, "UPDATE stats_versions SET version = ? WHERE tenant_id = ?", (version, server.tenant.id))
    return version


@pytest.mark.parametrize("server_settings", [{"stats_cache_ttl": 0.5}])
async def test_cached_stats_expire_after_ttl(server, http, seeded):
    first = await get_stats(server, http, seeded["token"])
    version = change_behind_back(server, seeded["c1"])

    # Only the time to live can end the cached response, since the version did not change.
    deadline = time.monotonic() + 10
    response = await get_stats(server, http, seeded["token"])
    while response.headers["X-Cache"] == "HIT":
        assert time.monotonic() < deadline, "the cached answer never expired"
        assert response.json()["byPriority"]["URGENT"] == 1
        response = await get_stats(server, http, seeded["token"])

    assert first.headers["X-Cache"] == "MISS"
    assert stats_version(server, server.tenant.id) == version
    assert response.json()["byPriority"]["URGENT"] == 2


async def test_cache_file_deleted_while_serving(server, http, seeded):
    cache_file = server.data_dir / "cache.db"
    await get_stats(server, http, seeded["token"])
    os.remove(cache_file)

    from_memory = await get_stats(server, http, seeded["token"])
    execute(server, "UPDATE conversations SET status = 'CLOSED' WHERE id = ?", (seeded["c1"],))
    counted = await get_stats(server, http, seeded["token"])
    cached = await get_stats(server, http, seeded["token"])

    assert from_memory.status_code == 200
    assert from_memory.headers["X-Cache"] == "HIT"
    assert counted.status_code == 200
    assert counted.headers["X-Cache"] == "MISS"
    assert counted.json()["byStatus"]["CLOSED"] == 3
    assert cached.headers["X-Cache"] == "HIT"
    assert cache_file.exists()
    assert "Cache file %s is unusable" % cache_file in server.log()


async def test_cache_file_corrupted_while_serving(server, http, seeded):
    cache_file = server.data_dir / "cache.db"
    await get_stats(server, http, seeded["token"])
    with open(cache_file, "r+b") as handle:
        handle.write(b"\x00garbage" * 1024)

    execute(server, "UPDATE conversations SET status = 'CLOSED' WHERE id = ?", (seeded["c1"],))
    counted = await get_stats(server, http, seeded["token"])
    server.restart()
    after_restart = await get_stats(server, http, await server.token(http))

    assert counted.status_code == 200
    assert counted.headers["X-Cache"] == "MISS"
    assert counted.json()["byStatus"]["CLOSED"] == 3
    assert after_restart.headers["X-Cache"] == "HIT"
    assert after_restart.json() == counted.json()
    assert "building it again" in server.log()
    assert "Traceback" not in server.log()


async def test_simultaneous_misses_count_once(server, http, seeded):
    execute(server, "UPDATE conversations SET status = 'CLOSED' WHERE id = ?", (seeded["c1"],))
    counted_before = server.log().count(f"Stats of tenant {server.tenant.id} counted")

    responses = await asyncio.gather(*(get_stats(server, http, seeded["token"]) for _ in range(8)))

    assert [response.status_code for response in responses] == [200] * 8
    assert sorted(response.headers["X-Cache"] for response in responses) == ["HIT"] * 7 + ["MISS"]
    assert [response.json()["byStatus"]["CLOSED"] for response in responses] == [3] * 8
    await eventually(lambda: server.log().count(f"Stats of tenant {server.tenant.id} counted") > counted_before)
    assert server.log().count(f"Stats of tenant {server.tenant.id} counted") == counted_before + 1


async def test_cache_file_keys_carry_tenant(server, http, seeded):
    other = server.tenants[1]
    await get_stats(server, http, seeded["token"])
    await get_stats(server, http, await server.token(http, tenant=other), hotelUnit="Ubatuba")

    keys = file_keys(server.data_dir / "cache.db")
    prefixes = sorted(":".join(key.split(":")[:3]) for key in keys)

    assert prefixes == sorted([f"stats:{server.tenant.id}:all", f"stats:{other.id}:ubatuba"])
    assert rows(server, "SELECT count(*) AS n FROM stats_versions") == [{"n": 2}]
