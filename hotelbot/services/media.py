"""Downloading guests' media from the Graph API into the media store.

The message row exists first with mediaStatus PENDING. The download job requests
a temporary URL from the Graph API (never a URL from the webhook body),
streams the file with the tenant's token into the tenant's folder, bounded by
WhatsApp's limit for the type and checked against Meta's sha256, then sets
mediaStatus READY and mediaUrl, emits ``message:updated`` and releases the
message's forward to N8N.

A failed attempt raises JobFailed and the queue retries it with backoff.
After the last attempt, or at once for a failure that cannot heal (a file
over its limit, a media id Meta no longer knows), mediaStatus becomes FAILED,
``message:updated`` is emitted and the forward is released without a file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from typing import Any

import httpx

from hotelbot.clock import from_iso, now
from hotelbot.domain import media as rules
from hotelbot.errors import Conflict, NotFound
from hotelbot.jobs.queue import JobFailed
from hotelbot.media_store import FileTooLarge, MediaStore
from hotelbot.realtime.sockets import tenant_room
from hotelbot.serialize import message_json
from hotelbot.storage import inbox as inbox_store
from hotelbot.storage import media as media_store
from hotelbot.storage import messages as message_store
from hotelbot.storage.tenants import Tenant
from hotelbot.whatsapp.graph import GraphError, GraphUnavailable, MediaInfo

logger = logging.getLogger(__name__)

# Meta keeps a guest's media for 7 days after the message.
MEDIA_KEPT_BY_META = dt.timedelta(days=7)
# New temporary URLs fetched in one attempt when Meta responds 404 to an expired one.
URL_REFRESHES = 2
DOWNLOAD_CHUNK = 256 * 1024
DOWNLOAD_PRIORITY = 10


class MediaRejected(Exception):
    """A download that cannot succeed on a retry; ``reason`` is a stable code kept in the message's metadata."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(detail)


class UrlExpired(Exception):
    """The temporary URL responded 404 because it expired, so a new one is needed."""


def media_path(tenant_id: str, file_id: str) -> str:
    return f"/api/media/{tenant_id}/{file_id}"


def _size_limit(message: dict) -> int:
    return rules.SIZE_LIMITS.get(message["type"], rules.LARGEST_LIMIT)


async def download_media(runtime: Any, payload: dict[str, Any]) -> None:
    """Download a message's media and release its forward; raise JobFailed so the queue retries.

    A message that is gone, has no media id or is no longer PENDING (already
    downloaded, failed or retried elsewhere) only has its forward released.
    """
    tenant_id, message_id = payload["tenantId"], payload["messageId"]
    tenant = await runtime.tenants.get(tenant_id)
    async with runtime.db.read() as connection:
        message = await message_store.select_message(connection, tenant_id, message_id)
    if tenant is None or message is None or message["media_status"] != "PENDING" or not message["media_id"]:
        await release_forward(runtime, tenant_id, message_id)
        return

    logger.info("Media download started: tenant %s message %s media id %s", tenant_id, message_id, message["media_id"])
    try:
        stored = await _fetch(runtime, tenant, message)
    except MediaRejected as rejected:
        logger.error("Media of message %s (tenant %s) cannot be downloaded: %s", message_id, tenant_id, rejected)
        await _mark_failed(runtime, tenant_id, message_id, rejected.reason)
        await release_forward(runtime, tenant_id, message_id)
        return

    await _mark_ready(runtime, tenant, message, stored)
    await release_forward(runtime, tenant_id, message_id)


async def _fetch(runtime: Any, tenant: Tenant, message: dict) -> dict[str, Any]:
    """Fetch a temporary URL and download it, fetching a new URL when Meta responds 404."""
    for refresh in range(URL_REFRESHES + 1):
        info = await _media_info(runtime, tenant, message)
        try:
            return await _download(runtime, tenant, message, info)
        except UrlExpired:
            logger.info(
                "Temporary media URL expired for message %s (tenant %s); fetching a new one (%d/%d)",
                message["id"], tenant.id, refresh + 1, URL_REFRESHES,
            )
    raise JobFailed(f"temporary media URL responded 404 {URL_REFRESHES + 1} times")


