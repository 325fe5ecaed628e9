"""What hotel IT staff run and watch: dead letters (CLI and admin API), doctor, the serve lock, /healthz, /metrics, SIGTERM."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from hotelbot.clock import now, to_iso
from tests.support.db import eventually, rows
from tests.support.fakes import Reply, load_fixture
from tests.support.faults import metric, permission_checked_options, scrape
from tests.support.server import launch
from tests.support.sockets import EventClient
from tests.support.webhooks import execute, new_wamid, text_message

NOT_FOUND = {"error": "Não encontrado.", "code": "NOT_FOUND"}
DEAD_LETTER_NOT_FOUND = {"error": "Job com falha não encontrado.", "code": "NOT_FOUND"}


@pytest.fixture
def server_settings() -> dict:
    return {"forward_attempts": 2, "retry_delay": 0.2}


def hotelbot(server, *args: str, env: dict | None = None, **options) -> subprocess.CompletedProcess:
    """Run the ``hotelbot`` command on the server's data directory, with CLI logging left at its default."""
    environment = {key: value for key, value in server.env.items() if key != "HOTELBOT_LOG_LEVEL"}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "hotelbot", *args], env=environment, capture_output=True, text=True, timeout=60, **options
    )


async def dead_forwards(server, http, n8n, count: int) -> list[dict]:
    """Make ``count`` guests' forwards fail for good (N8N refusing connections); return their dead letters."""
    n8n.refuse_connections()
    for index in range(count):
        payload = text_message(f"Sem resposta {index}", wa_id=f"55119700000{index:02d}", wamid=new_wamid())
        assert (await server.post_webhook(http, payload)).status_code == 200
    await eventually(lambda: len(rows(server, "SELECT id FROM dead_letters")) == count, timeout=30.0)
    await eventually(lambda: len(rows(server, "SELECT id FROM escalations")) == count, timeout=10.0)
    n8n.accept_connections()
    return rows(
        server,
        "SELECT d.id, d.reference_id, m.whatsapp_msg_id, m.conversation_id FROM dead_letters d"
        " JOIN messages m ON m.id = d.reference_id ORDER BY m.whatsapp_msg_id",
    )


async def call(server, http, method: str, path: str, token: str | None = None, **options) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await http.request(method, server.base_url + path, headers=headers, **options)


# -- dead letters from the command line ----------------------------------------------------------


async def test_jobs_failed_lists_dead_letters(server, http, n8n):
    dead = await dead_forwards(server, http, n8n, 2)

    listed = hotelbot(server, "jobs", "failed", "--json")
    text = hotelbot(server, "jobs", "failed")

    assert listed.returncode == 0
    items = json.loads(listed.stdout)["items"]
    assert sorted(item["id"] for item in items) == sorted(row["id"] for row in dead)
    assert {item["kind"] for item in items} == {"forward"}
    assert {item["attempts"] for item in items} == {2}
    assert {item["error"] for item in items} == {"N8N unreachable: ConnectError"}
    assert {item["tenantId"] for item in items} == {server.tenant.id}
    assert {item["retriedAt"] for item in items} == {None}
    assert text.returncode == 0
    for row in dead:
        assert row["id"] in text.stdout
    assert "N8N unreachable: ConnectError" in text.stdout


async def test_jobs_retry_picked_up_by_running_server(server, http, n8n):
    dead = (await dead_forwards(server, http, n8n, 1))[0]
    supervisor = await server.token(http, "supervisor")
    released = await call(server, http, "POST", f"/conversations/{dead['conversation_id']}/release", supervisor)
    assert released.status_code == 200

    result = hotelbot(server, "jobs", "retry", dead["id"])

    assert result.returncode == 0
    assert result.stdout.strip() == "1 job(s) colocado(s) na fila novamente."
    forwarded = await asyncio.to_thread(n8n.wait_for, 1, timeout=15.0)
    assert forwarded[0].headers["idempotency-key"] == dead["whatsapp_msg_id"]
    await eventually(lambda: rows(server, "SELECT forward_state FROM messages") == [{"forward_state": "DONE"}])
    assert json.loads(hotelbot(server, "jobs", "failed", "--json").stdout)["items"] == []
    everything = json.loads(hotelbot(server, "jobs", "failed", "--all", "--json").stdout)["items"]
    assert [item["id"] for item in everything] == [dead["id"]]
    assert everything[0]["retriedAt"] is not None


