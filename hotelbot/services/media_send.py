"""Attendants sending a photo, audio, video or document to a guest.

The file is kept in the media store, uploaded to the Graph API, and sent
through :func:`hotelbot.services.outbound.send` with the same take-over by
reply as a text (IN_PROGRESS, assigned to the sender if it was unassigned,
the AI locked) and the same 24-hour window check. The stored message's mediaUrl
points at the kept file, so attendants see what was sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any, BinaryIO

from hotelbot.domain import media as rules
from hotelbot.errors import NotFound, PayloadTooLarge, ServiceUnavailable, ValidationFailed, WhatsAppRejected, WindowClosed
from hotelbot.media_store import FileTooLarge, MediaStore
from hotelbot.serialize import reply_window
from hotelbot.services import conversations as conversation_service
from hotelbot.services.media import media_path
from hotelbot.services.outbound import OutboundRequest, SendResult
from hotelbot.services.replies import attendant_sender, send_as_attendant
from hotelbot.storage import conversations as conversation_store
from hotelbot.storage import media as media_store
from hotelbot.storage.tenants import Tenant
from hotelbot.whatsapp.errors import MESSAGES
from hotelbot.whatsapp.graph import GraphError, GraphUnavailable

logger = logging.getLogger(__name__)

CAPTION_MAX_LENGTH = 1024
# Message types whose Graph API object takes no caption.
WITHOUT_CAPTION = frozenset({"AUDIO"})


@dataclasses.dataclass
class Upload:
    """A file an attendant sends, as read from the multipart request."""

    conversation_id: str
    caption: str | None
    client_message_id: str | None
    file_name: str
    content_type: str
    stream: BinaryIO

    @property
    def message_type(self) -> str:
        return rules.SENDABLE_TYPES[rules.essence(self.content_type)]


def validate_upload(upload: Upload) -> None:
    """Raise ValidationFailed naming each field of the upload that WhatsApp would reject."""
    details = []
    if rules.essence(upload.content_type) not in rules.SENDABLE_TYPES:
        details.append({
            "field": "file", "message": "Unsupported file type {type}. Allowed: {allowed}.",
            "params": {"type": rules.essence(upload.content_type), "allowed": ", ".join(sorted(rules.SENDABLE_TYPES))},
        })
    elif upload.caption and upload.message_type in WITHOUT_CAPTION:
        details.append({"field": "caption", "message": "Audio messages cannot have a caption.", "params": {}})
    if upload.caption and len(upload.caption) > CAPTION_MAX_LENGTH:
        details.append({
            "field": "caption", "message": "Must have at most {max_length} character(s).",
            "params": {"max_length": CAPTION_MAX_LENGTH}, "limit": CAPTION_MAX_LENGTH,
        })
    if details:
        raise ValidationFailed(details=details)


async def send_media(runtime: Any, principal: dict[str, Any], upload: Upload) -> SendResult:
    """Keep, upload and send an attendant's file; return the send's result.

    Raises ValidationFailed (type, caption, empty file), PayloadTooLarge (over
    WhatsApp's limit for the type), NotFound (unknown or another tenant's
    conversation), WindowClosed (outside the 24-hour window, checked before
    anything is uploaded), ServiceUnavailable (Meta unreachable for the
    upload) or WhatsAppRejected. Nothing stays stored unless a message row
    points at the file.
    """
    validate_upload(upload)
    tenant = await conversation_service.tenant_of(runtime, principal)
    await _check_conversation(runtime, tenant, upload.conversation_id)

    store = MediaStore(runtime.data_dir.media)
    file_id, size, sha256 = await _keep(store, tenant, upload)
    try:
        result = await _upload_and_send(runtime, principal, tenant, upload, file_id, size, sha256)
    except WhatsAppRejected as rejected:
        # Meta refused the upload (no message row) or the send (a FAILED row that shows the file).
        if rejected.extra.get("message") is None:
            await _forget(runtime, store, tenant, file_id)
        else:
            await _link(runtime, tenant, file_id, rejected.extra["message"])
        raise
    except BaseException:
        await _forget(runtime, store, tenant, file_id)
        raise

    if result.status_code == 200:
        # A repeated clientMessageId returns the first message with its own file.
        # NOTE: the repeat is detected inside send(), after this copy was uploaded to Meta.
        await _forget(runtime, store, tenant, file_id)
    else:
        await _link(runtime, tenant, file_id, result.message)
    return result


async def _check_conversation(runtime: Any, tenant: Tenant, conversation_id: str) -> None:
    """Raise NotFound or WindowClosed before the file is uploaded; the send checks again in its transaction."""
    async with runtime.db.read() as connection:
        conversation = await conversation_store.select_conversation(connection, tenant.id, conversation_id)
    if conversation is None:
        raise NotFound("Conversation not found.")
    can_reply, _ = reply_window(conversation["last_inbound_at"])
    if not can_reply:
        raise WindowClosed()


async def _keep(store: MediaStore, tenant: Tenant, upload: Upload) -> tuple[str, int, str]:
    """Copy the upload into the tenant's folder; return (file id, size, hex sha256)."""
    limit = rules.SIZE_LIMITS[upload.message_type]
    async with store.incoming(tenant.id, limit) as incoming:
        try:
            await incoming.copy_from(upload.stream)
        except FileTooLarge:
            raise PayloadTooLarge(
                "The file is larger than WhatsApp allows for this type (limit {limit} bytes).", params={"limit": limit}
            ) from None
        if incoming.size == 0:
            raise ValidationFailed(details=[{"field": "file", "message": "The file is empty.", "params": {}}])
        file_id = await incoming.keep(rules.extension_for(upload.content_type))
        return file_id, incoming.size, incoming.digest.hexdigest()


