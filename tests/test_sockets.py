"""Socket.IO: who may connect, the rooms a socket joins, conversation rooms and events received once."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import jwt
import pytest
import socketio

from hotelbot.realtime.sockets import _ClientErrorLog
from tests.support.db import eventually, rows, wait_until
from tests.support.fakes import load_fixture
from tests.support.server import ServerProcess, launch, running_server
from tests.support.sockets import EventClient
from tests.support.webhooks import text_message


@pytest.fixture(scope="module")
def socket_server(tmp_path_factory) -> Iterator[ServerProcess]:
    """One server for the module; every test uses guests of its own."""
    with running_server(tmp_path_factory.mktemp("sockets") / "data") as (process, _, _):
        yield process


def jwt_secret(server: ServerProcess) -> str:
    return json.loads((server.data_dir / "secrets.json").read_text())["jwtSecret"]


async def rejection_reason(server: ServerProcess, *, auth: Any = None, url_suffix: str = "") -> Any:
    """Connect with ``auth``; return the data of ``connect_error``, failing if the connection is accepted."""
    client = socketio.AsyncClient(reconnection=False)
    reasons: asyncio.Queue = asyncio.Queue()
    client.on("connect_error", lambda data: reasons.put_nowait(data))
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(server.base_url + url_suffix, auth=auth, transports=["websocket"], wait_timeout=5)
        return await asyncio.wait_for(reasons.get(), 5)
    finally:
        await client.shutdown()


async def attendant(server: ServerProcess, http, sockets: list, label: str = "admin", tenant_index: int = 0) -> EventClient:
    client = EventClient()
    sockets.append(client)
    await client.connect(server.base_url, await server.token(http, label, server.tenants[tenant_index]))
    return client


async def guest_conversation(server: ServerProcess, http, client: EventClient, wa_id: str) -> dict:
    """Post a message from guest ``wa_id`` to tenant 0 and return the conversation of its ``message:new``."""
    response = await server.post_webhook(http, text_message("Olá", wa_id=wa_id, timestamp=str(int(time.time()))))
    assert response.status_code == 200
    while True:
        event = await client.next("message:new")
        if event["conversation"]["contact"]["phone"] == wa_id:
            return event["conversation"]


async def n8n_post(server: ServerProcess, http, path: str, body: dict) -> dict:
    response = await http.post(server.base_url + "/n8n" + path, json=body, headers={"X-API-Key": server.tenant.api_key})
    assert response.status_code == 200, response.text
    return response.json()


# -- connecting ------------------------------------------------------------------


async def test_no_token_refused(socket_server):
    reason = await rejection_reason(socket_server)

    assert reason == {"message": "Autenticação necessária.", "data": {"code": "UNAUTHORIZED"}}


async def test_expired_token_refused(socket_server, http):
    login = await socket_server.login(http, socket_server.tenant.users["admin"])
    claims = jwt.decode(login["accessToken"], jwt_secret(socket_server), algorithms=["HS256"])
    expired = jwt.encode({**claims, "iat": claims["iat"] - 9 * 3600, "exp": claims["iat"] - 3600}, jwt_secret(socket_server), algorithm="HS256")

    reason = await rejection_reason(socket_server, auth={"token": expired})

    assert reason == {"message": "Sessão expirada. Entre novamente.", "data": {"code": "TOKEN_EXPIRED"}}


async def test_refresh_token_refused(socket_server, http):
    login = await socket_server.login(http, socket_server.tenant.users["admin"])

    reason = await rejection_reason(socket_server, auth={"token": login["refreshToken"]})

    assert reason == {"message": "Token inválido.", "data": {"code": "UNAUTHORIZED"}}


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
async def test_malformed_token_refused(socket_server, token):
    reason = await rejection_reason(socket_server, auth={"token": token})

    assert reason["data"] == {"code": "UNAUTHORIZED"}


async def test_unsigned_token_refused(socket_server, http):
    login = await socket_server.login(http, socket_server.tenant.users["admin"])
    claims = jwt.decode(login["accessToken"], jwt_secret(socket_server), algorithms=["HS256"])

    reason = await rejection_reason(socket_server, auth={"token": jwt.encode(claims, key=None, algorithm="none")})

    assert reason == {"message": "Token inválido.", "data": {"code": "UNAUTHORIZED"}}


async def test_logged_out_token_refused(socket_server, http):
    login = await socket_server.login(http, socket_server.tenant.users["admin"])
    await http.post(socket_server.base_url + "/auth/logout", headers={"Authorization": f"Bearer {login['accessToken']}"})

    reason = await rejection_reason(socket_server, auth={"token": login["accessToken"]})

    assert reason == {"message": "Sessão encerrada. Entre novamente.", "data": {"code": "UNAUTHORIZED"}}


async def test_query_token_accepted(socket_server, http, sockets):
    client = EventClient()
    sockets.append(client)
    await client.connect(socket_server.base_url, await socket_server.token(http), query_token=True)

    conversation = await guest_conversation(socket_server, http, client, "5511900000301")

    assert conversation["tenantId"] == socket_server.tenant.id


async def test_refused_query_token_has_reason(socket_server):
    reason = await rejection_reason(socket_server, url_suffix="?token=garbage")

    assert reason == {"message": "Token inválido.", "data": {"code": "UNAUTHORIZED"}}


# -- rooms -----------------------------------------------------------------------


async def test_tenant_room_isolated(socket_server, http, sockets):
    own = await attendant(socket_server, http, sockets)
    other_tenant = await attendant(socket_server, http, sockets, tenant_index=1)

    await guest_conversation(socket_server, http, own, "5511900000311")

    await other_tenant.expect_none("message:new", within=0.5)


async def test_unit_rooms_receive_escalation(socket_server, http, sockets):
    admin = await attendant(socket_server, http, sockets)
    campos = await attendant(socket_server, http, sockets, "attendant_campos")
    ubatuba = await attendant(socket_server, http, sockets, "attendant_ubatuba")
    conversation = await guest_conversation(socket_server, http, admin, "5511900000321")

    result = await n8n_post(socket_server, http, "/escalate", {
        "phone": "5511900000321", "reason": "Hóspede pediu um atendente", "hotelUnit": "campos do jordao", "priority": "HIGH",
    })

    for client in (admin, campos):
        event = await client.next("escalation:new")
        assert event["escalation"]["id"] == result["escalationId"]
        assert event["escalation"]["hotelUnit"] == "Campos do Jordão"
        assert event["conversation"]["id"] == conversation["id"]
    await ubatuba.expect_none("escalation:new", within=0.5)


async def test_escalation_without_unit_reaches_tenant(socket_server, http, sockets):
    admin = await attendant(socket_server, http, sockets)
    campos = await attendant(socket_server, http, sockets, "attendant_campos")
    ubatuba = await attendant(socket_server, http, sockets, "attendant_ubatuba")
    await guest_conversation(socket_server, http, admin, "5511900000331")

    await n8n_post(socket_server, http, "/escalate", {"phone": "5511900000331", "reason": "Reclamação", "priority": "MEDIUM"})

    for client in (admin, campos, ubatuba):
        event = await client.next("escalation:new")
        assert event["escalation"]["hotelUnit"] is None
        await client.expect_none("escalation:new", within=0.2)


async def test_user_room_receives_assignment(socket_server, http, sockets):
    admin = await attendant(socket_server, http, sockets)
    assignee = await attendant(socket_server, http, sockets, "attendant")
    colleague = await attendant(socket_server, http, sockets, "attendant_campos")
    conversation = await guest_conversation(socket_server, http, admin, "5511900000341")
    assignee_id = rows(socket_server, "SELECT id FROM users WHERE email = ?", (socket_server.tenant.users["attendant"],))[0]["id"]
    token = await socket_server.token(http)

    response = await http.post(
        socket_server.base_url + f"/conversations/{conversation['id']}/assign",
        json={"assignedToId": assignee_id}, headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200

    event = await assignee.next("conversation:assigned")
    assert event["conversation"]["id"] == conversation["id"]
    assert event["conversation"]["assignedToId"] == assignee_id
    await colleague.expect_none("conversation:assigned", within=0.5)
    await admin.expect_none("conversation:assigned", within=0.1)


# -- conversation rooms ----------------------------------------------------------


async def test_join_own_conversation(socket_server, http, sockets):
    client = await attendant(socket_server, http, sockets)
    conversation = await guest_conversation(socket_server, http, client, "5511900000351")

    joined = await client.call("join:conversation", {"conversationId": conversation["id"]})
    left = await client.call("leave:conversation", {"conversationId": conversation["id"]})

    assert joined == {"ok": True}
    assert left == {"ok": True}


async def test_join_other_tenant_conversation_not_found(socket_server, http, sockets):
    owner = await attendant(socket_server, http, sockets)
    conversation = await guest_conversation(socket_server, http, owner, "5511900000361")
    stranger = await attendant(socket_server, http, sockets, tenant_index=1)

    answer = await stranger.call("join:conversation", {"conversationId": conversation["id"]})
    unknown = await stranger.call("join:conversation", {"conversationId": "0" * 32})

    assert answer == {"ok": False, "error": "Conversa não encontrada.", "code": "NOT_FOUND"}
    assert unknown == answer


@pytest.mark.parametrize("data", [None, "text", {}, {"conversationId": 5}, {"conversationId": ""}, {"conversationId": "x" * 65}])
async def test_join_malformed_request(socket_server, http, sockets, data):
    client = await attendant(socket_server, http, sockets)

    answer = await client.call("join:conversation", data)

    assert answer["ok"] is False
    assert answer["code"] == "VALIDATION_ERROR"


async def test_status_event_received_once(socket_server, http, sockets):
    client = await attendant(socket_server, http, sockets)
    conversation = await guest_conversation(socket_server, http, client, "5511900000371")
    assert await client.call("join:conversation", {"conversationId": conversation["id"]}) == {"ok": True}
    sent = await n8n_post(socket_server, http, "/send-text", {"phone": "5511900000371", "body": "Temos sim!"})
    status = copy.deepcopy(load_fixture("status-delivered.json"))
    status["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = sent["whatsappMsgId"]

    await socket_server.post_webhook(http, status)

    event = await client.next("message:status")
    assert event["id"] == sent["messageId"]
    assert event["status"] == "DELIVERED"
    await client.expect_none("message:status", within=0.5)


async def test_message_event_received_once(socket_server, http, sockets):
    client = await attendant(socket_server, http, sockets, "attendant_campos")
    conversation = await guest_conversation(socket_server, http, client, "5511900000381")
    assert await client.call("join:conversation", {"conversationId": conversation["id"]}) == {"ok": True}

    await socket_server.post_webhook(http, text_message("Mais uma pergunta", wa_id="5511900000381"))

    event = await client.next("message:new")
    assert event["message"]["content"] == "Mais uma pergunta"
    await client.expect_none("message:new", within=0.5)


async def test_logout_closes_that_sessions_sockets(socket_server, http, sockets):
    email = socket_server.tenant.users["admin"]
    leaving = await socket_server.login(http, email)
    staying = await socket_server.login(http, email)
    leaving_client, staying_client = EventClient(), EventClient()
    sockets.extend([leaving_client, staying_client])
    await leaving_client.connect(socket_server.base_url, leaving["accessToken"])
    await staying_client.connect(socket_server.base_url, staying["accessToken"])

    response = await http.post(socket_server.base_url + "/auth/logout",
                               headers={"Authorization": f"Bearer {leaving['accessToken']}"})

    assert response.status_code == 200
    await eventually(lambda: not leaving_client.sio.connected)
    assert staying_client.sio.connected is True


def test_poll_for_unknown_session_logged_as_warning(tmp_path, graph, n8n):
    """A console still polling a session from before a restart is refused with a 400 and a warning, not an error.

    engine.io logs only the first refusal of each kind in a process, so this test has a server of its own.
    """
    server = launch(tmp_path, graph.url, n8n.url, tenant_count=0)
    try:
        response = httpx.get(server.base_url + "/socket.io/",
                             params={"EIO": "4", "transport": "polling", "sid": "stale-session-id"}, timeout=10)
        wait_until(lambda: "Invalid session stale-session-id" in server.log())
    finally:
        server.stop()

    assert response.status_code == 400
    assert response.json() == "Invalid session stale-session-id"
    rejected = [line for line in server.log().splitlines() if "Invalid session stale-session-id" in line]
    assert len(rejected) == 1
    assert " WARNING engineio.server: " in rejected[0]
    assert " ERROR " not in server.log()


@pytest.mark.parametrize("frame", ["Zzz", "4" + "[" * 5000], ids=["unknown-type", "deep-nesting"])
async def test_malformed_websocket_frame_logged_as_warning(socket_server, http, frame):
    """A websocket frame engine.io cannot decode closes that connection with one warning, no error or traceback."""
    log_before = len(socket_server.log())
    url = socket_server.base_url + "/socket.io/?EIO=4&transport=websocket"

    async with aiohttp.ClientSession() as session, session.ws_connect(url) as connection:
        opened = await connection.receive(timeout=5)
        assert opened.type == aiohttp.WSMsgType.TEXT
        assert opened.data.startswith("0{")
        await connection.send_str(frame)
        closed = await connection.receive(timeout=5)
        assert closed.type == aiohttp.WSMsgType.CLOSE

    await eventually(lambda: "Malformed websocket packet" in socket_server.log()[log_before:])
    new_log = socket_server.log()[log_before:]
    rejected = [line for line in new_log.splitlines() if "Malformed websocket packet" in line]
    assert len(rejected) == 1
    assert " WARNING hotelbot.realtime.sockets: Malformed websocket packet from a client rejected: " in rejected[0]
    assert " ERROR " not in new_log
    assert "Traceback" not in new_log
    assert (await http.get(socket_server.base_url + "/livez")).status_code == 200


async def test_packets_not_logged(socket_server, http, sockets):
    """engine.io's per-packet lines carry event data (guests' messages); the log leaves them out."""
    client = await attendant(socket_server, http, sockets, "attendant_campos")

    await guest_conversation(socket_server, http, client, "5511900000391")

    log = socket_server.log()
    assert "Received packet" not in log
    assert "Sending packet" not in log


async def test_malformed_packets_logged_as_warnings(socket_server, http):
    """Packets that engine.io or Socket.IO cannot decode are a client's fault: one warning each, no error."""
    bodies = [b"4garbage", b'42["join:conversation"', b"49", b"Zzz", b"\xff\xfe"]
    log_before = len(socket_server.log())

    for body in bodies:
        opened = await http.get(socket_server.base_url + "/socket.io/", params={"EIO": "4", "transport": "polling"})
        session_id = json.loads(opened.text[1:])["sid"]
        response = await http.post(socket_server.base_url + "/socket.io/", content=body,
                                   params={"EIO": "4", "transport": "polling", "sid": session_id})
        assert response.status_code == 200

    def rejected() -> list[str]:
        return [line for line in socket_server.log()[log_before:].splitlines() if "Malformed packet" in line]

    await eventually(lambda: len(rejected()) == len(bodies))
    assert all(" WARNING engineio.server: Malformed packet from a client rejected (" in line for line in rejected())
    new_log = socket_server.log()[log_before:]
    assert " ERROR " not in new_log
    assert "Traceback" not in new_log


def test_real_failures_still_logged_as_errors(caplog):
    """A ValueError from this server's code, or any other exception, keeps its ERROR line and traceback."""
    engine_log = _ClientErrorLog(logging.getLogger("tests.engineio"))

    try:
        json.loads("{")  # Raised with this test's frame on the stack, as an error in a socket handler would be.
    except ValueError:
        engine_log.exception("message async handler error")
    try:
        raise RuntimeError("service failed")
    except RuntimeError:
        engine_log.exception("service task exception")

    assert [record.levelname for record in caplog.records] == ["ERROR", "ERROR"]
    assert all(record.exc_info for record in caplog.records)
