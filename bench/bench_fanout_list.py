"""Benchmark the attendants' side: ``message:new`` fan-out to many sockets, and the Kanban list on a large tenant.

Run from the repository root::

    python bench/bench_fanout_list.py [--clients 500] [--rounds 30] [--conversations 100000] [--requests 300]

Fan-out: the script provisions a temporary data directory with the test
suite's launcher and starts ``hotelbot serve`` on 127.0.0.1 with a stand-in
N8N that responds 200. It connects ``--clients`` Socket.IO clients (websocket
transport) as one attendant, once with python-socketio's client and once with
a minimal client of the protocol that reads only the wamid, so the client
side's own decoding weighs less in the second figure. Each round posts one signed webhook with a new
guest message and records when each client receives its ``message:new``.
Reported over the rounds: the time from the POST to the first client (the
webhook, the queue and the processing), to the last client, and the spread
between the two (the fan-out itself), as p50 and p99.

List: ``hotelbot dev generate`` fills another data directory with one tenant
of ``--conversations`` conversations, the server starts on it, and
``GET /conversations`` runs ``--requests`` times one request at a time for
each variant (a supervisor's first page, an attendant's default unit filter, a
status filter, a page deep in the cursor chain, a text search), with
``GET /auth/me`` as the floor under them. Reported: p50 and p99.

The clients run in this process and share the machine's cores with the
server, so the figures compare runs on one machine. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
import socketio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.fakes import FakeN8N  # noqa: E402
from tests.support.server import ServerProcess, launch  # noqa: E402
from tests.support.webhooks import new_wamid, text_message  # noqa: E402

UNREACHABLE = "http://127.0.0.1:9"
CONNECT_BATCH = 50
ROUND_TIMEOUT = 30.0
CLIENT_KINDS = ("python-socketio", "protocol")
# The first wamid of a message:new packet is the message's own.
WAMID = re.compile(r'"whatsappMsgId": ?"([^"]+)"')


def percentile(samples: list[float], share: float) -> float:
    """Return the ``share`` percentile of ``samples`` (nearest rank), in milliseconds."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
    return ordered[index] * 1000


def summary(samples: list[float]) -> dict[str, float]:
    return {"p50": percentile(samples, 0.50), "p99": percentile(samples, 0.99), "n": len(samples)}


# -- fan-out -------------------------------------------------------------------


class Listeners:
    """Socket.IO clients that record when each ``message:new`` of the current round arrives."""

    def __init__(self) -> None:
        self.clients: list[socketio.AsyncClient] = []
        self.arrivals: dict[str, list[float]] = {}
        self.complete: dict[str, asyncio.Event] = {}
        self.expected = 0

    def expect(self, wamid: str) -> None:
        self.arrivals[wamid] = []
        self.complete[wamid] = asyncio.Event()

    def _handler(self):
        async def on_message(data: dict) -> None:
            wamid = data["message"]["whatsappMsgId"]
            if wamid not in self.arrivals:
                return
            self.arrivals[wamid].append(time.perf_counter())
            if len(self.arrivals[wamid]) == self.expected:
                self.complete[wamid].set()

        return on_message

    async def connect(self, base_url: str, token: str, count: int) -> float:
        """Connect ``count`` clients in batches; return the seconds it took."""
        started = time.perf_counter()
        for first in range(0, count, CONNECT_BATCH):
            batch = [socketio.AsyncClient(reconnection=False) for _ in range(min(CONNECT_BATCH, count - first))]
            for client in batch:
                client.on("message:new", self._handler())
            await asyncio.gather(*(
                client.connect(base_url, auth={"token": token}, transports=["websocket"], wait_timeout=30) for client in batch
            ))
            self.clients.extend(batch)
        self.expected = len(self.clients)
        return time.perf_counter() - started

    async def close(self) -> None:
        await asyncio.gather(*(client.disconnect() for client in self.clients), return_exceptions=True)


