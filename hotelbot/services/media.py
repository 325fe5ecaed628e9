"""Downloading guests' media from the Graph API into the media store."""

from __future__ import annotations

import logging
from typing import Any

from hotelbot.storage import messages as message_store

logger = logging.getLogger(__name__)


async def download_media(runtime: Any, payload: dict[str, Any]) -> None:
    """Fetch a message's media, then release its forward to N8N."""
    tenant_id, message_id = payload["tenantId"], payload["messageId"]
    # TODO: fetch the temporary URL and the file from the Graph API; until then
    # the message keeps mediaStatus PENDING and is forwarded without a mediaUrl.
    await release_forward(runtime, tenant_id, message_id)


async def release_forward(runtime: Any, tenant_id: str, message_id: str) -> None:
    """Queue the N8N forward of a media message once its download has finished or failed."""
    async with runtime.db.write() as connection:
        message = await message_store.select_message(connection, tenant_id, message_id)
        if message is None or message["forward_state"] != "WAITING_MEDIA":
            return
        await message_store.update_message(connection, tenant_id, message_id, forward_state="PENDING")
    await runtime.jobs.enqueue_async("forward", {"tenantId": tenant_id, "messageId": message_id})
