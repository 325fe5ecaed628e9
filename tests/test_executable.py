"""The one-file executable dist/hotelbot, run the way hotel IT staff run it.

Every step goes through the executable, never through the source tree: init,
tenant and user creation, serve, a signed webhook, ``message:new`` on a
Socket.IO client, the forward reaching a fake N8N and a clean SIGTERM stop.
``make dist`` builds the executable; ``HOTELBOT_EXECUTABLE`` points the tests
at another build.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from hotelbot import __version__
from hotelbot.forwarding import sign_body
from hotelbot.storage.migrations import MIGRATIONS_DIR
from hotelbot.whatsapp.signature import sign
from tests.support.db import eventually
from tests.support.fakes import FakeGraph, FakeN8N, load_fixture
from tests.support.server import free_port
from tests.support.sockets import EventClient

ROOT = Path(__file__).resolve().parents[1]
EXECUTABLE = Path(os.environ.get("HOTELBOT_EXECUTABLE") or ROOT / "dist" / "hotelbot")
SIZE_TARGET_MIB = 60
PASSWORD = "senha-segura-123"
APP_SECRET = "executable-app-secret"

pytestmark = pytest.mark.skipif(
    not EXECUTABLE.is_file(), reason=f"{EXECUTABLE} is missing: run `make dist` first"
)


@dataclasses.dataclass
class Installation:
    """A data directory, an unpack directory (TMPDIR) and the environment the executable runs with."""

    root: Path
    data_dir: Path
    unpack_dir: Path
    env: dict[str, str]

    def run(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run one CLI command to completion; return its output."""
        return subprocess.run(
            [str(EXECUTABLE), *args], env={**self.env, **(extra_env or {})}, cwd=self.root,
            capture_output=True, text=True, timeout=60,
        )

    def unpacked(self) -> list[str]:
        return sorted(path.name for path in self.unpack_dir.iterdir())


@dataclasses.dataclass
class Provisioned:
    tenant_id: str
    api_key: str
    forward_secret: str
    email: str


@dataclasses.dataclass
class RunningServer:
    process: subprocess.Popen
    base_url: str
    log_path: Path
    start_seconds: float

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def installation(tmp_path: Path, graph: FakeGraph) -> Installation:
    unpack_dir = tmp_path / "unpack"
    unpack_dir.mkdir()
    # No virtual environment and no Python on PATH: the executable brings its own.
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "TMPDIR": str(unpack_dir),
        "HOTELBOT_DATA_DIR": str(tmp_path / "data"),
        "HOTELBOT_GRAPH_API_BASE": graph.url,
        "HOTELBOT_BCRYPT_ROUNDS": "4",
        "HOTELBOT_RETRY_DELAY": "0.2",
        "HOTELBOT_FORWARD_TIMEOUT": "2",
        "HOTELBOT_SHUTDOWN_TIMEOUT": "5",
    }
    return Installation(tmp_path, tmp_path / "data", unpack_dir, env)


def provision(installation: Installation, n8n_url: str) -> Provisioned:
    """Create a tenant and an admin with the executable's CLI, secrets passed by environment variable."""
    secrets = {"META_ACCESS_TOKEN": "executable-access-token", "META_APP_SECRET": APP_SECRET,
               "META_VERIFY_TOKEN": "executable-verify-token", "ADMIN_PASSWORD": PASSWORD}
    # An empty PYTHONTZPATH hides /usr/share/zoneinfo, so the time zone must come from the bundled tzdata.
    created = installation.run(
        "tenant", "create", "--name", "Hotel Serra", "--phone-number-id", "106500000000001",
        "--access-token-env", "META_ACCESS_TOKEN", "--app-secret-env", "META_APP_SECRET",
        "--verify-token-env", "META_VERIFY_TOKEN", "--n8n-url", n8n_url,
        "--hotel-unit", "Campos do Jordão", "--time-zone", "America/Sao_Paulo", "--json",
        extra_env={**secrets, "PYTHONTZPATH": ""},
    )
    assert created.returncode == 0, created.stderr
    tenant = json.loads(created.stdout)

    email = "admin@hotel.example"
    user = installation.run(
        "user", "create", "--tenant", tenant["tenantId"], "--email", email, "--role", "ADMIN",
        "--password-env", "ADMIN_PASSWORD", "--json", extra_env=secrets,
    )
    assert user.returncode == 0, user.stderr
    return Provisioned(tenant["tenantId"], tenant["apiKey"], tenant["forwardSecret"], email)