async def test_jobs_retry_all_and_discard(server, http, n8n):
    first, second = await dead_forwards(server, http, n8n, 2)

    discarded = hotelbot(server, "jobs", "discard", first["id"])
    retried = hotelbot(server, "jobs", "retry", "--all")
    nothing_left = hotelbot(server, "jobs", "retry", "--all")

    assert discarded.returncode == 0
    assert discarded.stdout.strip() == f"Job com falha descartado: {first['id']}"
    assert retried.returncode == 0
    assert retried.stdout.strip() == "1 job(s) colocado(s) na fila novamente."
    assert nothing_left.stdout.strip() == "0 job(s) colocado(s) na fila novamente."
    assert rows(server, "SELECT id FROM dead_letters WHERE retried_at IS NULL") == []
    assert rows(server, "SELECT id FROM dead_letters") == [{"id": second["id"]}]
    # The guest is with people since the escalation, so the replayed forward is dropped, not sent.
    await eventually(lambda: f"Forward of {second['whatsapp_msg_id']} skipped" in server.log(), timeout=15.0)
    assert n8n.requests == []


async def test_jobs_unknown_id_fails(server):
    retried = hotelbot(server, "jobs", "retry", "no-such-id")
    discarded = hotelbot(server, "jobs", "discard", "no-such-id")
    english = hotelbot(server, "jobs", "retry", "no-such-id", env={"HOTELBOT_LANGUAGE": "en"})

    assert retried.returncode == 1
    assert retried.stderr.strip() == "Job com falha não encontrado."
    assert discarded.returncode == 1
    assert discarded.stderr.strip() == "Job com falha não encontrado."
    assert english.returncode == 1
    assert english.stderr.strip() == "Dead letter not found."


# -- dead letters through the admin API ----------------------------------------------------------


async def test_admin_dead_letters_of_own_tenant_only(server, http, n8n):
    dead = (await dead_forwards(server, http, n8n, 1))[0]
    admin = await server.token(http, "admin")
    other_admin = await server.token(http, "admin", server.tenants[1])

    own = await call(server, http, "GET", "/admin/dead-letters", admin)
    other = await call(server, http, "GET", "/admin/dead-letters", other_admin)
    other_retry = await call(server, http, "POST", f"/admin/dead-letters/{dead['id']}/retry", other_admin)
    other_delete = await call(server, http, "DELETE", f"/admin/dead-letters/{dead['id']}", other_admin)
    unknown_retry = await call(server, http, "POST", "/admin/dead-letters/no-such-id/retry", admin)

    assert own.status_code == 200
    assert own.headers["cache-control"] == "no-store"
    items = own.json()["items"]
    assert [item["id"] for item in items] == [dead["id"]]
    assert items[0]["kind"] == "forward"
    assert items[0]["payload"] == {"tenantId": server.tenant.id, "messageId": dead["reference_id"]}
    assert own.json()["nextCursor"] is None
    assert other.json() == {"items": [], "nextCursor": None}
    assert other_retry.status_code == 404
    assert other_retry.json() == DEAD_LETTER_NOT_FOUND
    assert other_delete.status_code == 404
    assert other_delete.json() == DEAD_LETTER_NOT_FOUND
    assert unknown_retry.json() == other_retry.json()
    assert rows(server, "SELECT retried_at FROM dead_letters") == [{"retried_at": None}]


async def test_admin_dead_letters_need_an_admin(server, http):
    attendant = await server.token(http, "attendant")
    supervisor = await server.token(http, "supervisor")

    anonymous = await call(server, http, "GET", "/admin/dead-letters")
    forged = await call(server, http, "GET", "/admin/dead-letters", "not-a-token")
    as_attendant = await call(server, http, "GET", "/admin/dead-letters", attendant)
    as_supervisor = await call(server, http, "POST", "/admin/dead-letters/x/retry", supervisor)

    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "UNAUTHORIZED"
    assert forged.status_code == 401
    assert as_attendant.status_code == 403
    assert as_attendant.json()["code"] == "FORBIDDEN"
    assert as_supervisor.status_code == 403