async def _media_info(runtime: Any, tenant: Tenant, message: dict) -> MediaInfo:
    """Return Meta's temporary URL and facts of the message's media id."""
    try:
        info = await runtime.graph.get_media(tenant, message["media_id"])
    except GraphUnavailable as error:
        raise JobFailed(f"Graph API unavailable: {error.title}", retry_after=error.retry_after) from None
    except GraphError as error:
        if error.retryable:
            raise JobFailed(f"Graph API error {error.code}: {error.title}", retry_after=error.retry_after) from None
        raise MediaRejected("UNKNOWN_MEDIA", f"Graph API rejected media id (code {error.code}): {error.title}") from None
    except (KeyError, TypeError, ValueError):
        raise JobFailed("Graph API media response without a URL") from None

    limit = _size_limit(message)
    if info.file_size is not None and info.file_size > limit:
        raise MediaRejected("TOO_LARGE", f"Meta reports {info.file_size} bytes, over the {limit}-byte limit of {message['type']}")
    return info


async def _download(runtime: Any, tenant: Tenant, message: dict, info: MediaInfo) -> dict[str, Any]:
    """Stream the file within its time limit; return the facts of the stored file."""
    settings = runtime.settings
    limit = _size_limit(message)
    seconds = rules.download_time_limit(info.file_size, limit, settings.media_timeout, settings.media_min_rate)
    try:
        async with asyncio.timeout(seconds):
            return await _stream(runtime, tenant, message, info, limit)
    except TimeoutError:
        raise JobFailed(f"download timed out after {seconds:.0f} s") from None
    except httpx.HTTPError as error:
        raise JobFailed(f"download failed: {type(error).__name__}") from None


async def _stream(runtime: Any, tenant: Tenant, message: dict, info: MediaInfo, limit: int) -> dict[str, Any]:
    metadata = json.loads(message["metadata"] or "{}")
    store = MediaStore(runtime.data_dir.media)
    async with runtime.graph.stream(tenant, info.url, runtime.settings.media_read_timeout) as response:
        if response.status_code == 404:
            raise UrlExpired()
        if response.status_code >= 400:
            raise JobFailed(f"temporary media URL responded HTTP {response.status_code}")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise MediaRejected("TOO_LARGE", f"Content-Length {declared} over the {limit}-byte limit of {message['type']}")

        async with store.incoming(tenant.id, limit) as incoming:
            try:
                async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK):
                    await incoming.write(chunk)
            except FileTooLarge:
                raise MediaRejected("TOO_LARGE", f"download passed the {limit}-byte limit of {message['type']}") from None

            expected = info.sha256 or metadata.get("sha256")
            if expected and not rules.sha256_matches(incoming.digest.digest(), expected):
                raise JobFailed("sha256 of the downloaded file differs from Meta's")
            if not expected:
                logger.warning("Meta gave no sha256 for message %s (tenant %s); file kept unchecked", message["id"], tenant.id)

            content_type = rules.normalize_content_type(
                info.mime_type or metadata.get("mime_type") or response.headers.get("Content-Type")
            )
            file_id = await incoming.keep(rules.extension_for(content_type))
            return {
                "id": file_id,
                "content_type": content_type,
                "size": incoming.size,
                "sha256": incoming.digest.hexdigest(),
                "file_name": metadata.get("filename"),
            }


async def _mark_ready(runtime: Any, tenant: Tenant, message: dict, stored: dict[str, Any]) -> None:
    """Record the stored file and set the message READY; a message no longer PENDING drops the file."""
    url = media_path(tenant.id, stored["id"])
    async with runtime.db.write() as connection:
        current = await message_store.select_message(connection, tenant.id, message["id"])
        ready = current is not None and current["media_status"] == "PENDING"
        if ready:
            file_name = rules.display_name(stored["file_name"], "") or None
            await media_store.insert_media_file(
                connection, tenant.id,
                {**stored, "message_id": message["id"], "kind": message["type"], "file_name": file_name},
            )
            metadata = {key: value for key, value in json.loads(current["metadata"] or "{}").items() if key != "mediaError"}
            await message_store.update_message(
                connection, tenant.id, message["id"], media_status="READY", media_url=url, metadata=metadata
            )
    if not ready:
        MediaStore(runtime.data_dir.media).remove(tenant.id, stored["id"])
        logger.info("Downloaded media of message %s dropped: the message is no longer PENDING", message["id"])
        return

    logger.info(
        "Media of message %s stored as %s (tenant %s, %s, %d bytes)",
        message["id"], stored["id"], tenant.id, stored["content_type"], stored["size"],
    )
    await announce_message(runtime, tenant.id, message["id"])


