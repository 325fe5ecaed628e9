"""Cold start of the one-file executable: size, and time to the first answered request.

Usage: python bench/executable_start.py [RUNS]   (after `make dist`)

Each run initializes a fresh data directory, starts ``dist/hotelbot serve``
with its own empty TMPDIR (so every start unpacks the bundle again) and polls
``/healthz`` every 10 ms until it responds. The same is measured for the source
tree (``python -m hotelbot serve``) to show what the executable adds. Besides
the wall-clock time it reports the CPU time (user + system) that the launcher
and the server used until that answer, which depends far less on what else the
machine is running.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
EXECUTABLE = ROOT / "dist" / "hotelbot"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU time of ``pid`` and its direct children (Linux /proc)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids.extend(int(child) for child in (task / "children").read_text().split())
    total = 0.0
    for process in pids:
        fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def first_answer(command: list[str], env: dict[str, str], timeout: float = 60.0) -> tuple[float, float]:
    """Start ``command``; return (wall seconds, CPU seconds) until /healthz responds."""
    port = free_port()
    env = {**env, "HOTELBOT_HOST": "127.0.0.1", "HOTELBOT_PORT": str(port)}
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - started < timeout:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
                return time.monotonic() - started, cpu_seconds(process.pid)
            except httpx.HTTPError:
                time.sleep(0.01)
        raise TimeoutError(f"{command[0]} did not respond within {timeout} s")
    finally:
        process.terminate()
        process.wait()


def describe(name: str, samples: list[tuple[float, float]]) -> str:
    wall = [sample[0] for sample in samples]
    cpu = [sample[1] for sample in samples]
    return (f"{name}: wall median {statistics.median(wall):.2f} s (min {min(wall):.2f}, max {max(wall):.2f}); "
            f"CPU median {statistics.median(cpu):.2f} s (min {min(cpu):.2f})")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    if not EXECUTABLE.is_file():
        raise SystemExit(f"{EXECUTABLE} is missing: run `make dist` first")

    samples: dict[str, list[tuple[float, float]]] = {"dist/hotelbot": [], "source tree": []}
    with tempfile.TemporaryDirectory(prefix="hotelbot-start-") as scratch:
        for run in range(runs):
            folder = Path(scratch) / str(run)
            env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(folder), "HOTELBOT_DATA_DIR": str(folder / "data"),
                   "HOTELBOT_LOG_LEVEL": "WARNING"}
            folder.mkdir()
            subprocess.run([str(EXECUTABLE), "init"], env=env, capture_output=True, check=True)
            samples["dist/hotelbot"].append(first_answer([str(EXECUTABLE), "serve"], env))
            samples["source tree"].append(first_answer([sys.executable, "-m", "hotelbot", "serve"],
                                                       {**env, "PATH": os.environ["PATH"]}))

    print(f"dist/hotelbot: {EXECUTABLE.stat().st_size / 2**20:.1f} MiB")
    for name, measured in samples.items():
        print(describe(name, measured))
    print(f"load average after the runs: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