async def _upload_and_send(
    runtime: Any, principal: dict[str, Any], tenant: Tenant, upload: Upload, file_id: str, size: int, sha256: str
) -> SendResult:
    message_type = upload.message_type
    file_name = rules.display_name(upload.file_name, "file" + rules.extension_for(upload.content_type))
    async with runtime.db.write() as connection:
        await media_store.insert_media_file(connection, tenant.id, {
            "id": file_id, "kind": message_type, "content_type": upload.content_type,
            "file_name": file_name, "size": size, "sha256": sha256,
        })

    media_id = await _upload(runtime, tenant, file_id, file_name, upload.content_type)
    media_object: dict[str, Any] = {"id": media_id}
    if upload.caption:
        media_object["caption"] = upload.caption
    if message_type == "DOCUMENT":
        media_object["filename"] = file_name
    graph_type = message_type.lower()

    request = OutboundRequest(
        type=message_type,
        content=upload.caption,
        graph_body={"type": graph_type, graph_type: media_object},
        sender=await attendant_sender(runtime, principal),
        metadata={"mime_type": upload.content_type, "filename": file_name, "size": size, "mediaId": media_id},
        client_message_id=upload.client_message_id,
        created_by=principal["id"],
        media_url=media_path(tenant.id, file_id),
        media_status="READY",
    )
    return await send_as_attendant(runtime, principal, upload.conversation_id, request, window_required=True)


async def _upload(runtime: Any, tenant: Tenant, file_id: str, file_name: str, content_type: str) -> str:
    """Upload a stored file to the Graph API; return Meta's media id."""
    path = MediaStore(runtime.data_dir.media).path(tenant.id, file_id)
    assert path is not None
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        # NOTE: httpx reads the open file in chunks on the event loop while it uploads.
        media_id = await runtime.graph.upload_media(tenant, file_name, handle, rules.essence(content_type))
    except GraphUnavailable as error:
        logger.warning("Media upload for tenant %s failed: Graph API unavailable (%s)", tenant.id, error.title)
        raise ServiceUnavailable("WhatsApp could not be reached, so the file was not sent. Try again in a moment.") from None
    except GraphError as error:
        logger.warning("Media upload for tenant %s rejected by WhatsApp: code %s", tenant.id, error.code)
        rejected = WhatsAppRejected(MESSAGES.get(error.code, WhatsAppRejected.message), extra={"whatsappCode": error.code})
        rejected.status = 502 if error.code in (190, 10, 200) else 422
        raise rejected from None
    finally:
        handle.close()
    logger.info("File %s uploaded to WhatsApp as media %s (tenant %s)", file_id, media_id, tenant.id)
    return media_id


async def _link(runtime: Any, tenant: Tenant, file_id: str, message: dict[str, Any]) -> None:
    async with runtime.db.write() as connection:
        await media_store.link_media_file(connection, tenant.id, file_id, message["id"])


async def _forget(runtime: Any, store: MediaStore, tenant: Tenant, file_id: str) -> None:
    """Remove a kept file and its row when no message points at it."""
    async with runtime.db.write() as connection:
        await media_store.delete_media_file_row(connection, tenant.id, file_id)
    store.remove(tenant.id, file_id)