class ProtocolListeners(Listeners):
    """Socket.IO clients that speak the protocol over aiohttp websockets and read only the wamid.

    python-socketio's client decodes every packet and dispatches it on this
    process's loop. On a 2-core machine that took most of the fan-out time
    (154.5 ms against 42.5 ms median), so these clients keep it out of the figure.
    """

    def __init__(self) -> None:
        super().__init__()
        self._session: aiohttp.ClientSession | None = None
        self._sockets: list[aiohttp.ClientWebSocketResponse] = []
        self._readers: list[asyncio.Task] = []

    async def _open(self, url: str, token: str) -> None:
        socket = await self._session.ws_connect(url)
        opening = await socket.receive_str()
        if not opening.startswith("0"):
            raise RuntimeError(f"unexpected Engine.IO opening: {opening[:80]}")
        await socket.send_str("40" + json.dumps({"token": token}))
        joined = await socket.receive_str()
        if not joined.startswith("40"):
            raise RuntimeError(f"connection refused: {joined[:200]}")
        self._sockets.append(socket)
        self._readers.append(asyncio.get_running_loop().create_task(self._read(socket)))

    async def _read(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in socket:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            if frame.data == "2":
                await socket.send_str("3")
                continue
            found = WAMID.search(frame.data) if frame.data.startswith('42["message:new"') else None
            if found is None or found.group(1) not in self.arrivals:
                continue
            arrivals = self.arrivals[found.group(1)]
            arrivals.append(time.perf_counter())
            if len(arrivals) == self.expected:
                self.complete[found.group(1)].set()

    async def connect(self, base_url: str, token: str, count: int) -> float:
        started = time.perf_counter()
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        url = base_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        for first in range(0, count, CONNECT_BATCH):
            await asyncio.gather(*(self._open(url, token) for _ in range(min(CONNECT_BATCH, count - first))))
        self.expected = len(self._sockets)
        return time.perf_counter() - started

    async def close(self) -> None:
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*(socket.close() for socket in self._sockets), return_exceptions=True)
        await asyncio.gather(*self._readers, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


async def fan_out_rounds(server: ServerProcess, clients: int, rounds: int, kind: str) -> dict[str, dict]:
    listeners = Listeners() if kind == "python-socketio" else ProtocolListeners()
    first, last, spread = [], [], []
    async with httpx.AsyncClient(timeout=30.0) as http:
        token = await server.token(http, "attendant")
        connect_seconds = await listeners.connect(server.base_url, token, clients)
        print(f"connected {clients} {kind} clients in {connect_seconds:.1f} s", flush=True)
        try:
            for number in range(rounds):
                wamid = new_wamid()
                payload = text_message(f"Mensagem {number}", wa_id=f"55119{number:08d}", wamid=wamid,
                                       timestamp=str(int(time.time())))
                listeners.expect(wamid)
                posted = time.perf_counter()
                response = await server.post_webhook(http, payload)
                response.raise_for_status()
                await asyncio.wait_for(listeners.complete[wamid].wait(), ROUND_TIMEOUT)
                arrivals = listeners.arrivals[wamid]
                first.append(min(arrivals) - posted)
                last.append(max(arrivals) - posted)
                spread.append(max(arrivals) - min(arrivals))
                await asyncio.sleep(0.2)
        finally:
            await listeners.close()
    return {"POST to first client": summary(first), "POST to last client": summary(last),
            "first to last client (fan-out)": summary(spread)}


def run_fan_out(clients: int, rounds: int, kind: str) -> dict[str, dict]:
    n8n = FakeN8N().start()
    with tempfile.TemporaryDirectory(prefix="hotelbot-bench-fanout-") as folder:
        server = launch(Path(folder) / "data", UNREACHABLE, n8n.url, tenant_count=1, log_level="WARNING")
        try:
            return asyncio.run(fan_out_rounds(server, clients, rounds, kind))
        finally:
            server.stop()
            n8n.stop()


# -- the Kanban list on a large tenant ------------------------------------------


def generate(data_dir: Path, conversations: int, messages: int) -> float:
    """Run ``hotelbot dev generate`` for one tenant; return the seconds it took."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "hotelbot", "dev", "generate", "--data-dir", str(data_dir), "--tenants", "1",
         "--conversations", str(conversations), "--messages", str(messages), "--seed", "2026"],
        check=True, timeout=900,
    )
    return time.perf_counter() - started


async def timed_gets(http: httpx.AsyncClient, url: str, token: str, params: dict[str, str], count: int) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = await http.get(url, params=params, headers=headers)
        samples.append(time.perf_counter() - started)
        response.raise_for_status()
    return samples


async def deep_cursor(http: httpx.AsyncClient, base_url: str, token: str, pages: int) -> str:
    """Follow the cursor chain ``pages`` pages down; return the cursor of the next page."""
    cursor = None
    for _ in range(pages):
        params = {"cursor": cursor} if cursor else {}
        response = await http.get(base_url + "/conversations", params=params, headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        cursor = response.json()["nextCursor"]
    return cursor


async def list_requests(server: ServerProcess, count: int) -> dict[str, dict]:
    logins = json.loads((server.data_dir / "dev-users.json").read_text())[0]
    supervisor = next(user for user in logins["users"] if user["role"] == "SUPERVISOR")
    attendant = next(user for user in logins["users"] if user["role"] == "ATTENDANT" and user["hotelUnit"])
    url = server.base_url + "/conversations"
    async with httpx.AsyncClient(timeout=30.0) as http:
        supervisor_token = (await server.login(http, supervisor["email"], logins["password"]))["accessToken"]
        attendant_token = (await server.login(http, attendant["email"], logins["password"]))["accessToken"]
        cursor = await deep_cursor(http, server.base_url, supervisor_token, 20)
        variants = [
            ("baseline: GET /auth/me", server.base_url + "/auth/me", supervisor_token, {}, count),
            ("supervisor, first page (50)", url, supervisor_token, {}, count),
            ("attendant with a unit, default filter", url, attendant_token, {}, count),
            ("status=OPEN", url, supervisor_token, {"status": "OPEN"}, count),
            ("page 21 of the cursor chain", url, supervisor_token, {"cursor": cursor}, count),
            ("search=Silva", url, supervisor_token, {"search": "Silva"}, max(10, count // 10)),
            ("search with no match", url, supervisor_token, {"search": "xyzzy"}, 5),
        ]
        results = {}
        for label, target, token, params, repeats in variants:
            results[label] = summary(await timed_gets(http, target, token, params, repeats))
    return results


def run_list(conversations: int, messages: int, requests: int) -> tuple[float, dict[str, dict]]:
    with tempfile.TemporaryDirectory(prefix="hotelbot-bench-list-") as folder:
        data_dir = Path(folder) / "data"
        generation_seconds = generate(data_dir, conversations, messages)
        server = launch(data_dir, UNREACHABLE, UNREACHABLE, tenant_count=0, log_level="WARNING")
        try:
            return generation_seconds, asyncio.run(list_requests(server, requests))
        finally:
            server.stop()


def print_table(title: str, results: dict[str, dict]) -> None:
    print(f"\n{title}\n")
    print("| measure | p50 | p99 | samples |")
    print("|---|---|---|---|")
    for label, figures in results.items():
        print(f"| {label} | {figures['p50']:.1f} ms | {figures['p99']:.1f} ms | {figures['n']} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500, help="Socket.IO clients connected (default 500)")
    parser.add_argument("--rounds", type=int, default=30, help="messages sent to them, one at a time (default 30)")
    parser.add_argument("--conversations", type=int, default=100_000, help="conversations of the tenant (default 100000)")
    parser.add_argument("--messages", type=int, default=300_000, help="messages over those conversations (default 300000)")
    parser.add_argument("--requests", type=int, default=300, help="GET /conversations per variant (default 300)")
    parser.add_argument("--skip-fanout", action="store_true")
    parser.add_argument("--skip-list", action="store_true")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, load average {os.getloadavg()[0]:.1f}")
    if not args.skip_fanout:
        for kind in CLIENT_KINDS:
            print_table(f"message:new to {args.clients} Socket.IO clients ({kind}), {args.rounds} rounds",
                        run_fan_out(args.clients, args.rounds, kind))
    if not args.skip_list:
        generation_seconds, results = run_list(args.conversations, args.messages, args.requests)
        print(f"\ngenerated {args.conversations} conversations and {args.messages} messages in {generation_seconds:.1f} s")
        print_table(f"GET /conversations on {args.conversations} conversations, one request at a time", results)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