def serve(installation: Installation, timeout: float = 30.0) -> RunningServer:
    """Start ``hotelbot serve`` and wait for its first answered request; record how long that took."""
    port = free_port()
    log_path = installation.root / "serve.log"
    env = {**installation.env, "HOTELBOT_HOST": "127.0.0.1", "HOTELBOT_PORT": str(port)}
    base_url = f"http://127.0.0.1:{port}"

    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(EXECUTABLE), "serve"], env=env, cwd=installation.root, stdout=log, stderr=subprocess.STDOUT,
        )
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(base_url + "/healthz", timeout=1.0).status_code == 200:
                return RunningServer(process, base_url, log_path, time.monotonic() - started)
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    process.kill()
    process.wait()
    raise AssertionError(f"serve did not answer within {timeout} s:\n{log_path.read_text()}")


def stop(server: RunningServer, signum: int = signal.SIGTERM, timeout: float = 20.0) -> int:
    if server.process.poll() is None:
        server.process.send_signal(signum)
    try:
        return server.process.wait(timeout)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        raise


def child_pids(pid: int) -> list[int]:
    """Return the ids of a process's direct children (Linux /proc)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children.extend(int(value) for value in text)
    return children


def process_alive(pid: int) -> bool:
    """Return False once ``pid`` has exited (a zombie counts as exited)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"


def test_version_printed(installation):
    result = installation.run("--version")

    assert result.returncode == 0
    assert result.stdout == f"hotelbot {__version__}\n"
    assert installation.unpacked() == []


def test_size_under_target(capsys):
    size_mib = EXECUTABLE.stat().st_size / 2**20
    with capsys.disabled():
        print(f"\n{EXECUTABLE.name}: {size_mib:.1f} MiB (target under {SIZE_TARGET_MIB} MiB)")

    assert size_mib < SIZE_TARGET_MIB


@functools.cache
def bundle_contents() -> tuple[set[str], set[str]]:
    """Return the names of the executable's files and of the Python modules in its archive."""
    from PyInstaller.archive.readers import CArchiveReader

    archive = CArchiveReader(str(EXECUTABLE))
    return set(archive.toc), set(archive.open_embedded_archive("PYZ.pyz").toc)


def test_bundle_has_runtime_modules():
    files, modules = bundle_contents()

    # Loaded by name at run time, so found by no import.
    assert "engineio.async_drivers.asgi" in modules
    assert "hypercorn.asyncio" in modules
    assert "huey.storage" in modules
    assert "aiosqlite" in modules
    assert "email_validator" in modules
    assert "pydantic_core" in modules
    assert "tzdata" in modules
    assert "hotelbot.frozen" in modules
    assert "hotelbot/locale/pt_BR/LC_MESSAGES/hotelbot.po" in files
    assert "hotelbot/storage/migrations/0001_initial.sql" in files
    assert sorted(name for name in files if name.startswith("babel/locale-data/")) == [
        "babel/locale-data/en.dat", "babel/locale-data/pt.dat",
        "babel/locale-data/pt_BR.dat", "babel/locale-data/root.dat",
    ]


@pytest.mark.parametrize("package", ["tkinter", "pytest", "_pytest", "hypothesis", "PyInstaller",
                                     "setuptools", "pip", "PIL", "pygments", "rich"])
def test_bundle_leaves_out_unused(package):
    _, modules = bundle_contents()

    assert sorted(name for name in modules if name.split(".")[0] == package) == []


def test_init_uses_bundled_files(installation):
    result = installation.run("init", extra_env={"HOTELBOT_LANGUAGE": "pt-BR"})

    assert result.returncode == 0, result.stderr
    # The pt-BR catalog is read from the bundle.
    assert result.stdout == f"Diretório de dados pronto: {installation.data_dir}\n"
    # So are the migrations: every SQL file of the source tree has been applied.
    connection = sqlite3.connect(installation.data_dir / "hotelbot.db")
    try:
        applied = [row[0] for row in connection.execute("SELECT name FROM migrations ORDER BY name")]
    finally:
        connection.close()
    expected = sorted(path.stem for path in MIGRATIONS_DIR.glob("*.sql"))
    assert applied == expected, f"{EXECUTABLE} is older than the source tree: run `make dist`"
    assert installation.unpacked() == []