async def test_admin_retry_and_discard(server, http, n8n):
    first, second = await dead_forwards(server, http, n8n, 2)
    admin = await server.token(http, "admin")

    retried = await call(server, http, "POST", f"/admin/dead-letters/{first['id']}/retry", admin)
    again = await call(server, http, "POST", f"/admin/dead-letters/{first['id']}/retry", admin)
    deleted = await call(server, http, "DELETE", f"/admin/dead-letters/{second['id']}", admin)
    listed = await call(server, http, "GET", "/admin/dead-letters", admin)

    assert retried.status_code == 200
    assert retried.json()["deadLetter"]["id"] == first["id"]
    assert retried.json()["deadLetter"]["retriedAt"] is not None
    assert again.status_code == 404
    assert deleted.status_code == 200
    assert deleted.json() == {"ok": True}
    assert listed.json() == {"items": [], "nextCursor": None}
    assert rows(server, "SELECT id FROM dead_letters") == [{"id": first["id"]}]
    await eventually(lambda: f"Forward of {first['whatsapp_msg_id']} skipped" in server.log(), timeout=15.0)


# -- doctor ---------------------------------------------------------------------------------------


async def test_doctor_healthy_directory(server):
    result = hotelbot(server, "doctor")

    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert "[OK  ] Integridade do banco de dados: ok" in lines
    assert "[OK  ] A chave mestra abre os segredos de todos os tenants." in lines
    assert "[OK  ] Há um servidor em execução neste diretório de dados." in lines
    assert [line for line in lines if line.startswith("[ERRO]")] == []


async def test_doctor_reports_dead_letters_as_warning(server, http, n8n):
    await dead_forwards(server, http, n8n, 1)

    result = hotelbot(server, "doctor")

    assert result.returncode == 0
    assert "[!   ] 1 job(s) com falha: veja hotelbot jobs failed." in result.stdout.splitlines()


async def test_doctor_low_disk_is_a_problem(server):
    """Below min_free_disk_mb free, doctor reports the disk as a problem; above it, as fine."""
    free_mb = shutil.disk_usage(server.data_dir).free // (1024 * 1024)

    low = hotelbot(server, "doctor", env={"HOTELBOT_MIN_FREE_DISK_MB": str(free_mb + 1024)})
    enough = hotelbot(server, "doctor", env={"HOTELBOT_MIN_FREE_DISK_MB": "1"})

    assert low.returncode == 1
    assert [line for line in low.stdout.splitlines() if line.startswith("[ERRO] Espaço livre em disco: ")] != []
    assert enough.returncode == 0
    assert [line for line in enough.stdout.splitlines() if line.startswith("[OK  ] Espaço livre em disco: ")] != []


async def test_doctor_problems_exit_1(server):
    server.stop()
    os.chmod(server.data_dir / "secrets.json", 0o644)
    wrong_key = base64.b64encode(b"k" * 32).decode()

    readable = hotelbot(server, "doctor")
    wrong = hotelbot(server, "doctor", env={"HOTELBOT_MASTER_KEY": wrong_key})
    missing = hotelbot(server, "doctor", env={"HOTELBOT_DATA_DIR": str(server.data_dir / "nowhere")})

    assert readable.returncode == 1
    assert "[ERRO] O secrets.json pode ser lido por outros usuários (modo 0o644): execute chmod 600 nele." in readable.stdout
    assert wrong.returncode == 1
    assert (
        "[ERRO] A chave mestra não abre os segredos dos tenants: verifique HOTELBOT_MASTER_KEY e o secrets.json."
        in wrong.stdout
    )
    assert missing.returncode == 1
    assert missing.stdout.strip() == f"[ERRO] Não há diretório de dados em {server.data_dir / 'nowhere'}: execute hotelbot init."
    assert not (server.data_dir / "nowhere").exists()


async def test_doctor_unwritable_database(server):
    server.stop()
    os.chmod(server.data_dir / "hotelbot.db", 0o444)

    result = hotelbot(server, "doctor", **permission_checked_options())

    assert result.returncode == 1
    assert (
        "[ERRO] Sem permissão de escrita para este usuário: hotelbot.db. Corrija o dono ou as permissões (chown, chmod)."
        in result.stdout.splitlines()
    )


