"""Benchmark the real server on loopback: the bare HTTP stack, signed webhooks, and webhook to ``message:new``.

Run from the repository root (``make bench`` does)::

    python bench/run.py [--seconds 10] [--connections 50] [--rate 200] [--steady-seconds 20]

The script provisions a temporary data directory with the test suite's
launcher, starts ``hotelbot serve`` on 127.0.0.1 and a stand-in N8N webhook
(a small aiohttp server in its own process that returns 200), then measures:

1. ``GET /livez`` (no I/O) and ``GET /healthz`` with ``--connections`` clients
   for ``--seconds`` each: requests/s, p50, p99;
2. signed webhook ``POST /webhooks/whatsapp`` (one new text message each) the
   same way, and the ratio of its requests/s to ``/livez``'s; then the time the
   queue takes to process and forward that burst;
3. a steady ``--rate`` messages/s for ``--steady-seconds`` (open loop: each POST
   leaves at its scheduled time, whatever the earlier ones are doing) with an
   attendant's Socket.IO client connected: the time from sending a POST to
   receiving its ``message:new``, and the inbox backlog sampled every second.

The load generator (aiohttp) runs in this process and takes CPU from the
server on the same cores, which Meta's traffic would not. The same generator
measures every phase, so the ratio compares like with like, and each phase
prints the generator's own CPU time (``time.process_time``) next to the
server's (from /proc): if the generator came near a whole core it would be
the limit, not the server. Server CPU per request is printed too, because it
depends far less on other work on the machine than latencies do. Every phase is bounded in time
and count. Nothing leaves 127.0.0.1. ``--profile PATH`` records with py-spy
where the server holds the GIL during the steady phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import socketio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hotelbot.whatsapp.signature import sign  # noqa: E402
from tests.support.server import ServerProcess, free_port, launch  # noqa: E402

# Per-phase ceilings, so a run stays bounded whatever the options request.
MAX_REQUESTS_PER_PHASE = 200_000
DRAIN_TIMEOUT = 180.0
UNREACHABLE_GRAPH = "http://127.0.0.1:9"


# -- the stand-in N8N, in its own process so it does not compete with the load generator's loop --


def serve_n8n(port: int) -> None:
    from aiohttp import web

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/webhook/hotelbot", accept)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def start_n8n() -> tuple[multiprocessing.Process, str]:
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(target=serve_n8n, args=(port,), daemon=True)
    process.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, f"http://127.0.0.1:{port}/webhook/hotelbot"
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the stand-in N8N did not start")


# -- measurements -------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time a process (with its threads) has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class PhaseResult:
    name: str
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    server_cpu: float = 0.0
    # CPU time of this process (the load generator) during the phase.
    generator_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        return percentile(self.latencies, fraction)


def percentile(values: list[float], fraction: float) -> float:
    """Return the ``fraction`` quantile (nearest rank) of ``values`` in milliseconds, or NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index] * 1000


def webhook_body(tenant_phone_number_id: str, guest: int, wamid: str, text: str) -> bytes:
    """Return a one-message webhook body as Meta sends it (non-ASCII escaped)."""
    wa_id = f"5511900{guest:06d}"
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "109900000000001",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "5511900000000", "phone_number_id": tenant_phone_number_id},
                    "contacts": [{"profile": {"name": f"Hóspede {guest}"}, "wa_id": wa_id}],
                    "messages": [{"from": wa_id, "id": wamid, "timestamp": str(int(time.time())), "type": "text", "text": {"body": text}}],
                },
            }],
        }],
    }
    return json.dumps(payload, ensure_ascii=True).encode()


class Webhooks:
    """Signed webhook bodies for tenant 0, each with a new wamid, from a pool of guests."""

    def __init__(self, server: ServerProcess, guests: int = 500) -> None:
        self.url = server.base_url + "/webhooks/whatsapp"
        self._phone_number_id = server.tenant.phone_number_id
        self._secret = server.tenant.app_secret
        self._guests = guests
        self._count = 0

    def next(self) -> tuple[str, bytes, dict[str, str]]:
        self._count += 1
        wamid = "wamid.BENCH" + uuid.uuid4().hex.upper()
        body = webhook_body(self._phone_number_id, self._count % self._guests, wamid, f"Mensagem de teste nº {self._count}")
        return wamid, body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, self._secret)}