async def test_executable_serves_guest_message(installation, n8n: FakeN8N, capsys):
    assert installation.run("init").returncode == 0
    provisioned = provision(installation, n8n.url + "/webhook/hotelbot")
    server = serve(installation)
    with capsys.disabled():
        print(f"\n{EXECUTABLE.name}: first answered request {server.start_seconds:.2f} s after launch (target under 2 s)")

    try:
        async with httpx.AsyncClient(timeout=10.0) as http:
            login = await http.post(server.base_url + "/auth/login", json={"email": provisioned.email, "password": PASSWORD})
            assert login.status_code == 200, login.text
            client = EventClient()
            try:
                await client.connect(server.base_url, login.json()["accessToken"])

                body = json.dumps(load_fixture("inbound-text.json")).encode()
                headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)}
                response = await http.post(server.base_url + "/webhooks/whatsapp", content=body, headers=headers)
                assert response.status_code == 200

                event = await client.next("message:new", timeout=10.0)
            finally:
                await client.close()

        forwarded = (await asyncio.to_thread(n8n.wait_for, 1))[0]
    finally:
        exit_code = stop(server)

    assert event["message"]["type"] == "TEXT"
    assert event["message"]["direction"] == "INBOUND"
    assert event["conversation"]["contact"]["phone"] == "5511900000001"
    assert forwarded.path == "/webhook/hotelbot"
    assert forwarded.json()["tenantId"] == provisioned.tenant_id
    assert forwarded.json()["messageId"] == event["message"]["id"]
    assert forwarded.headers["x-hotelbot-signature"] == sign_body(forwarded.body, provisioned.forward_secret)
    assert exit_code == 0
    assert "Received SIGTERM; stopping" in server.log()
    assert "hotelbot stopped" in server.log()
    assert "Traceback" not in server.log()
    # The launcher deleted what it unpacked.
    assert installation.unpacked() == []


async def test_killed_launcher_stops_server(installation):
    assert installation.run("init").returncode == 0
    server = serve(installation)
    children = child_pids(server.process.pid)
    assert len(children) == 1

    server.process.kill()
    server.process.wait()

    try:
        await eventually(lambda: not process_alive(children[0]), timeout=20.0)
    finally:
        if process_alive(children[0]):
            os.kill(children[0], signal.SIGKILL)
    assert "Received SIGTERM; stopping" in server.log()
    assert "hotelbot stopped" in server.log()
    # Only the launcher deletes the unpacked directory, so a killed launcher leaves it behind.
    assert [name[:4] for name in installation.unpacked()] == ["_MEI"]


def test_bundle_has_forward_client():
    _, modules = bundle_contents()

    assert "aiohttp" in modules
    assert "aiohttp.client" in modules


def test_bundle_has_console():
    files, _ = bundle_contents()
    console_dir = ROOT / "hotelbot" / "console"
    source = {
        "hotelbot/console/" + path.relative_to(console_dir).as_posix()
        for path in console_dir.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }

    assert "hotelbot/console/index.html" in source
    assert "hotelbot/console/vendor/socket.io.esm.min.js" in source
    assert sorted(source - files) == [], f"{EXECUTABLE} is older than the source tree: run `make dist`"


async def test_executable_serves_console(installation):
    assert installation.run("init").returncode == 0
    server = serve(installation)
    try:
        async with httpx.AsyncClient(timeout=10.0) as http:
            page = await http.get(server.base_url + "/app/")
            script = await http.get(server.base_url + "/app/js/main.js")
            client = await http.get(server.base_url + "/app/vendor/socket.io.esm.min.js")
    finally:
        exit_code = stop(server)

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/app/js/main.js"></script>' in page.text
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert 'import * as dashboard from "./views/dashboard.js";' in script.text
    assert client.status_code == 200
    assert client.headers["content-type"] == "text/javascript; charset=utf-8"
    assert client.content == (ROOT / "hotelbot" / "console" / "vendor" / "socket.io.esm.min.js").read_bytes()
    assert exit_code == 0
    assert installation.unpacked() == []
