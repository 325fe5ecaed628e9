"""N8N refusing connections, responding 500 and hanging past the forward timeout, then back or gone for good."""

from __future__ import annotations

import asyncio
import collections
import threading

import pytest

from tests.support.db import eventually, rows
from tests.support.fakes import Recorded, Reply
from tests.support.sockets import EventClient
from tests.support.webhooks import new_wamid, text_message

ASSISTANT_UNAVAILABLE = "Assistente indisponível: a mensagem não pôde ser entregue ao N8N."
GUESTS = 5
FORWARD_TIMEOUT = 1.0

OUTAGE_SETTINGS = {
    "forward_attempts": 20, "forward_timeout": FORWARD_TIMEOUT, "retry_delay": 0.2, "retry_delay_max": 1.0,
}
DOWN_FOR_GOOD_SETTINGS = {"forward_attempts": 3, "forward_timeout": FORWARD_TIMEOUT, "retry_delay": 0.2}


@pytest.fixture
def server_settings(request) -> dict:
    return getattr(request, "param", OUTAGE_SETTINGS)


class PhasedN8N:
    """Respond to N8N's webhook by phase (``error``, ``hang``, ``up``) and record the phase of each response."""

    def __init__(self) -> None:
        self.phase = "up"
        self.answers: list[tuple[str, Recorded]] = []
        self._lock = threading.Lock()

    def __call__(self, request: Recorded) -> Reply:
        with self._lock:
            phase = self.phase
            self.answers.append((phase, request))
        if phase == "error":
            return Reply(500, {"message": "Error in workflow"})
        if phase == "hang":
            return Reply(504, {"message": "Gateway timeout"}, delay=FORWARD_TIMEOUT + 1.0)
        return Reply(200, {"ok": True})

    def count(self, phase: str) -> int:
        with self._lock:
            return sum(1 for answered, _ in self.answers if answered == phase)


async def post_guests(server, http, count: int) -> list[str]:
    wamids = [new_wamid() for _ in range(count)]
    for index, wamid in enumerate(wamids):
        response = await server.post_webhook(http, text_message(f"Pergunta {index}", wa_id=f"5511980000{index:03d}", wamid=wamid))
        assert response.status_code == 200
    return wamids


async def test_outage_then_every_message_forwarded_once(server, http, n8n):
    phased = PhasedN8N()
    n8n.handler = phased
    n8n.refuse_connections()

    wamids = await post_guests(server, http, GUESTS)
    await eventually(lambda: server.log().count("N8N unreachable: ConnectError") >= GUESTS, timeout=20.0)
    phased.phase = "error"
    n8n.accept_connections()
    await eventually(lambda: phased.count("error") >= GUESTS, timeout=20.0)
    phased.phase = "hang"
    await eventually(lambda: phased.count("hang") >= GUESTS, timeout=30.0)
    timed_out = (f"N8N did not respond within {FORWARD_TIMEOUT:g} s", "N8N unreachable: ReadTimeout")
    await eventually(lambda: any(line in server.log() for line in timed_out), timeout=10.0)
    phased.phase = "up"

    await eventually(
        lambda: rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'DONE'") == [{"n": GUESTS}],
        timeout=30.0,
    )
    accepted = collections.Counter(request.headers["idempotency-key"] for phase, request in phased.answers if phase == "up")
    assert accepted == collections.Counter({wamid: 1 for wamid in wamids})
    for _, request in phased.answers:
        assert request.json()["whatsappMsgId"] == request.headers["idempotency-key"]
    assert rows(server, "SELECT count(*) AS n FROM dead_letters") == [{"n": 0}]
    assert rows(server, "SELECT count(*) AS n FROM escalations") == [{"n": 0}]
    assert rows(server, "SELECT DISTINCT status, ia_locked FROM conversations") == [{"status": "BOT", "ia_locked": 0}]


async def test_outage_attempts_logged_with_ids(server, http, n8n):
    n8n.handler = lambda request: Reply(500, {"message": "Error in workflow"})
    wamid = (await post_guests(server, http, 1))[0]
    await asyncio.to_thread(n8n.wait_for, 2, timeout=20.0)
    n8n.handler = lambda request: Reply(200, {"ok": True})
    await eventually(lambda: rows(server, "SELECT forward_state FROM messages") == [{"forward_state": "DONE"}], timeout=20.0)

    message = rows(server, "SELECT id, tenant_id FROM messages")[0]
    ids = f"tenant {message['tenant_id']} message {message['id']}"
    log = server.log()
    assert f"Job forward attempt 1/20 started ({ids})" in log
    assert f"Job forward failed ({ids}, attempt 1/20): N8N answered 500; retrying in" in log
    assert f"Job forward attempt 2/20 started ({ids})" in log
    assert f"Message {wamid} forwarded to N8N (tenant {message['tenant_id']}" in log


@pytest.mark.parametrize("server_settings", [DOWN_FOR_GOOD_SETTINGS], indirect=True)
async def test_down_for_good_dead_letter_and_escalation(server, http, n8n, sockets):
    client = EventClient()
    sockets.append(client)
    await client.connect(server.base_url, await server.token(http))
    n8n.refuse_connections()

    wamid = (await post_guests(server, http, 1))[0]
    event = await client.next("escalation:new", timeout=30.0)

    message = rows(server, "SELECT id, tenant_id, conversation_id, forward_state FROM messages")[0]
    dead = rows(server, "SELECT kind, tenant_id, reference_id, payload, error, attempts, retried_at FROM dead_letters")
    assert dead == [{
        "kind": "forward",
        "tenant_id": server.tenant.id,
        "reference_id": message["id"],
        "payload": f'{{"tenantId": "{server.tenant.id}", "messageId": "{message["id"]}"}}',
        "error": "N8N unreachable: ConnectError",
        "attempts": 3,
        "retried_at": None,
    }]
    assert message["forward_state"] == "DEAD"
    assert event["escalation"]["reason"] == ASSISTANT_UNAVAILABLE
    assert event["escalation"]["priority"] == "HIGH"
    assert event["escalation"]["status"] == "PENDING"
    assert event["conversation"]["id"] == message["conversation_id"]
    assert event["conversation"]["status"] == "OPEN"
    assert event["conversation"]["iaLocked"] is True
    assert rows(server, "SELECT status, ia_locked FROM conversations") == [{"status": "OPEN", "ia_locked": 1}]
    assert f"N8N unavailable for message {wamid}: conversation {message['conversation_id']} escalated" in server.log()


@pytest.mark.parametrize("server_settings", [DOWN_FOR_GOOD_SETTINGS], indirect=True)
async def test_later_message_of_escalated_guest_not_forwarded(server, http, n8n):
    n8n.refuse_connections()
    await post_guests(server, http, 1)
    await eventually(lambda: rows(server, "SELECT count(*) AS n FROM escalations") == [{"n": 1}], timeout=30.0)
    n8n.accept_connections()

    response = await server.post_webhook(http, text_message("Alguém aí?", wa_id="5511980000000"))
    assert response.status_code == 200

    await eventually(lambda: rows(server, "SELECT count(*) AS n FROM messages") == [{"n": 2}])
    assert rows(server, "SELECT forward_state FROM messages ORDER BY created_at, received_at") == [
        {"forward_state": "DEAD"}, {"forward_state": "NONE"},
    ]
    assert n8n.requests == []
    assert rows(server, "SELECT count(*) AS n FROM dead_letters") == [{"n": 1}]