# -- one server per data directory --------------------------------------------------------------


async def test_second_server_on_same_directory_refused(server):
    result = hotelbot(server, "serve", env={"HOTELBOT_PORT": "0"})

    assert result.returncode == 1
    assert result.stderr.strip() == f"Já há outro servidor hotelbot em execução em {server.data_dir}."
    assert (await asyncio.to_thread(httpx.get, server.base_url + "/healthz")).status_code == 200


async def test_restore_refused_while_serving(server, tmp_path):
    backup = tmp_path / "copy.backup"
    written = hotelbot(server, "backup", "--to", str(backup))

    rejected = hotelbot(server, "restore", str(backup), "--replace")

    assert written.returncode == 0
    assert rejected.returncode == 1
    assert rejected.stderr.strip() == "Há um servidor hotelbot em execução neste diretório de dados; pare-o antes."
    assert (await asyncio.to_thread(httpx.get, server.base_url + "/healthz")).status_code == 200


# -- /healthz and /metrics ------------------------------------------------------------------------


async def guest_in_window(server, http, wa_id: str = "5511900000001") -> str:
    """Store a message from a guest written now (the 24-hour window open); return its conversation id."""
    wamid = new_wamid()
    payload = text_message("Olá", wa_id=wa_id, wamid=wamid, timestamp=str(int(time.time())))
    assert (await server.post_webhook(http, payload)).status_code == 200
    found = await eventually(lambda: rows(server, "SELECT conversation_id FROM messages WHERE whatsapp_msg_id = ?", (wamid,)))
    return found[0]["conversation_id"]


async def test_healthz_fails_while_meta_rejects_token(server, http, graph, tmp_path):
    conversation_id = await guest_in_window(server, http)
    attendant = await server.token(http, "attendant")
    graph.handler = lambda request: Reply(401, load_fixture("graph-error-190-token-expired.json"))

    sent = await call(server, http, "POST", "/messages/send-text", attendant, json={"conversationId": conversation_id, "content": "Bom dia!"})
    failing = await http.get(server.base_url + "/healthz")

    assert sent.status_code == 502
    assert sent.json()["whatsappCode"] == 190
    assert failing.status_code == 503
    assert failing.json()["status"] == "failing"
    assert failing.json()["checks"]["accessTokens"]["status"] == "failing"
    assert failing.json()["checks"]["accessTokens"]["rejectedTenants"] == [server.tenant.id]

    token_file = tmp_path / "token.txt"
    token_file.write_text("new-access-token")
    updated = hotelbot(server, "tenant", "update", "--tenant", server.tenant.id, "--access-token-file", str(token_file))
    healthy = await http.get(server.base_url + "/healthz")

    assert updated.returncode == 0
    assert healthy.status_code == 200
    assert healthy.json()["checks"]["accessTokens"] == {"status": "ok", "rejectedTenants": [], "lastRejectedAt": None}


async def test_healthz_warns_on_account_errors_and_quiet_webhooks(server, http):
    quiet = await http.get(server.base_url + "/healthz")
    response = await server.post_webhook(http, load_fixture("webhook-errors-value-130429.json"))
    await eventually(lambda: rows(server, "SELECT count(*) AS n FROM account_errors") == [{"n": 1}])
    warned = await http.get(server.base_url + "/healthz")

    assert quiet.status_code == 200
    assert quiet.json()["checks"]["webhooks"]["status"] == "warning"
    assert quiet.json()["checks"]["webhooks"]["lastReceivedAt"] is None
    assert response.status_code == 200
    assert warned.status_code == 200
    report = warned.json()
    assert report["status"] == "warning"
    assert report["checks"]["webhooks"]["status"] == "ok"
    assert report["checks"]["metaAccountErrors"]["status"] == "warning"
    recent = report["checks"]["metaAccountErrors"]["recent"]
    assert [(item["tenantId"], item["code"], item["title"], item["count"]) for item in recent] == [
        (server.tenant.id, 130429, "Rate limit hit", 1)
    ]
    assert report["checks"]["database"] == {"status": "ok"}
    assert report["checks"]["inbox"]["status"] == "ok"
    assert report["checks"]["inbox"]["backlog"] == 0


