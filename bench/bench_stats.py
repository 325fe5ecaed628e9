"""Benchmark the dashboard's stats on generated data: cold and cached latency, and the file size.

Run from the repository root::

    python bench/bench_stats.py [--conversations 100000] [--messages 1000000] [--cold 40] [--cached 500]

The script fills a temporary data directory with ``hotelbot dev generate`` (one
tenant), reports how long that took and the database's size per million
messages, starts ``hotelbot serve`` on 127.0.0.1 and logs in as the generated
admin. Then, one request at a time over HTTP:

- cold: before each timed request, one conversation's priority is changed with
  plain SQL. The triggers then change the stats version, so the server counts
  again. The requests are ``GET /conversations/stats`` for every unit and for
  one unit, and ``/conversations/stats/range`` over 30 and 90 days;
- cached: the same requests repeated with nothing changed.

Each figure is the time from sending the request to reading the whole
response, measured in this process, which shares the machine's cores with the
server. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zoneinfo
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.server import ServerProcess, launch  # noqa: E402

UNREACHABLE = "http://127.0.0.1:9"


def generate(data_dir: Path, conversations: int, messages: int) -> float:
    """Run ``hotelbot dev generate``; return the seconds it took."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "hotelbot", "dev", "generate", "--data-dir", str(data_dir), "--tenants", "1",
         "--conversations", str(conversations), "--messages", str(messages), "--seed", "2026"],
        check=True, timeout=600,
    )
    return time.perf_counter() - started


def database_size(data_dir: Path) -> int:
    """Return the bytes of the database file after a WAL checkpoint."""
    connection = sqlite3.connect(data_dir / "hotelbot.db")
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return (data_dir / "hotelbot.db").stat().st_size


def summary(samples: list[float]) -> dict[str, float]:
    """Return p50 and p99 of ``samples`` (seconds) in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": statistics.median(samples) * 1000, "p99": cuts[98] * 1000, "n": len(samples)}


class StatsClient:
    def __init__(self, server: ServerProcess, http: httpx.AsyncClient, token: str) -> None:
        self.server = server
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}
        self.database = server.data_dir / "hotelbot.db"
        self.conversation_ids = self._conversation_ids()

    def _conversation_ids(self) -> list[str]:
        connection = sqlite3.connect(self.database)
        try:
            return [row[0] for row in connection.execute("SELECT id FROM conversations LIMIT 1000")]
        finally:
            connection.close()

    def change_counted_field(self, index: int) -> None:
        """Change one conversation's priority with plain SQL, so the next request counts again."""
        connection = sqlite3.connect(self.database, timeout=10)
        try:
            with connection:
                connection.execute(
                    "UPDATE conversations SET priority = CASE priority WHEN 'LOW' THEN 'MEDIUM' ELSE 'LOW' END"
                    " WHERE id = ?",
                    (self.conversation_ids[index % len(self.conversation_ids)],),
                )
        finally:
            connection.close()

    async def timed_get(self, path: str, params: dict[str, str], expected_cache: str) -> float:
        started = time.perf_counter()
        response = await self.http.get(self.server.base_url + path, params=params, headers=self.headers)
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or response.headers.get("X-Cache") != expected_cache:
            raise RuntimeError(f"{path} {params}: {response.status_code} {response.headers.get('X-Cache')} {response.text[:200]}")
        return elapsed


async def measure(client: StatsClient, path: str, params: dict[str, str], cold: int, cached: int) -> dict[str, dict]:
    cold_samples = []
    for index in range(cold):
        client.change_counted_field(index)
        cold_samples.append(await client.timed_get(path, params, "MISS"))
    cached_samples = [await client.timed_get(path, params, "HIT") for _ in range(cached)]
    return {"cold": summary(cold_samples), "cached": summary(cached_samples)}


async def measure_baseline(client: StatsClient, count: int) -> dict[str, dict]:
    """Time ``GET /auth/me``, the same authentication and one read: the floor under a cached response."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = await client.http.get(client.server.base_url + "/auth/me", headers=client.headers)
        samples.append(time.perf_counter() - started)
        response.raise_for_status()
    return {"cold": summary(samples), "cached": summary(samples)}


def request_variants(unit: str) -> list[tuple[str, str, dict[str, str]]]:
    today = dt.datetime.now(zoneinfo.ZoneInfo("America/Sao_Paulo")).date()
    return [
        ("stats, every unit", "/conversations/stats", {}),
        (f"stats, unit {unit}", "/conversations/stats", {"hotelUnit": unit}),
        ("range, 30 days", "/conversations/stats/range",
         {"from": (today - dt.timedelta(days=29)).isoformat(), "to": today.isoformat()}),
        ("range, 90 days", "/conversations/stats/range",
         {"from": (today - dt.timedelta(days=89)).isoformat(), "to": today.isoformat()}),
    ]


async def run_requests(server: ServerProcess, cold: int, cached: int) -> dict[str, dict]:
    logins = json.loads((server.data_dir / "dev-users.json").read_text())[0]
    admin = next(user for user in logins["users"] if user["role"] == "ADMIN")
    unit = next(user["hotelUnit"] for user in logins["users"] if user["hotelUnit"])
    async with httpx.AsyncClient(timeout=30.0) as http:
        token = (await server.login(http, admin["email"], logins["password"]))["accessToken"]
        client = StatsClient(server, http, token)
        results = {"baseline: GET /auth/me": await measure_baseline(client, cached)}
        for label, path, params in request_variants(unit):
            results[label] = await measure(client, path, params, cold, cached)
    return results


def report(args: argparse.Namespace, generation_seconds: float, size: int, results: dict[str, dict]) -> None:
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}")
    print(f"generated {args.conversations} conversations and {args.messages} messages in {generation_seconds:.1f} s")
    print(f"database file: {size / 1e6:.0f} MB, {size / 1e6 / (args.messages / 1e6):.0f} MB per million messages")
    print()
    print("| request | cold p50 | cold p99 | cached p50 | cached p99 |")
    print("|---|---|---|---|---|")
    for label, figures in results.items():
        cold, cached = figures["cold"], figures["cached"]
        print(f"| {label} | {cold['p50']:.1f} ms | {cold['p99']:.1f} ms | {cached['p50']:.2f} ms | {cached['p99']:.2f} ms |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--cold", type=int, default=40, help="cold requests per variant")
    parser.add_argument("--cached", type=int, default=500, help="cached requests per variant")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hotelbot-bench-stats-") as folder:
        data_dir = Path(folder) / "data"
        generation_seconds = generate(data_dir, args.conversations, args.messages)
        size = database_size(data_dir)
        server = launch(data_dir, UNREACHABLE, UNREACHABLE, tenant_count=0)
        try:
            results = asyncio.run(run_requests(server, args.cold, args.cached))
        finally:
            server.stop()
    report(args, generation_seconds, size, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
