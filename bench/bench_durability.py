"""Measure what SQLite's synchronous=FULL costs against NORMAL: signed webhook POSTs per second.

Run from the repository root::

    python bench/bench_durability.py [--seconds 10] [--connections 16] [--rounds 3]

For each round and each mode (NORMAL, then FULL), the script provisions a new
temporary data directory with the test suite's launcher. It starts ``hotelbot
serve`` on 127.0.0.1 with ``HOTELBOT_DB_SYNCHRONOUS`` set to the mode, and a
stand-in N8N webhook in its own process that responds 200. After two seconds
of warm-up, one client keeps posting signed one-message webhooks for
``--seconds``, then ``--connections`` clients do the same, so the figures show
both the latency a flush adds and the throughput. Each POST is a new message,
so the queue behind it stores, processes and forwards each one while the POSTs
go on. Reported per
mode and load: requests/s that got a 200 response (median of the rounds), and
p50/p99 latency over all rounds.

It then measures the same thing without the server: single-row INSERT and
COMMIT transactions per second on a WAL database in the same file system, so
the figures show how much of the difference is the disk's flush.

The load generator runs in this process and shares the machine's cores with
the server. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hotelbot.whatsapp.signature import sign  # noqa: E402
from tests.support.server import free_port, launch  # noqa: E402

MODES = ("NORMAL", "FULL")
WARM_UP_SECONDS = 2.0
RAW_SECONDS = 2.0
MAX_SECONDS = 120


def serve_n8n(port: int) -> None:
    """Run a stand-in N8N webhook on 127.0.0.1:``port`` that responds 200 to every POST."""
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
            with __import__("socket").create_connection(("127.0.0.1", port), timeout=0.2):
                return process, f"http://127.0.0.1:{port}/webhook/hotelbot"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the stand-in N8N did not start")


def webhook_body(phone_number_id: str) -> bytes:
    """Return a one-text-message webhook body with a new wamid."""
    wamid = "wamid.BENCH" + uuid.uuid4().hex.upper()
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "109900000000001", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "5511900000000", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Hóspede"}, "wa_id": "5511900000001"}],
            "messages": [{"from": "5511900000001", "id": wamid, "timestamp": str(int(time.time())),
                          "type": "text", "text": {"body": "Bom dia, há quartos livres?"}}],
        }}]}],
    }
    return json.dumps(payload).encode()


async def post_for(url: str, app_secret: str, phone_number_id: str, connections: int, seconds: float) -> tuple[int, int, list[float]]:
    """Keep ``connections`` clients posting webhooks for ``seconds``; return (ok, failed, latencies in ms)."""
    latencies: list[float] = []
    counts = {"ok": 0, "failed": 0}
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=connections)

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            body = webhook_body(phone_number_id)
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, app_secret)}
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
            latencies.append((time.perf_counter() - started) * 1000)
            counts["ok" if status == 200 else "failed"] += 1

    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(session) for _ in range(connections)))
    return counts["ok"], counts["failed"], latencies


def measure_server(mode: str, n8n_url: str, loads: tuple[int, ...], seconds: float) -> dict[int, dict]:
    """Start a server with ``synchronous`` = ``mode`` in a new data directory; measure webhook POSTs per load.

    Returns ``{clients: {ok, failed, rate, latencies}}``.
    """
    results = {}
    with tempfile.TemporaryDirectory(prefix="hotelbot-bench-durability-") as folder:
        server = launch(Path(folder) / "data", "http://127.0.0.1:9", n8n_url, tenant_count=1, db_synchronous=mode,
                        log_level="WARNING", retry_delay=2.0)
        try:
            url = server.base_url + "/webhooks/whatsapp"
            tenant = server.tenant
            asyncio.run(post_for(url, tenant.app_secret, tenant.phone_number_id, max(loads), WARM_UP_SECONDS))
            for clients in loads:
                ok, failed, latencies = asyncio.run(post_for(url, tenant.app_secret, tenant.phone_number_id, clients, seconds))
                results[clients] = {"ok": ok, "failed": failed, "rate": ok / seconds, "latencies": latencies}
        finally:
            server.stop()
    return results


def measure_raw(mode: str, folder: Path) -> float:
    """Return single-row INSERT+COMMIT transactions per second on a WAL database with ``synchronous`` = ``mode``."""
    path = folder / f"raw-{mode}.db"
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {mode}")
        connection.execute("CREATE TABLE inbox (id INTEGER PRIMARY KEY, body BLOB)")
        body = webhook_body("1")
        count = 0
        deadline = time.monotonic() + RAW_SECONDS
        while time.monotonic() < deadline:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO inbox (body) VALUES (?)", (body,))
            connection.execute("COMMIT")
            count += 1
    finally:
        connection.close()
    return count / RAW_SECONDS


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per round and mode")
    parser.add_argument("--connections", type=int, default=16, help="concurrent clients posting webhooks")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each runs NORMAL then FULL")
    args = parser.parse_args()
    seconds = min(args.seconds, MAX_SECONDS)

    print(f"{platform.platform()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    print(f"{args.rounds} round(s) x {seconds:g} s, {args.connections} connections")
    loads = (1, args.connections)
    n8n, n8n_url = start_n8n()
    results: dict[tuple[str, int], list[dict]] = {(mode, clients): [] for mode in MODES for clients in loads}
    try:
        for round_number in range(1, args.rounds + 1):
            for mode in MODES:
                measured = measure_server(mode, n8n_url, loads, seconds)
                for clients, result in measured.items():
                    results[(mode, clients)].append(result)
                    print(
                        f"round {round_number} {mode:<6} {clients:3d} client(s) {result['rate']:8.1f} req/s"
                        f" ({result['failed']} not 200)", flush=True,
                    )
    finally:
        n8n.kill()

    print("\nmode    clients  webhooks/s (median)  p50 ms  p99 ms  not 200")
    for (mode, clients), rounds in results.items():
        rates = [result["rate"] for result in rounds]
        latencies = [value for result in rounds for value in result["latencies"]]
        failed = sum(result["failed"] for result in rounds)
        print(
            f"{mode:<6}  {clients:7d}  {statistics.median(rates):19.1f}  {percentile(latencies, 0.5):6.1f}"
            f"  {percentile(latencies, 0.99):6.1f}  {failed:7d}"
        )

    with tempfile.TemporaryDirectory(prefix="hotelbot-bench-raw-") as folder:
        print("\nraw SQLite, one INSERT+COMMIT per transaction, WAL, same file system:")
        for mode in MODES:
            print(f"{mode:<6}  {measure_raw(mode, Path(folder)):10.0f} transactions/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