def test_healthz_fails_below_free_disk_setting(tmp_path, graph, n8n):
    """With less free space than min_free_disk_mb (here 100 TB), /healthz responds with 503 and names the disk."""
    server = launch(tmp_path / "data", graph.url, n8n.url, start=False, min_free_disk_mb=100_000_000)
    server.start(20.0, (503,))
    try:
        response = httpx.get(server.base_url + "/healthz", timeout=10)
    finally:
        server.stop()

    assert response.status_code == 503
    assert response.json()["status"] == "failing"
    disk = response.json()["checks"]["disk"]
    assert disk["status"] == "failing"
    assert 0 < disk["freeBytes"] < 100_000_000 * 1024 * 1024
    assert response.json()["checks"]["database"]["status"] == "ok"


async def test_healthz_fails_on_stale_inbox_until_processed(server, http, n8n):
    # A webhook stored 10 minutes ago whose job never ran, as after a lost job; the sweep runs only every 60 s here.
    wamid = new_wamid()
    received = to_iso(now() - dt.timedelta(minutes=10))
    execute(server, "INSERT INTO inbox (received_at, body) VALUES (?, ?)", (received, json.dumps(text_message("Antiga", wamid=wamid)).encode()))

    stale = await http.get(server.base_url + "/healthz")
    await asyncio.to_thread(server.restart)
    await eventually(lambda: rows(server, "SELECT forward_state FROM messages") == [{"forward_state": "DONE"}])
    healthy = await http.get(server.base_url + "/healthz")

    assert stale.status_code == 503
    inbox = stale.json()["checks"]["inbox"]
    assert inbox["status"] == "failing"
    assert inbox["backlog"] == 1
    assert inbox["oldestUnprocessedAt"] == received
    assert inbox["oldestAgeSeconds"] >= 600
    assert healthy.status_code == 200
    assert healthy.json()["checks"]["inbox"]["backlog"] == 0


async def test_metrics_after_a_scenario(server, http, n8n, sockets):
    client = EventClient()
    sockets.append(client)
    await client.connect(server.base_url, await server.token(http))
    seen = []

    def fail_first(request):
        seen.append(request)
        return Reply(500, {"message": "Error in workflow"}) if len(seen) == 1 else Reply(200, {"ok": True})

    n8n.handler = fail_first
    for index in range(3):
        assert (await server.post_webhook(http, text_message(f"Métrica {index}", wa_id=f"551196000000{index}"))).status_code == 200
    unsigned = await http.post(server.base_url + "/webhooks/whatsapp", content=b"{}", headers={"Content-Type": "application/json"})
    assert (await server.post_webhook(http, load_fixture("webhook-errors-value-130429.json"))).status_code == 200
    await eventually(
        lambda: rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'DONE'") == [{"n": 3}], timeout=20.0
    )
    await eventually(lambda: metric(server, "hotelbot_jobs_total", kind="forward", outcome="done") == 3)
    response = await http.get(server.base_url + "/metrics")
    samples = scrape(server)

    assert unsigned.status_code == 401
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert samples[("hotelbot_webhooks_received_total", (("outcome", "accepted"),))] == 4
    assert samples[("hotelbot_webhooks_received_total", (("outcome", "unauthorized"),))] == 1
    assert samples[("hotelbot_jobs_total", (("kind", "inbound"), ("outcome", "done")))] == 4
    assert samples[("hotelbot_jobs_total", (("kind", "forward"), ("outcome", "retried")))] == 1
    assert samples[("hotelbot_jobs_total", (("kind", "forward"), ("outcome", "done")))] == 3
    assert ("hotelbot_jobs_total", (("kind", "forward"), ("outcome", "dead"))) not in samples
    assert samples[("hotelbot_forward_seconds_count", ())] == 4
    assert samples[("hotelbot_sockets_connected", ())] == 1
    assert samples[("hotelbot_dead_letters", ())] == 0
    assert samples[("hotelbot_inbox_unprocessed", ())] == 0
    assert samples[("hotelbot_queue_depth", ())] == 0
    assert samples[("hotelbot_meta_account_errors_total", (("code", "130429"),))] == 1


