"""Signed webhooks at a steady rate while the server is killed with SIGKILL and restarted.

Like Meta, the sender posts again every webhook whose response was not 200. After the
run, every message is stored exactly once and forwarded to N8N at least once;
a message forwarded twice (the kill fell between N8N's response and the commit)
carries the same Idempotency-Key and body both times.
"""

from __future__ import annotations

import asyncio
import collections

import httpx
import pytest

from tests.support.db import eventually, rows
from tests.support.faults import FULL, SteadySender, deliveries, sized

WEBHOOKS = sized("webhooks", 400, 2000)
KILLS = sized("kills", 3, 5)
RATE = sized("rate", 100, 100)
GUESTS = 25
# Worker threads that may be forwarding when a kill falls; each can leave one forward to be sent again.
FORWARD_WORKERS = 2


@pytest.fixture
def server_settings() -> dict:
    return {"workers": 2, "forward_workers": FORWARD_WORKERS, "sweep_interval": 2}


async def kill_and_restart(server, items, kills: int) -> list[int]:
    """SIGKILL the server each time another share of the webhooks is acknowledged; return the counts at each kill."""
    counts = []
    for number in range(1, kills + 1):
        threshold = len(items) * number // (kills + 1)
        await eventually(lambda: sum(item.acknowledged for item in items) >= threshold, timeout=120.0, interval=0.01)
        counts.append(sum(item.acknowledged for item in items))
        server.kill()
        await asyncio.to_thread(server.start, 30.0)
    return counts


@pytest.mark.timeout(600 if FULL else 240)
async def test_kills_lose_and_duplicate_nothing(server, n8n):
    items = deliveries(WEBHOOKS, GUESTS)
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)

    async with httpx.AsyncClient(timeout=5.0, limits=limits) as client:
        sender = SteadySender(server, client, RATE)
        kills = asyncio.create_task(kill_and_restart(server, items, KILLS))
        await sender.send_all(items)
        kill_counts = await kills

    expected = {item.wamid for item in items}
    await eventually(
        lambda: rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'DONE'") == [{"n": WEBHOOKS}],
        timeout=120.0, interval=0.2,
    )
    stored = rows(server, "SELECT whatsapp_msg_id, count(*) AS n FROM messages GROUP BY whatsapp_msg_id")
    forwards = collections.defaultdict(list)
    for request in n8n.requests:
        forwards[request.headers["idempotency-key"]].append(request)
    duplicated = {key: found for key, found in forwards.items() if len(found) > 1}
    print(
        f"\n{WEBHOOKS} webhooks at {RATE}/s, kills after {kill_counts} acknowledgements,"
        f" {sender.failures} failed POSTs posted again, {len(duplicated)} message(s) forwarded twice or more"
    )

    assert len(kill_counts) == KILLS
    assert sender.failures > 0, "no POST failed: the kills fell outside the run"
    assert all(item.acknowledged for item in items)
    assert {row["whatsapp_msg_id"] for row in stored} == expected
    assert [row for row in stored if row["n"] != 1] == []
    assert rows(server, "SELECT count(*) AS n FROM inbox WHERE processed_at IS NULL") == [{"n": 0}]
    assert rows(server, "SELECT count(*) AS n FROM conversations") == [{"n": GUESTS}]
    assert rows(server, "SELECT count(*) AS n FROM contacts") == [{"n": GUESTS}]
    assert rows(server, "SELECT count(*) AS n FROM dead_letters") == [{"n": 0}]
    assert set(forwards) == expected
    for key, found in duplicated.items():
        assert len({request.body for request in found}) == 1, key
    for key, found in forwards.items():
        assert found[0].json()["whatsappMsgId"] == key
    assert len(duplicated) <= KILLS * FORWARD_WORKERS, "more duplicates than kills times forwarding workers"