async def closed_loop(
    name: str, server: ServerProcess, session: aiohttp.ClientSession, connections: int, seconds: float, request
) -> PhaseResult:
    """Run ``connections`` clients that each send ``request(session)`` back to back for ``seconds``."""
    result = PhaseResult(name, seconds)
    cpu_before = cpu_seconds(server.process.pid)
    generator_before = time.process_time()
    deadline = time.perf_counter() + seconds
    sent = 0

    async def client() -> None:
        nonlocal sent
        while time.perf_counter() < deadline and sent < MAX_REQUESTS_PER_PHASE:
            sent += 1
            started = time.perf_counter()
            try:
                status = await request(session)
            except aiohttp.ClientError as error:
                result.errors[type(error).__name__] = result.errors.get(type(error).__name__, 0) + 1
                continue
            if status == 200:
                result.latencies.append(time.perf_counter() - started)
            else:
                result.errors[str(status)] = result.errors.get(str(status), 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    result.seconds = time.perf_counter() - started
    result.server_cpu = cpu_seconds(server.process.pid) - cpu_before
    result.generator_cpu = time.process_time() - generator_before
    return result


def get(url: str):
    async def request(session: aiohttp.ClientSession) -> int:
        async with session.get(url) as response:
            await response.read()
            return response.status

    return request


def post_webhook(webhooks: Webhooks):
    async def request(session: aiohttp.ClientSession) -> int:
        _, body, headers = webhooks.next()
        async with session.post(webhooks.url, data=body, headers=headers) as response:
            await response.read()
            return response.status

    return request


def database_counts(server: ServerProcess) -> dict[str, int]:
    connection = sqlite3.connect(f"file:{server.data_dir / 'hotelbot.db'}?mode=ro", uri=True, timeout=5)
    try:
        inbox = connection.execute("SELECT count(*) FROM inbox WHERE processed_at IS NULL").fetchone()[0]
        forwards = connection.execute("SELECT count(*) FROM messages WHERE forward_state = 'PENDING'").fetchone()[0]
        messages = connection.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        connection.close()
    return {"inbox": inbox, "forwards": forwards, "messages": messages}


async def drain(server: ServerProcess) -> tuple[float, dict[str, int]]:
    """Wait until every stored webhook is processed and forwarded; return the seconds taken and the counts."""
    started = time.perf_counter()
    counts = database_counts(server)
    while counts["inbox"] or counts["forwards"]:
        if time.perf_counter() - started > DRAIN_TIMEOUT:
            break
        await asyncio.sleep(0.1)
        counts = database_counts(server)
    return time.perf_counter() - started, counts


@dataclass
class SteadyResult:
    rate: float
    sent: int
    accepted: int
    seconds: float
    post_latencies: list[float]
    end_to_end: list[float]
    missing: int
    late_sends: int
    backlog: list[tuple[float, int, int]]
    server_cpu: float


async def steady(server: ServerProcess, session: aiohttp.ClientSession, token: str, rate: float, seconds: float) -> SteadyResult:
    """Send ``rate`` webhooks a second for ``seconds`` on schedule; time each until its ``message:new``."""
    webhooks = Webhooks(server)
    sent_at: dict[str, float] = {}
    end_to_end: list[float] = []
    post_latencies: list[float] = []
    backlog: list[tuple[float, int, int]] = []
    late = 0
    accepted = 0

    attendant = socketio.AsyncClient(reconnection=False)

    async def on_message(data: dict) -> None:
        received = time.perf_counter()
        started = sent_at.pop(data["message"]["whatsappMsgId"], None)
        if started is not None:
            end_to_end.append(received - started)

    attendant.on("message:new", on_message)
    await attendant.connect(server.base_url, auth={"token": token}, transports=["websocket"], wait_timeout=10)

    async def send_one(wamid: str, body: bytes, headers: dict[str, str]) -> None:
        nonlocal accepted
        started = time.perf_counter()
        sent_at[wamid] = started
        try:
            async with session.post(webhooks.url, data=body, headers=headers) as response:
                await response.read()
                if response.status == 200:
                    accepted += 1
                    post_latencies.append(time.perf_counter() - started)
        except aiohttp.ClientError:
            sent_at.pop(wamid, None)

    async def sample_backlog(stop: asyncio.Event) -> None:
        origin = time.perf_counter()
        while not stop.is_set():
            counts = await asyncio.to_thread(database_counts, server)
            backlog.append((time.perf_counter() - origin, counts["inbox"], counts["forwards"]))
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except asyncio.TimeoutError:
                pass

    cpu_before = cpu_seconds(server.process.pid)
    total = min(int(rate * seconds), MAX_REQUESTS_PER_PHASE)
    prepared = [webhooks.next() for _ in range(total)]
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_backlog(stop))
    tasks = []
    origin = time.perf_counter()
    for index, (wamid, body, headers) in enumerate(prepared):
        due = origin + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.01:
            late += 1
        tasks.append(asyncio.create_task(send_one(wamid, body, headers)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - origin

    deadline = time.perf_counter() + 30
    while sent_at and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await sampler
    await attendant.disconnect()
    server_cpu = cpu_seconds(server.process.pid) - cpu_before
    return SteadyResult(rate, total, accepted, elapsed, post_latencies, end_to_end, len(sent_at), late, backlog, server_cpu)


# -- reporting ----------------------------------------------------------------------------------


def backlog_trend(samples: list[tuple[float, int, int]]) -> float:
    """Return the least-squares slope of the inbox backlog, in messages per second."""
    if len(samples) < 3:
        return 0.0
    times = [sample[0] for sample in samples]
    values = [sample[1] for sample in samples]
    mean_time, mean_value = statistics.fmean(times), statistics.fmean(values)
    spread = sum((moment - mean_time) ** 2 for moment in times)
    if spread == 0:
        return 0.0
    return sum((moment - mean_time) * (value - mean_value) for moment, value in zip(times, values)) / spread


def report(phases: list[PhaseResult], drained: tuple[float, int], result: SteadyResult, options: argparse.Namespace) -> str:
    live, health, hooks = phases
    lines = [
        f"hotelbot benchmark, {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {options.connections} connections, {options.seconds:.0f} s per phase, "
        f"load average {options.load_before:.2f} before the run and {os.getloadavg()[0]:.2f} at its end",
        "",
        "| endpoint | requests/s | p50 ms | p99 ms | server CPU ms/request | server CPU cores | generator CPU cores | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for phase in phases:
        errors = ", ".join(f"{name}: {count}" for name, count in phase.errors.items()) or "none"
        cpu = phase.server_cpu * 1000 / max(len(phase.latencies), 1)
        lines.append(
            f"| {phase.name} | {phase.rate:,.0f} | {phase.percentile(0.50):.1f} | {phase.percentile(0.99):.1f} | {cpu:.2f}"
            f" | {phase.server_cpu / phase.seconds:.2f} | {phase.generator_cpu / phase.seconds:.2f} | {errors} |"
        )
    drain_seconds, processed = drained
    lines += [
        "",
        f"Ratio webhook / livez: {hooks.rate / live.rate:.2f} (target >= 0.5); webhook / healthz: {hooks.rate / health.rate:.2f}",
        f"Queue after the webhook burst: {processed} messages processed and forwarded {drain_seconds:.1f} s after the last POST",
        "",
        f"Steady load: {result.sent} webhooks at {result.rate:.0f}/s planned, {result.sent / result.seconds:.0f}/s sent "
        f"over {result.seconds:.1f} s ({result.late_sends} sends more than 10 ms late), {result.accepted} accepted",
        f"POST latency: p50 {percentile(result.post_latencies, 0.5):.1f} ms, p99 {percentile(result.post_latencies, 0.99):.1f} ms; "
        f"server CPU {result.server_cpu * 1000 / max(result.sent, 1):.2f} ms per message (request, processing, forward, event)",
        f"POST to message:new: p50 {percentile(result.end_to_end, 0.5):.1f} ms, p99 {percentile(result.end_to_end, 0.99):.1f} ms, "
        f"max {percentile(result.end_to_end, 1.0):.1f} ms (target p99 < 150 ms); {result.missing} never arrived",
    ]
    inbox = [sample[1] for sample in result.backlog]
    forwards = [sample[2] for sample in result.backlog]
    if inbox:
        slope = backlog_trend(result.backlog)
        verdict = "no growth" if slope < 0.5 and inbox[-1] <= max(10, result.rate * 0.5) else "GROWING"
        lines.append(
            f"Inbox backlog sampled each second: max {max(inbox)}, last {inbox[-1]}, trend {slope:+.2f} messages/s ({verdict}); "
            f"forwards pending: max {max(forwards)}, last {forwards[-1]}"
        )
    return "\n".join(lines)


def start_profiler(server: ServerProcess, options: argparse.Namespace) -> subprocess.Popen | None:
    """Start py-spy on the server for the steady phase when ``--profile`` names an output file."""
    if not options.profile:
        return None
    command = [
        "py-spy", "record", "--pid", str(server.process.pid), "--duration", str(int(options.steady_seconds)),
        "--rate", "250", "--gil", "--format", "raw", "--nonblocking", "--output", options.profile,
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def measure(server: ServerProcess, options: argparse.Namespace) -> str:
    connector = aiohttp.TCPConnector(limit=options.connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        webhooks = Webhooks(server)
        await closed_loop("warm-up", server, session, options.connections, 2.0, get(server.base_url + "/livez"))
        live = await closed_loop("GET /livez", server, session, options.connections, options.seconds, get(server.base_url + "/livez"))
        health = await closed_loop("GET /healthz", server, session, options.connections, options.seconds, get(server.base_url + "/healthz"))
        hooks = await closed_loop("POST /webhooks/whatsapp", server, session, options.connections, options.seconds, post_webhook(webhooks))
        drain_seconds, counts = await drain(server)
        processed = counts["messages"]

        async with session.post(server.base_url + "/auth/login", json={"email": server.tenant.users["admin"], "password": "senha-segura-123"}) as response:
            token = (await response.json())["accessToken"]
        profiler = start_profiler(server, options)
        result = await steady(server, session, token, options.rate, options.steady_seconds)
        if profiler is not None:
            await asyncio.to_thread(profiler.wait, options.steady_seconds + 30)
    return report([live, health, hooks], (drain_seconds, processed), result, options)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each closed-loop phase in seconds")
    parser.add_argument("--connections", type=int, default=50, help="concurrent HTTP connections in closed-loop phases")
    parser.add_argument("--rate", type=float, default=200.0, help="webhooks per second in the steady phase")
    parser.add_argument("--steady-seconds", type=float, default=20.0, help="length of the steady phase in seconds")
    parser.add_argument("--log-level", default="INFO", help="the server's HOTELBOT_LOG_LEVEL")
    parser.add_argument("--profile", metavar="PATH", help="record where the server holds the GIL during the steady phase (py-spy, collapsed stacks)")
    options = parser.parse_args()
    options.load_before = os.getloadavg()[0]

    n8n_process, n8n_url = start_n8n()
    with tempfile.TemporaryDirectory(prefix="hotelbot-bench-") as folder:
        server = launch(Path(folder) / "data", UNREACHABLE_GRAPH, n8n_url, log_level=options.log_level, login_rate_limit=1000)
        try:
            print(asyncio.run(measure(server, options)))
        finally:
            exit_code = server.stop()
            n8n_process.terminate()
            n8n_process.join(10)
    if exit_code != 0:
        print(f"The server exited with {exit_code}; its log was in {folder}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
