"""Attendants' side of the tests: logged-in API calls and guests whose conversations they work on."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import httpx

from tests.support.db import eventually, rows
from tests.support.server import ServerProcess, TenantInfo
from tests.support.sockets import EventClient
from tests.support.webhooks import new_wamid, text_message


@dataclasses.dataclass
class Api:
    """Calls the server's HTTP API as the users of one tenant, logging each in once."""

    server: ServerProcess
    http: httpx.AsyncClient
    tenant: TenantInfo
    _tokens: dict[str, str] = dataclasses.field(default_factory=dict)

    async def token(self, label: str) -> str:
        if label not in self._tokens:
            self._tokens[label] = await self.server.token(self.http, label, self.tenant)
        return self._tokens[label]

    async def user_id(self, label: str) -> str:
        response = await self.call("GET", "/auth/me", label)
        return response.json()["user"]["id"]

    async def call(self, method: str, path: str, label: str | None = "admin", **kwargs: Any) -> httpx.Response:
        """Send a request as the user ``label`` (None: without a token)."""
        headers = dict(kwargs.pop("headers", {}))
        if label is not None:
            headers["Authorization"] = f"Bearer {await self.token(label)}"
        return await self.http.request(method, self.server.base_url + path, headers=headers, **kwargs)

    async def socket(self, label: str, sockets: list[EventClient]) -> EventClient:
        client = EventClient()
        sockets.append(client)
        await client.connect(self.server.base_url, await self.token(label))
        return client


def phone(number: int) -> str:
    """Return a distinct Brazilian guest number (13 digits, with the ninth digit)."""
    return f"55119{number:08d}"


async def guest_writes(
    api: Api, body: str = "Bom dia", *, wa_id: str | None = None, name: str = "Ana Conceição", at: float | None = None
) -> str:
    """Post a guest's text through the signed webhook; return the conversation id once it is stored.

    ``at`` is Meta's timestamp (Unix seconds); by default now, so the 24-hour window is open.
    """
    wa_id = wa_id or phone(1)
    wamid = new_wamid()
    payload = text_message(
        body, wa_id=wa_id, name=name, wamid=wamid,
        phone_number_id=api.tenant.phone_number_id, timestamp=str(int(at if at is not None else time.time())),
    )
    response = await api.server.post_webhook(api.http, payload, api.tenant)
    assert response.status_code == 200, response.text
    found = await eventually(
        lambda: rows(api.server, "SELECT conversation_id FROM messages WHERE whatsapp_msg_id = ?", (wamid,))
    )
    return found[0]["conversation_id"]


def conversation_row(server: ServerProcess, conversation_id: str) -> dict:
    return rows(server, "SELECT * FROM conversations WHERE id = ?", (conversation_id,))[0]


def escalations_of(server: ServerProcess, conversation_id: str) -> list[dict]:
    return rows(server, "SELECT * FROM escalations WHERE conversation_id = ? ORDER BY created_at", (conversation_id,))
