"""Meta's Graph API responding 500, then 429 with Retry-After, then unreachable, then back.

Attendants' replies written meanwhile get 202 and leave, in the order
they were written, once Meta is back. A media download waits out the same
faults and Meta's Retry-After.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tests.support.db import eventually, rows
from tests.support.fakes import Recorded, Reply
from tests.support.media import jpeg, media_webhook
from tests.support.sockets import EventClient
from tests.support.webhooks import new_wamid, text_message

RETRY_AFTER = 2
SERVER_ERROR = {"error": {"message": "An unknown error has occurred.", "type": "OAuthException", "code": 1}}
RATE_LIMITED = {"error": {"message": "(#80007) Rate limit hit", "type": "OAuthException", "code": 80007}}


@pytest.fixture
def server_settings() -> dict:
    return {"retry_delay": 0.2, "retry_delay_max": 1.0, "media_attempts": 20}


class FlakyGraph:
    """Wrap the fake Graph API's handler: ``error`` responds 500, ``limited`` 429 with Retry-After, ``up`` passes through."""

    def __init__(self, graph, paths: str) -> None:
        self.graph = graph
        self.passthrough = graph.default_handler
        self.paths = paths
        self.phase = "up"
        self.answers: list[tuple[str, float, Recorded]] = []
        self._lock = threading.Lock()

    def __call__(self, request: Recorded) -> Reply:
        if self.paths not in request.path:
            return self.passthrough(request)
        with self._lock:
            phase = self.phase
            self.answers.append((phase, time.monotonic(), request))
        if phase == "error":
            return Reply(500, SERVER_ERROR)
        if phase == "limited":
            return Reply(429, RATE_LIMITED, {"Retry-After": str(RETRY_AFTER)})
        return self.passthrough(request)

    def count(self, phase: str) -> int:
        with self._lock:
            return sum(1 for answered, _, _ in self.answers if answered == phase)

    def gap_after(self, phase: str) -> float:
        """Return the seconds between the last response in ``phase`` and the next request."""
        with self._lock:
            times = [(answered, moment) for answered, moment, _ in self.answers]
        last = max(index for index, (answered, _) in enumerate(times) if answered == phase)
        return times[last + 1][1] - times[last][1]


async def guest_conversation(server, http) -> str:
    wamid = new_wamid()
    payload = text_message("Preciso de ajuda", wamid=wamid, timestamp=str(int(time.time())))
    assert (await server.post_webhook(http, payload)).status_code == 200
    found = await eventually(lambda: rows(server, "SELECT conversation_id FROM messages WHERE whatsapp_msg_id = ?", (wamid,)))
    return found[0]["conversation_id"]


async def reply(server, http, token: str, conversation_id: str, content: str):
    return await http.post(
        server.base_url + "/messages/send-text",
        json={"conversationId": conversation_id, "content": content},
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_replies_wait_out_meta_and_leave_in_order(server, http, graph, sockets):
    conversation_id = await guest_conversation(server, http)
    token = await server.token(http, "attendant")
    client = EventClient()
    sockets.append(client)
    await client.connect(server.base_url, await server.token(http))
    flaky = FlakyGraph(graph, "/messages")
    graph.handler = flaky

    flaky.phase = "error"
    first = await reply(server, http, token, conversation_id, "Resposta 1")
    await eventually(lambda: flaky.count("error") >= 2, timeout=10.0)
    flaky.phase = "limited"
    second = await reply(server, http, token, conversation_id, "Resposta 2")
    await eventually(lambda: flaky.count("limited") >= 1, timeout=10.0)
    graph.refuse_connections()
    third = await reply(server, http, token, conversation_id, "Resposta 3")
    await eventually(lambda: server.log().count("unreachable for tenant") >= 2, timeout=15.0)
    flaky.phase = "up"
    graph.accept_connections()

    await eventually(
        lambda: rows(server, "SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND' AND status = 'SENT'") == [{"n": 3}],
        timeout=30.0,
    )
    statuses = [await client.next("message:status", timeout=5.0) for _ in range(3)]

    assert [response.status_code for response in (first, second, third)] == [202, 202, 202]
    assert [response.json()["message"]["status"] for response in (first, second, third)] == ["PENDING"] * 3
    assert flaky.gap_after("limited") >= RETRY_AFTER
    accepted = [request.json()["text"]["body"] for phase, _, request in flaky.answers if phase == "up"]
    assert accepted == ["Resposta 1", "Resposta 2", "Resposta 3"]
    stored = rows(
        server,
        "SELECT content, status, whatsapp_msg_id FROM messages WHERE direction = 'OUTBOUND' ORDER BY created_at, id",
    )
    assert [row["content"] for row in stored] == ["Resposta 1", "Resposta 2", "Resposta 3"]
    assert {row["status"] for row in stored} == {"SENT"}
    assert [row["whatsapp_msg_id"] is not None for row in stored] == [True, True, True]
    assert [event["status"] for event in statuses] == ["SENT", "SENT", "SENT"]
    assert [event["id"] for event in statuses] == [response.json()["message"]["id"] for response in (first, second, third)]
    assert rows(server, "SELECT count(*) AS n FROM dead_letters") == [{"n": 0}]


async def test_media_download_waits_out_meta(server, http, graph, n8n):
    content = jpeg()
    graph.add_media("8001", content, "image/jpeg")
    flaky = FlakyGraph(graph, "/8001")
    graph.handler = flaky
    flaky.phase = "error"

    response = await server.post_webhook(http, media_webhook("inbound-image.json", "8001", content, "wamid.FAULTMEDIA"))
    await eventually(lambda: flaky.count("error") >= 2, timeout=10.0)
    flaky.phase = "limited"
    await eventually(lambda: flaky.count("limited") >= 1, timeout=10.0)
    graph.refuse_connections()
    await eventually(lambda: server.log().count("unreachable for tenant") >= 2, timeout=15.0)
    flaky.phase = "up"
    graph.accept_connections()

    await eventually(lambda: rows(server, "SELECT media_status FROM messages") == [{"media_status": "READY"}], timeout=30.0)
    forwarded = await asyncio.to_thread(n8n.wait_for, 1, timeout=10.0)

    assert response.status_code == 200
    assert flaky.gap_after("limited") >= RETRY_AFTER
    assert forwarded[0].headers["idempotency-key"] == "wamid.FAULTMEDIA"
    assert forwarded[0].json()["mediaUrl"] is not None
    assert rows(server, "SELECT count(*) AS n FROM dead_letters") == [{"n": 0}]