async def test_metrics_hidden_from_public_addresses(server, http):
    # Python counts the documentation ranges (203.0.113.0/24) as private, so this is a real public address.
    public = await http.get(server.base_url + "/metrics", headers={"X-Forwarded-For": "93.184.216.34"})
    lan = await http.get(server.base_url + "/metrics", headers={"X-Forwarded-For": "192.168.1.20"})

    assert public.status_code == 404
    assert public.json() == NOT_FOUND
    assert lan.status_code == 200


# -- SIGTERM ----------------------------------------------------------------------------------------


def partial_webhook(server, body: bytes) -> socket.socket:
    """Open a connection and send a signed webhook's headers and the first half of its body."""
    connection = socket.create_connection(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])), timeout=10)
    head = (
        "POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-Hub-Signature-256: {server.sign(body)}\r\n\r\n"
    )
    connection.sendall(head.encode() + body[: len(body) // 2])
    return connection


@pytest.mark.parametrize("server_settings", [{"workers": 1, "shutdown_timeout": 5}])
async def test_sigterm_finishes_work_in_flight(server, http, n8n, server_settings):
    release = threading.Event()
    n8n.handler = lambda request: Reply(200, {"ok": True}) if release.wait(10) else Reply(500)
    running, queued, in_flight = new_wamid(), new_wamid(), new_wamid()
    assert (await server.post_webhook(http, text_message("Em andamento", wamid=running))).status_code == 200
    await asyncio.to_thread(n8n.wait_for, 1)
    assert (await server.post_webhook(http, text_message("Na fila", wa_id="5511900000002", wamid=queued))).status_code == 200
    body = json.dumps(text_message("Chegando", wa_id="5511900000003", wamid=in_flight)).encode()
    connection = partial_webhook(server, body)

    server.process.terminate()
    await eventually(lambda: "Received SIGTERM; stopping" in server.log())
    with pytest.raises(httpx.ConnectError):
        await http.get(server.base_url + "/healthz")
    connection.sendall(body[len(body) // 2:])
    answer = await asyncio.to_thread(connection.recv, 4096)
    connection.close()
    release.set()
    exit_code = await asyncio.to_thread(server.process.wait, 15)

    log = server.log()
    assert answer.startswith(b"HTTP/1.1 200")
    assert exit_code == 0
    assert "Job queue stopped" in log
    assert "hotelbot stopped" in log
    assert "Traceback" not in log
    assert rows(server, "SELECT forward_state FROM messages WHERE whatsapp_msg_id = ?", (running,)) == [{"forward_state": "DONE"}]
    assert rows(server, "SELECT count(*) AS n FROM inbox") == [{"n": 3}]
    wal = server.data_dir / "hotelbot.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0

    await asyncio.to_thread(server.start)
    await eventually(
        lambda: rows(server, "SELECT count(*) AS n FROM messages WHERE forward_state = 'DONE'") == [{"n": 3}], timeout=20.0
    )
    keys = [request.headers["idempotency-key"] for request in n8n.requests]
    assert sorted(keys) == sorted([running, queued, in_flight])


@pytest.mark.parametrize("server_settings", [{"forward_timeout": 1, "shutdown_timeout": 5}])
async def test_sigterm_with_hung_n8n_exits_within_bound(server, http, n8n, server_settings):
    hang = threading.Event()
    n8n.handler = lambda request: Reply(200, {"ok": True}) if not hang.wait(30) else Reply(200, {"ok": True})
    wamid = new_wamid()
    assert (await server.post_webhook(http, text_message("Travado", wamid=wamid))).status_code == 200
    await asyncio.to_thread(n8n.wait_for, 1)

    started = time.monotonic()
    exit_code = await asyncio.to_thread(server.stop)
    elapsed = time.monotonic() - started
    hang.set()

    assert exit_code == 0
    assert elapsed < 5 + 1 + 2, f"stop took {elapsed:.1f} s"
    assert rows(server, "SELECT forward_state FROM messages") == [{"forward_state": "PENDING"}]

    n8n.handler = lambda request: Reply(200, {"ok": True})
    await asyncio.to_thread(server.start)
    await eventually(lambda: rows(server, "SELECT forward_state FROM messages") == [{"forward_state": "DONE"}], timeout=20.0)
    assert [request.headers["idempotency-key"] for request in n8n.requests[-1:]] == [wamid]
