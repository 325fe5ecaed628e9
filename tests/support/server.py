"""Starting the real ``hotelbot serve`` on 127.0.0.1 with a temporary data directory."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from hotelbot.cli.common import open_box, open_database
from hotelbot.services import provisioning
from hotelbot.settings import load_settings
from hotelbot.whatsapp.signature import sign
from tests.support.fakes import FakeGraph, FakeN8N

PASSWORD = "senha-segura-123"
PHONE_NUMBER_IDS = ("106500000000001", "106500000000002")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclasses.dataclass
class TenantInfo:
    id: str
    api_key: str
    forward_secret: str
    app_secret: str
    verify_token: str
    phone_number_id: str
    users: dict[str, str]  # label -> email


@dataclasses.dataclass
class ServerProcess:
    base_url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen | None
    log_path: Path
    tenants: list[TenantInfo]
    # Extra keyword arguments of subprocess.Popen (user, group, preexec_fn) for fault tests.
    popen_options: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def tenant(self) -> TenantInfo:
        return self.tenants[0]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def start(self, timeout: float = 20.0, ready_statuses: tuple[int, ...] = (200,)) -> None:
        """Start the server and wait until /healthz responds with one of ``ready_statuses``."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hotelbot", "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                **self.popen_options,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1.0).status_code in ready_statuses:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start in {timeout} s:\n{self.log()}")

    def stop(self, timeout: float = 20.0) -> int:
        """Send SIGTERM and wait; return the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    # -- requests ----------------------------------------------------------

    def sign(self, body: bytes, tenant: TenantInfo | None = None) -> str:
        return sign(body, (tenant or self.tenant).app_secret)

    async def post_webhook(self, client: httpx.AsyncClient, payload: Any, tenant: TenantInfo | None = None, raw: bytes | None = None) -> httpx.Response:
        body = raw if raw is not None else json.dumps(payload, ensure_ascii=True).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": self.sign(body, tenant)}
        return await client.post(self.base_url + "/webhooks/whatsapp", content=body, headers=headers)

    async def login(self, client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict:
        response = await client.post(self.base_url + "/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response.json()

    async def token(self, client: httpx.AsyncClient, label: str = "admin", tenant: TenantInfo | None = None) -> str:
        return (await self.login(client, (tenant or self.tenant).users[label]))["accessToken"]


async def _provision(data_dir: Path, n8n_url: str, tenant_count: int) -> list[TenantInfo]:
    settings = load_settings({"data_dir": str(data_dir), "bcrypt_rounds": 4}, environ={})
    tenants = []
    async with open_database(settings) as (db, folder):
        box = open_box(folder)
        for index in range(tenant_count):
            app_secret = f"app-secret-{index}"
            verify_token = f"verify-token-{index}"
            created = await provisioning.create_tenant(
                db, box, name=f"Hotel {index}", phone_number_id=PHONE_NUMBER_IDS[index],
                access_token=f"access-token-{index}", app_secret=app_secret, verify_token=verify_token,
                n8n_url=n8n_url, waba_id=f"10990000000000{index}", hotel_units=["Campos do Jordão", "Ubatuba"],
            )
            users = {}
            for label, role, unit in (
                ("admin", "ADMIN", None),
                ("supervisor", "SUPERVISOR", None),
                ("attendant", "ATTENDANT", None),
                ("attendant_campos", "ATTENDANT", "Campos do Jordão"),
                ("attendant_ubatuba", "ATTENDANT", "Ubatuba"),
            ):
                email = f"{label}.{index}@hotel.example"
                await provisioning.create_user(
                    db, created["tenantId"], email=email, name=label.replace("_", " ").title(),
                    role=role, password=PASSWORD, hotel_unit=unit, rounds=4,
                )
                users[label] = email
            tenants.append(TenantInfo(
                created["tenantId"], created["apiKey"], created["forwardSecret"], app_secret, verify_token,
                PHONE_NUMBER_IDS[index], users,
            ))
    return tenants


def launch(data_dir: Path, graph_url: str, n8n_url: str, tenant_count: int = 2, start: bool = True, **settings: Any) -> ServerProcess:
    """Provision tenants and users in ``data_dir``, then start ``hotelbot serve`` on a free port."""
    tenants = asyncio.run(_provision(data_dir, n8n_url, tenant_count)) if tenant_count else []
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOTELBOT_")}
    env.update({
        "HOTELBOT_DATA_DIR": str(data_dir),
        "HOTELBOT_HOST": "127.0.0.1",
        "HOTELBOT_PORT": str(port),
        "HOTELBOT_GRAPH_API_BASE": graph_url,
        "HOTELBOT_GRAPH_API_VERSION": "v21.0",
        "HOTELBOT_BCRYPT_ROUNDS": "4",
        "HOTELBOT_RETRY_DELAY": "0.2",
        "HOTELBOT_FORWARD_TIMEOUT": "2",
        "HOTELBOT_GRAPH_TIMEOUT": "3",
        "HOTELBOT_SHUTDOWN_TIMEOUT": "5",
        "HOTELBOT_LOGIN_RATE_LIMIT": "1000",
        "HOTELBOT_LOG_LEVEL": "INFO",
    })
    env.update({f"HOTELBOT_{name.upper()}": str(value) for name, value in settings.items()})
    server = ServerProcess(f"http://127.0.0.1:{port}", data_dir, env, None, data_dir / "server.log", tenants)
    if start:
        server.start()
    return server


@contextlib.contextmanager
def running_server(data_dir: Path, **launch_options: Any) -> Iterator[tuple[ServerProcess, FakeGraph, FakeN8N]]:
    """Start a fake Graph API, a fake N8N and a provisioned server; stop all three on exit."""
    graph, n8n = FakeGraph().start(), FakeN8N().start()
    try:
        server = launch(data_dir, graph.url, n8n.url, **launch_options)
        try:
            yield server, graph, n8n
        finally:
            server.stop()
    finally:
        graph.stop()
        n8n.stop()
