"""The forward of a guest's message to the tenant's N8N webhook.

The body is ``{tenantId, conversationId, messageId, whatsappMsgId, phone,
userId, name, message, messageType, replyId, mediaUrl, hotelUnit}``, signed
with ``X-Hotelbot-Signature: sha256=<HMAC of the body with the forward
secret>`` and carrying ``Idempotency-Key: <whatsappMsgId>`` so N8N can drop a
second delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SIGNATURE_HEADER = "X-Hotelbot-Signature"


def forward_body(message: dict, conversation: dict, contact: dict, hotel_unit_name: str | None, media_url: str | None) -> dict[str, Any]:
    """Build the JSON N8N receives for one inbound message row."""
    metadata = json.loads(message["metadata"] or "{}")
    return {
        "tenantId": message["tenant_id"],
        "conversationId": conversation["id"],
        "messageId": message["id"],
        "whatsappMsgId": message["whatsapp_msg_id"],
        "phone": contact["phone"],
        "userId": contact["user_id"],
        "name": contact["name"],
        "message": message["content"] or "",
        "messageType": message["type"],
        "replyId": metadata.get("replyId") or metadata.get("payload"),
        "mediaUrl": media_url,
        "hotelUnit": hotel_unit_name,
    }


def encode_body(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def sign_body(raw: bytes, forward_secret: str) -> str:
    return "sha256=" + hmac.new(forward_secret.encode(), raw, hashlib.sha256).hexdigest()
