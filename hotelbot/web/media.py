"""Media routes: serving stored files, retrying a guest's download, attendants sending files.

``GET /api/media/{tenantId}/{fileId}`` accepts the Authorization header of a
user of that tenant, or the short-lived signature that every mediaUrl the API
returns carries (``?expires=&sig=``), so ``<img>``, ``<audio>`` and
``<video>`` tags work. Another tenant's file and an unknown id both return
404. Paths are built only from ids of the stored form, so no request can
leave the tenant's folder.
"""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
from pathlib import Path

from quart import Blueprint, Response, g, jsonify, request
from quart.blueprints import BlueprintSetupState
from quart.wrappers.response import FileBody
from quart_rate_limiter import RateLimit, rate_limit

from hotelbot.domain import media as rules
from hotelbot.errors import AppError, NotFound, Unauthorized, ValidationFailed
from hotelbot.i18n import current_language
from hotelbot.media_store import MediaStore
from hotelbot.services import audit
from hotelbot.services import auth as auth_service
from hotelbot.services import media as media_service
from hotelbot.services import media_send
from hotelbot.services.media_retention import keep_retention
from hotelbot.storage import media as media_store
from hotelbot.web.body_limits import allow_large_body
from hotelbot.web.fields import LINE_BREAKS, forbidden_character
from hotelbot.web.guards import bearer_token, require_user, runtime
from hotelbot.web.requests import client_address

logger = logging.getLogger(__name__)

blueprint = Blueprint("media", __name__)

SEND_MEDIA_PATH = "/messages/send-media"
# Room for the multipart framing and the form fields around the largest file.
MULTIPART_OVERHEAD = 1024 * 1024
READ_BUFFER = 64 * 1024
# The content under a file id never changes; an hour matches the default link lifetime.
CACHE_CONTROL = "private, max-age=3600"
# A stored file is never a page: no scripts, no plugins, even if a browser opens it directly.
CONTENT_SECURITY_POLICY = "default-src 'none'; sandbox"


class RangeNotSatisfiable(AppError):
    status = 416
    code = "RANGE_NOT_SATISFIABLE"
    message = "The requested byte range is not satisfiable for this file."

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__()


@blueprint.record_once
def _declare_upload_limits(state: BlueprintSetupState) -> None:
    settings = state.app.extensions["hotelbot"].settings
    timeout = rules.download_time_limit(None, rules.LARGEST_LIMIT, settings.media_timeout, settings.media_min_rate)
    # NOTE: Quart buffers a body before the route authenticates the caller, so a client
    # without a valid token can still make the server hold up to this many bytes per request.
    allow_large_body(SEND_MEDIA_PATH, rules.LARGEST_LIMIT + MULTIPART_OVERHEAD, int(timeout))


@blueprint.before_app_serving
async def _start_retention() -> None:
    runtime().spawn(keep_retention(runtime()), "media retention")


@blueprint.errorhandler(RangeNotSatisfiable)
async def _range_not_satisfiable(error: RangeNotSatisfiable) -> Response:
    from hotelbot.web.app import error_response

    return error_response(error, {"Content-Range": f"bytes */{error.size}"})


async def _media_rate_key() -> str:
    """Key media requests by the verified user of the token, else by the client's address."""
    token = bearer_token()
    if token is not None:
        try:
            return "media:user:" + runtime().tokens.verify_access(token).user_id
        except AppError:
            pass
    return "media:address:" + client_address()


def _media_limits() -> list[RateLimit]:
    # Read at import time from the environment, like the login limits; the count per minute is a setting.
    from hotelbot.settings import load_settings

    return [RateLimit(load_settings().media_rate_limit, dt.timedelta(minutes=1), _media_rate_key)]


async def _authorize(tenant_id: str, file_id: str) -> None:
    """Accept a user of ``tenant_id`` or a valid signature; raise Unauthorized, or NotFound for another tenant."""
    token = bearer_token()
    if token is not None:
        principal = await auth_service.authenticate(runtime(), token)
        current_language.set(principal["language"])
        if principal["tenant_id"] != tenant_id:
            raise NotFound()
        g.principal = principal
        return
    if not runtime().media_links.verify(tenant_id, file_id, request.args.get("expires"), request.args.get("sig")):
        raise Unauthorized("Invalid or expired media link.")


@blueprint.get("/api/media/<tenant_id>/<file_id>", merge_slashes=False)
@rate_limit(limits=_media_limits())
async def serve_file(tenant_id: str, file_id: str) -> Response:
    """Send a stored file: whole, as one byte range (206), or 304 when the client's copy is current."""
    path = MediaStore(runtime().data_dir.media).path(tenant_id, file_id)
    if path is None:
        raise NotFound()
    await _authorize(tenant_id, file_id)

    async with runtime().db.read() as connection:
        stored = await media_store.select_media_file(connection, tenant_id, file_id)
    if stored is None or not path.is_file():
        raise NotFound()
    if _opens_file():
        principal = g.get("principal")
        await audit.record_media_opened(runtime(), tenant_id, stored, principal["id"] if principal else None)
    return await _file_response(stored, path)


