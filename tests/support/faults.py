"""Faults injected on purpose: test sizes, a steady webhook sender, file-size limits, permission checks.

Sizes are small by default so the suite stays fast on two cores;
``HOTELBOT_FAULTS_FULL=1`` runs the sizes the durability claims are made for.
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import os
import resource
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.webhooks import new_wamid, text_message

FULL = os.environ.get("HOTELBOT_FAULTS_FULL") == "1"
# Linux capability numbers (linux/capability.h) and the prctl that drops one from the bounding set.
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3
PR_CAPBSET_DROP = 24
# Loaded here, not in the forked child that calls prctl.
_LIBC = ctypes.CDLL(None, use_errno=True)


def sized(name: str, default: int, full: int) -> int:
    """Return ``HOTELBOT_FAULTS_<NAME>`` when set, else ``full`` under HOTELBOT_FAULTS_FULL=1, else ``default``."""
    value = os.environ.get(f"HOTELBOT_FAULTS_{name.upper()}")
    if value:
        return int(value)
    return full if FULL else default


@dataclasses.dataclass
class Delivery:
    """What Meta would see of one webhook: its wamid, guest and how many POSTs it took to get a 200."""

    wamid: str
    phone: str
    payload: dict[str, Any]
    posts: int = 0
    acknowledged: bool = False


def deliveries(count: int, guests: int) -> list[Delivery]:
    """Return ``count`` one-message webhooks from ``guests`` different guests, round-robin."""
    result = []
    for index in range(count):
        phone = f"55119{index % guests:08d}"
        wamid = new_wamid()
        payload = text_message(f"Mensagem {index}", wa_id=phone, name=f"Hóspede {index % guests}", wamid=wamid)
        result.append(Delivery(wamid, phone, payload))
    return result


class SteadySender:
    """Post signed webhooks at a steady rate and, like Meta, post again each one whose response was not 200."""

    def __init__(self, server: Any, client: httpx.AsyncClient, rate: float, concurrency: int = 16) -> None:
        self.server = server
        self.client = client
        self.interval = 1.0 / rate
        self.limit = asyncio.Semaphore(concurrency)
        self.failures = 0

    async def post(self, delivery: Delivery) -> bool:
        """Post once; return whether the response status was 200."""
        async with self.limit:
            delivery.posts += 1
            try:
                response = await self.server.post_webhook(self.client, delivery.payload)
            except httpx.HTTPError:
                self.failures += 1
                return False
        if response.status_code != 200:
            self.failures += 1
            return False
        delivery.acknowledged = True
        return True

    async def send_all(self, items: list[Delivery]) -> None:
        """Start one POST every ``interval`` seconds, then post the unacknowledged ones again until all are."""
        started = time.monotonic()
        tasks = []
        for index, delivery in enumerate(items):
            await asyncio.sleep(max(0.0, started + index * self.interval - time.monotonic()))
            tasks.append(asyncio.create_task(self.post(delivery)))
        await asyncio.gather(*tasks)

        while True:
            missing = [delivery for delivery in items if not delivery.acknowledged]
            if not missing:
                return
            await asyncio.sleep(0.2)
            await asyncio.gather(*(self.post(delivery) for delivery in missing))


def limit_file_size(pid: int, limit: int | None) -> None:
    """Set the soft RLIMIT_FSIZE of a running process; ``None`` lifts it.

    With the limit at 0 every write to a regular file fails with EFBIG, as on a
    full disk (Python ignores SIGXFSZ, so the process lives on).
    """
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    soft = hard if limit is None else limit
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))


def _drop_file_permission_override() -> None:
    """Remove, for this process and what it runs, root's power to ignore file permissions."""
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if _LIBC.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def permission_checked_options() -> dict[str, Any]:
    """Return Popen options under which the server obeys file permissions even when the tests run as root.

    Root ignores a file's mode, so chmod alone cannot make the database
    read-only for a root server. Dropping the overriding capabilities from the
    bounding set before exec makes root subject to the owner's bits like anyone.
    """
    if os.geteuid() != 0:
        return {}
    return {"preexec_fn": _drop_file_permission_override}


def database_files(data_dir: Path) -> list[Path]:
    """Return the application database and its WAL and shared-memory files that exist."""
    names = ("hotelbot.db", "hotelbot.db-wal", "hotelbot.db-shm")
    return [data_dir / name for name in names if (data_dir / name).exists()]


def scrape(server: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Return the server's /metrics as ``{(sample name, sorted labels): value}``."""
    response = httpx.get(server.base_url + "/metrics", timeout=5.0)
    response.raise_for_status()
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def metric(server: Any, name: str, **labels: str) -> float:
    """Return one sample of the server's /metrics, 0.0 when it is absent."""
    return scrape(server).get((name, tuple(sorted(labels.items()))), 0.0)