async def _mark_failed(runtime: Any, tenant_id: str, message_id: str, reason: str) -> None:
    """Set a PENDING message's mediaStatus FAILED with ``reason`` in its metadata and emit ``message:updated``."""
    async with runtime.db.write() as connection:
        message = await message_store.select_message(connection, tenant_id, message_id)
        if message is None or message["media_status"] != "PENDING":
            return
        metadata = {**json.loads(message["metadata"] or "{}"), "mediaError": reason}
        await message_store.update_message(connection, tenant_id, message_id, media_status="FAILED", metadata=metadata)
    await announce_message(runtime, tenant_id, message_id)


async def announce_message(runtime: Any, tenant_id: str, message_id: str) -> None:
    """Emit ``message:updated`` with the message's current JSON to the tenant room."""
    async with runtime.db.read() as connection:
        message = await message_store.select_message(connection, tenant_id, message_id)
    if message is not None:
        payload = {"message": message_json(message, runtime.media_links.sign)}
        await runtime.realtime.emit("message:updated", payload, [tenant_room(tenant_id)])


async def download_exhausted(runtime: Any, payload: dict[str, Any], error: str, attempts: int) -> None:
    """After the last attempt: mediaStatus FAILED, a dead letter, and the forward released."""
    tenant_id, message_id = payload["tenantId"], payload["messageId"]
    async with runtime.db.write() as connection:
        await inbox_store.insert_dead_letter(
            connection, kind="media_download", tenant_id=tenant_id, reference_id=message_id,
            payload=payload, error=error, attempts=attempts,
        )
    await _mark_failed(runtime, tenant_id, message_id, "DOWNLOAD_FAILED")
    await release_forward(runtime, tenant_id, message_id)


async def retry_download(runtime: Any, tenant_id: str, message_id: str) -> dict[str, Any]:
    """Queue the download of a FAILED or DELETED guest's file again; return the message JSON.

    Raises NotFound for an unknown message or another tenant's, and Conflict
    for a message without guest media, older than the 7 days Meta keeps
    media, or whose file is already downloaded or being downloaded.
    """
    async with runtime.db.write() as connection:
        message = await message_store.select_message(connection, tenant_id, message_id)
        if message is None:
            raise NotFound("Message not found.")
        if message["direction"] != "INBOUND" or not message["media_id"]:
            raise Conflict("This message has no file from the guest to download.")
        if now() - from_iso(message["created_at"]) > MEDIA_KEPT_BY_META:
            raise Conflict("WhatsApp keeps a guest's files for 7 days; this file can no longer be downloaded.")
        if message["media_status"] not in ("FAILED", "DELETED"):
            raise Conflict("This file is already downloaded or being downloaded.")

        metadata = {key: value for key, value in json.loads(message["metadata"] or "{}").items() if key != "mediaError"}
        await message_store.update_message(connection, tenant_id, message_id, media_status="PENDING", metadata=metadata)

    await runtime.jobs.enqueue_async(
        "media_download", {"tenantId": tenant_id, "messageId": message_id}, priority=DOWNLOAD_PRIORITY
    )
    logger.info("Media download of message %s queued again by an attendant (tenant %s)", message_id, tenant_id)
    await announce_message(runtime, tenant_id, message_id)
    async with runtime.db.read() as connection:
        return message_json(await message_store.select_message(connection, tenant_id, message_id), runtime.media_links.sign)


async def release_forward(runtime: Any, tenant_id: str, message_id: str) -> None:
    """Queue the N8N forward of a media message once its download has finished or failed."""
    async with runtime.db.write() as connection:
        message = await message_store.select_message(connection, tenant_id, message_id)
        if message is None or message["forward_state"] != "WAITING_MEDIA":
            return
        await message_store.update_message(connection, tenant_id, message_id, forward_state="PENDING")
    await runtime.jobs.enqueue_async("forward", {"tenantId": tenant_id, "messageId": message_id})


def job_time_limit(settings: Any) -> float:
    """Return the time limit of one download attempt: the largest file at the slowest rate tolerated.

    Each download also enforces its own limit sized to the file (see
    ``download_time_limit``), so a sticker still fails fast. This outer limit
    only catches a job that hangs outside the transfer.
    """
    largest = rules.download_time_limit(None, rules.LARGEST_LIMIT, settings.media_timeout, settings.media_min_rate)
    return largest + (URL_REFRESHES + 1) * settings.graph_timeout * 2
