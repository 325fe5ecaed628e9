"""Reading WhatsApp Cloud API webhook payloads into hotelbot's terms.

Pure functions: no I/O. A payload holds entries, each with changes, each with
``messages[]``, ``statuses[]`` and ``errors[]``; every item is read. Items of an
unknown or broken shape never raise: a message whose type is unknown becomes an
``UNSUPPORTED`` message, and an item that cannot be read at all is listed in
``skipped`` with the reason, for the log.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hotelbot.clock import from_unix, now, to_iso
from hotelbot.i18n import translate

MEDIA_TYPES = {"image": "IMAGE", "audio": "AUDIO", "video": "VIDEO", "document": "DOCUMENT", "sticker": "STICKER"}
SIMPLE_TYPES = {
    "text": "TEXT",
    "location": "LOCATION",
    "contacts": "CONTACTS",
    "interactive": "INTERACTIVE",
    "button": "BUTTON",
    "reaction": "REACTION",
    "order": "ORDER",
    "system": "SYSTEM",
}
STATUS_NAMES = {"sent": "SENT", "delivered": "DELIVERED", "read": "READ", "played": "READ", "failed": "FAILED"}
MAX_TEXT = 65536


@dataclasses.dataclass
class MediaRef:
    media_id: str
    mime_type: str | None
    sha256: str | None
    filename: str | None


@dataclasses.dataclass
class InboundMessage:
    phone_number_id: str
    whatsapp_msg_id: str
    wa_id: str | None
    user_id: str | None
    contact_name: str | None
    created_at: str
    type: str
    content: str | None
    metadata: dict[str, Any]
    reply_id: str | None = None
    media: MediaRef | None = None
    context_wamid: str | None = None
    reaction_target: str | None = None
    reaction_emoji: str | None = None


@dataclasses.dataclass
class InboundStatus:
    phone_number_id: str
    whatsapp_msg_id: str
    status: str
    timestamp: str
    error: dict[str, Any] | None


@dataclasses.dataclass
class AccountError:
    phone_number_id: str | None
    code: int | None
    title: str | None
    details: str | None


@dataclasses.dataclass
class ParsedWebhook:
    messages: list[InboundMessage] = dataclasses.field(default_factory=list)
    statuses: list[InboundStatus] = dataclasses.field(default_factory=list)
    errors: list[AccountError] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _text(value: Any, limit: int = MAX_TEXT) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    return value[:limit]


def _timestamp(value: Any) -> str:
    try:
        return to_iso(from_unix(value))
    except (TypeError, ValueError, OverflowError, OSError):
        return to_iso(now())


def meta_error(raw: Any) -> dict[str, Any] | None:
    """Return ``{code, title, details}`` of one of Meta's error objects, or None."""
    error = _dict(raw)
    if not error:
        return None
    code = error.get("code")
    return {
        "code": code if isinstance(code, int) else None,
        "title": _text(error.get("title") or error.get("message"), 500),
        "details": _text(_dict(error.get("error_data")).get("details"), 2000),
    }


def _summary(summary_name: str, language: str, **params: Any) -> str:
    # The first parameter must not share a name with a placeholder: "unsupported" passes ``kind``.
    templates = {
        "location": "📍 Location: {place}",
        "contacts": "👤 Shared contact: {names}",
        "order": "🛒 Order with {count} item(s)",
        "system": "System notice: {body}",
        "unsupported": "Message type not supported by WhatsApp Cloud API ({kind})",
        "media": "[{label}]",
    }
    return translate(templates[summary_name], language, **params)


def _media_label(message_type: str, language: str) -> str:
    labels = {
        "IMAGE": "Image",
        "AUDIO": "Audio",
        "VIDEO": "Video",
        "DOCUMENT": "Document",
        "STICKER": "Sticker",
    }
    return translate(labels[message_type], language)