def _opens_file() -> bool:
    """Return whether a request fetches a file anew, as opposed to revalidating it or reading a later range.

    A player streams one file in many range requests, and only its first counts as an opening.
    """
    if request.headers.get("If-None-Match"):
        return False
    requested_range = request.headers.get("Range")
    return requested_range is None or requested_range.replace(" ", "").startswith("bytes=0-")


def _served_as_attachment(kind: str, content_type: str) -> bool:
    """Documents, and every type a browser should not show in the page, are downloaded instead."""
    if kind == "DOCUMENT":
        return True
    return rules.essence(content_type) not in rules.INLINE_TYPES and not content_type.startswith("audio/")


def _file_headers(stored: dict) -> dict[str, str]:
    content_type = stored["content_type"]
    headers = {
        "Content-Type": content_type,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": CACHE_CONTROL,
        "ETag": rules.etag_for(stored["sha256"]),
        "Accept-Ranges": "bytes",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    }
    if _served_as_attachment(stored["kind"], content_type):
        fallback = "file" + rules.extension_for(content_type)
        headers["Content-Disposition"] = rules.content_disposition("attachment", rules.display_name(stored["file_name"], fallback))
    return headers


async def _file_response(stored: dict, path: Path) -> Response:
    headers = _file_headers(stored)
    if rules.etag_matches(request.headers.get("If-None-Match"), headers["ETag"]):
        return Response(b"", status=304, headers={name: headers[name] for name in ("ETag", "Cache-Control")})

    size = path.stat().st_size
    byte_range = None
    if_range = request.headers.get("If-Range")
    if if_range is None or if_range.strip() == headers["ETag"]:
        try:
            byte_range = rules.parse_range(request.headers.get("Range"), size)
        except rules.RangeNotSatisfiable:
            raise RangeNotSatisfiable(size) from None

    body = FileBody(path, buffer_size=READ_BUFFER)
    response = Response(body, status=200, headers=headers)
    response.content_length = size
    if byte_range is not None:
        await body.make_conditional(byte_range.start, byte_range.end + 1)
        response.status_code = 206
        response.headers["Content-Range"] = byte_range.content_range(size)
        response.content_length = byte_range.length

    settings = runtime().settings
    response.timeout = rules.download_time_limit(size, size, settings.media_timeout, settings.media_min_rate)
    return response


@blueprint.post("/messages/<message_id>/media/retry")
@require_user()
async def retry_download(message_id: str) -> Response:
    """Queue a FAILED or DELETED guest's file for download again; 202 with the message."""
    if len(message_id) > 64:
        raise NotFound("Message not found.")
    message = await media_service.retry_download(runtime(), g.principal["tenant_id"], message_id)
    response = jsonify({"message": message})
    response.status_code = 202
    return response


@blueprint.post(SEND_MEDIA_PATH)
@require_user()
async def send_media() -> Response:
    """Send a file to a guest: multipart ``file``, ``conversationId``, ``caption?``, ``clientMessageId?``."""
    upload = await _read_upload()
    result = await media_send.send_media(runtime(), g.principal, upload)
    response = jsonify({"message": result.message})
    response.status_code = result.status_code
    return response


def _required(field: str) -> dict:
    return {"field": field, "message": "Required field.", "params": {}}


async def _read_upload() -> media_send.Upload:
    """Read the multipart form; raise ValidationFailed naming each missing or invalid field."""
    if request.content_length is None:
        raise ValidationFailed(details=[{"field": "Content-Length", "message": "Required field.", "params": {}}])
    if request.mimetype != "multipart/form-data":
        message = "Content-Type must be multipart/form-data."
        raise ValidationFailed(message, details=[{"field": "Content-Type", "message": message, "params": {}}])

    form = await request.form
    files = await request.files
    upload = files.get("file")
    conversation_id = form.get("conversationId", "").strip()
    client_message_id = form.get("clientMessageId", "").strip() or None

    details = []
    if upload is None or not upload.filename:
        details.append(_required("file"))
    if not conversation_id:
        details.append(_required("conversationId"))
    elif len(conversation_id) > 64:
        details.append({"field": "conversationId", "message": "Must have at most {max_length} character(s).",
                        "params": {"max_length": 64}, "limit": 64})
    if client_message_id is not None and len(client_message_id) > 100:
        details.append({"field": "clientMessageId", "message": "Must have at most {max_length} character(s).",
                        "params": {"max_length": 100}, "limit": 100})
    caption = unicodedata.normalize("NFC", form.get("caption", "").strip()) or None
    if caption is not None and forbidden_character(caption, LINE_BREAKS) is not None:
        details.append({"field": "caption", "message": "Must not contain control characters.", "params": {}})
    if forbidden_character(client_message_id or "") is not None:
        details.append({"field": "clientMessageId", "message": "Must not contain line breaks or control characters.",
                        "params": {}})
    if details:
        raise ValidationFailed(details=details)

    return media_send.Upload(
        conversation_id=conversation_id,
        caption=caption,
        client_message_id=client_message_id,
        file_name=upload.filename,
        content_type=rules.normalize_content_type(upload.content_type),
        stream=upload.stream,
    )
