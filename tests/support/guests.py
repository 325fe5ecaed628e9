"""A guest with a text, a photo, a document and an attendant's reply, for the LGPD export and erasure tests."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

from tests.support.attendants import Api, guest_writes, phone
from tests.support.db import eventually, rows
from tests.support.media import jpeg, media_webhook, pdf
from tests.support.webhooks import new_wamid

# The media fixtures come from this number, the first test phone.
GUEST_PHONE = phone(1)
DISTINCTIVE_TEXT = "Quarto 304 com vazamento zyxwv"


@dataclasses.dataclass
class Guest:
    conversation_id: str
    photo: bytes
    document: bytes
    reply_id: str


async def guest_with_media(api: Api, graph, photo_media_id: str = "7001", document_media_id: str = "7002") -> Guest:
    """Return a guest who wrote a distinctive text, sent a photo and a PDF, and got a reply."""
    conversation_id = await guest_writes(api, DISTINCTIVE_TEXT, wa_id=GUEST_PHONE)
    photo, document = jpeg(), pdf()
    graph.add_media(photo_media_id, photo, "image/jpeg")
    graph.add_media(document_media_id, document, "application/pdf")
    for fixture, media_id, content in (
        ("inbound-image.json", photo_media_id, photo), ("inbound-document.json", document_media_id, document),
    ):
        response = await api.server.post_webhook(api.http, media_webhook(fixture, media_id, content, new_wamid()), api.tenant)
        assert response.status_code == 200
    await eventually(lambda: len(rows(
        api.server, "SELECT id FROM media_files WHERE tenant_id = ? AND message_id IS NOT NULL", (api.tenant.id,)
    )) == 2)

    reply = await api.call("POST", "/messages/send-text", "attendant", json={"conversationId": conversation_id, "content": "Já vamos ver."})
    assert reply.status_code == 201, reply.text
    return Guest(conversation_id, photo, document, reply.json()["message"]["id"])


def run_cli(server, *args: str) -> subprocess.CompletedProcess:
    """Run ``hotelbot guest ...`` against the server's data directory, in English and without INFO log lines."""
    env = {key: value for key, value in server.env.items() if key != "HOTELBOT_LOG_LEVEL"}
    env["HOTELBOT_LANGUAGE"] = "en"
    return subprocess.run(
        [sys.executable, "-m", "hotelbot", "guest", *args, "--data-dir", str(server.data_dir)],
        env=env, capture_output=True, text=True, timeout=60,
    )