def _read_body(kind: str, raw: dict, message: InboundMessage, language: str) -> None:
    """Fill type, content, metadata and the type-specific fields of ``message`` from ``raw``."""
    body = _dict(raw.get(kind))

    if kind == "text":
        message.content = _text(body.get("body"))
        referral = _dict(raw.get("referral"))
        if referral:
            message.metadata["referral"] = {
                key: _text(referral.get(key), 2000)
                for key in ("source_url", "source_id", "source_type", "headline", "body", "ctwa_clid")
                if key in referral
            }
    elif kind in MEDIA_TYPES:
        message.content = _text(body.get("caption"), 4096)
        media_id = _text(body.get("id"), 200)
        if media_id:
            message.media = MediaRef(
                media_id=media_id,
                mime_type=_text(body.get("mime_type"), 200),
                sha256=_text(body.get("sha256"), 200),
                filename=_text(body.get("filename"), 255),
            )
        message.metadata.update(
            {
                key: body[key]
                for key in ("mime_type", "sha256", "filename", "voice", "animated")
                if key in body and isinstance(body[key], (str, bool))
            }
        )
        if not message.content:
            message.metadata["summary"] = _summary("media", language, label=_media_label(message.type, language))
    elif kind == "location":
        latitude, longitude = body.get("latitude"), body.get("longitude")
        message.metadata.update(
            {
                "latitude": latitude if isinstance(latitude, (int, float)) else None,
                "longitude": longitude if isinstance(longitude, (int, float)) else None,
                "name": _text(body.get("name"), 500),
                "address": _text(body.get("address"), 1000),
                "url": _text(body.get("url"), 2000),
            }
        )
        place = ", ".join(
            part for part in (message.metadata["name"], message.metadata["address"]) if part
        ) or f"{latitude}, {longitude}"
        message.content = _summary("location", language, place=place)
    elif kind == "contacts":
        shared = []
        for card in _list(raw.get("contacts"))[:20]:
            card = _dict(card)
            name = _text(_dict(card.get("name")).get("formatted_name"), 500)
            phones = [
                {"phone": _text(_dict(phone).get("phone"), 50), "wa_id": _text(_dict(phone).get("wa_id"), 50)}
                for phone in _list(card.get("phones"))[:10]
            ]
            shared.append({"name": name, "phones": phones})
        message.metadata["contacts"] = shared
        names = ", ".join(card["name"] for card in shared if card["name"]) or "-"
        message.content = _summary("contacts", language, names=names)
    elif kind == "interactive":
        reply_type = _text(body.get("type"), 50) or ""
        reply = _dict(body.get(reply_type))
        message.metadata["interactiveType"] = reply_type
        if reply_type == "nfm_reply":
            message.metadata["response"] = _text(reply.get("response_json"), 10000)
            message.content = _text(reply.get("body"), 4096)
        else:
            message.reply_id = _text(reply.get("id"), 256)
            message.content = _text(reply.get("title"), 200)
            message.metadata["replyId"] = message.reply_id
            message.metadata["title"] = message.content
            if "description" in reply:
                message.metadata["description"] = _text(reply.get("description"), 200)
    elif kind == "button":
        message.reply_id = _text(body.get("payload"), 256)
        message.content = _text(body.get("text"), 200)
        message.metadata["payload"] = message.reply_id
        message.metadata["text"] = message.content
    elif kind == "reaction":
        message.reaction_target = _text(body.get("message_id"), 200)
        message.reaction_emoji = _text(body.get("emoji"), 32) or ""
        message.content = message.reaction_emoji
        message.metadata["targetWhatsappMsgId"] = message.reaction_target
        message.metadata["emoji"] = message.reaction_emoji
    elif kind == "order":
        items = _list(body.get("product_items"))
        message.metadata["catalogId"] = _text(body.get("catalog_id"), 100)
        message.metadata["items"] = items[:100]
        message.content = _summary("order", language, count=len(items))
    elif kind == "system":
        message.content = _summary("system", language, body=_text(body.get("body"), 1000) or "")
        message.metadata["system"] = {key: _text(value, 500) for key, value in body.items()}


