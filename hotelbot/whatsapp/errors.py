"""Meta's error codes as attendants should read them."""

from __future__ import annotations

from typing import Any

from hotelbot.i18n import translate

# Error code -> English message, translated for the reader.
MESSAGES: dict[int, str] = {
    190: "WhatsApp rejected the hotel's access token. An administrator must update it.",
    100: "WhatsApp rejected a parameter of the message.",
    131026: "The message could not be delivered to this guest (number without WhatsApp or outdated app).",
    131047: "More than 24 hours have passed since the guest's last message. Send an approved template.",
    130429: "Too many messages sent by the hotel's number. The message will be retried.",
    131056: "Too many messages to this guest in a short time. Wait a moment before sending again.",
    131030: "This number is not on the list of allowed recipients of the test account.",
    131051: "Message type not supported by WhatsApp.",
    131053: "WhatsApp could not process the media file.",
}
RETRYABLE_CODES = frozenset({130429, 131056, 1, 2, 4, 80007})


def describe_error(error: dict[str, Any] | None, language: str = "pt-BR") -> dict[str, Any] | None:
    """Return Meta's ``{code, title, details}`` plus a readable ``message`` in ``language``."""
    if not error:
        return None
    code = error.get("code")
    text = MESSAGES.get(code) if isinstance(code, int) else None
    message = translate(text, language) if text else translate("WhatsApp reported an error: {title}", language, title=error.get("title") or code)
    return {"code": code, "title": error.get("title"), "details": error.get("details"), "message": message}