def _read_message(raw: Any, phone_number_id: str, contacts: list, language: str) -> InboundMessage | str:
    """Return the message ``raw`` describes, or the reason it cannot be read."""
    raw = _dict(raw)
    wamid = _text(raw.get("id"), 200)
    if not wamid:
        return "message without id"

    wa_id = _text(raw.get("from"), 32) or None
    user_id = _text(raw.get("from_user_id"), 200) or None
    contact_name = None
    for contact in contacts:
        contact = _dict(contact)
        if (wa_id and contact.get("wa_id") == wa_id) or (user_id and contact.get("user_id") == user_id) or len(contacts) == 1:
            contact_name = _text(_dict(contact.get("profile")).get("name"), 200)
            wa_id = wa_id or _text(contact.get("wa_id"), 32) or None
            user_id = user_id or _text(contact.get("user_id"), 200) or None
            break
    if not wa_id and not user_id:
        return f"message {wamid} without sender"

    kind = _text(raw.get("type"), 50) or "unknown"
    message_type = MEDIA_TYPES.get(kind) or SIMPLE_TYPES.get(kind) or "UNSUPPORTED"
    message = InboundMessage(
        phone_number_id=phone_number_id,
        whatsapp_msg_id=wamid,
        wa_id=wa_id,
        user_id=user_id,
        contact_name=contact_name,
        created_at=_timestamp(raw.get("timestamp")),
        type=message_type,
        content=None,
        metadata={},
    )

    context = _dict(raw.get("context"))
    if context:
        message.context_wamid = _text(context.get("id"), 200)
        if context.get("forwarded") is True:
            message.metadata["forwarded"] = True

    if message_type == "UNSUPPORTED":
        detail = _text(_dict(raw.get("unsupported")).get("type"), 50) or kind
        message.metadata["originalType"] = kind
        message.metadata["errors"] = [error for error in map(meta_error, _list(raw.get("errors"))) if error]
        message.content = _summary("unsupported", language, kind=detail)
    else:
        _read_body(kind, raw, message, language)
    return message


def _read_status(raw: Any, phone_number_id: str) -> InboundStatus | str:
    raw = _dict(raw)
    wamid = _text(raw.get("id"), 200)
    status = STATUS_NAMES.get(_text(raw.get("status"), 20) or "")
    if not wamid or not status:
        return f"status of unknown shape: {json.dumps(raw.get('status'))[:40]}"
    errors = [error for error in map(meta_error, _list(raw.get("errors"))) if error]
    return InboundStatus(
        phone_number_id=phone_number_id,
        whatsapp_msg_id=wamid,
        status=status,
        timestamp=_timestamp(raw.get("timestamp")),
        error=errors[0] if errors else None,
    )


def parse_webhook(payload: Any, language: str = "pt-BR") -> ParsedWebhook:
    """Read every message, status and account error of a webhook payload."""
    parsed = ParsedWebhook()
    entries = _list(_dict(payload).get("entry"))
    if not entries:
        parsed.skipped.append("payload without entries")

    for entry in entries:
        for change in _list(_dict(entry).get("changes")):
            value = _dict(_dict(change).get("value"))
            phone_number_id = _text(_dict(value.get("metadata")).get("phone_number_id"), 64)
            if not phone_number_id:
                parsed.skipped.append("change without metadata.phone_number_id")
                continue

            contacts = _list(value.get("contacts"))
            for raw in _list(value.get("messages")):
                item = _read_message(raw, phone_number_id, contacts, language)
                (parsed.messages if isinstance(item, InboundMessage) else parsed.skipped).append(item)
            for raw in _list(value.get("statuses")):
                item = _read_status(raw, phone_number_id)
                (parsed.statuses if isinstance(item, InboundStatus) else parsed.skipped).append(item)
            for raw in _list(value.get("errors")):
                error = meta_error(raw) or {}
                parsed.errors.append(AccountError(phone_number_id, error.get("code"), error.get("title"), error.get("details")))
    return parsed
