"""Guest phone numbers as WhatsApp identifies them.

WhatsApp's ``wa_id`` for a Brazilian mobile may come with 13 digits (country 55,
two-digit area code, the ninth digit 9, eight digits) or with 12 (without the
ninth digit). Both are one guest, so contacts are keyed on a canonical form
that drops the ninth digit of Brazilian mobiles.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s().\-+]")
BRAZIL = "55"


def digits_only(phone: str) -> str | None:
    """Return the digits of a phone written with ``+``, spaces, parentheses or dashes, or None."""
    stripped = _SEPARATORS.sub("", phone or "")
    if not stripped.isdigit() or not 8 <= len(stripped) <= 15:
        return None
    return stripped


def phone_key(phone: str) -> str | None:
    """Return the canonical key of a phone: Brazilian mobiles without their ninth digit."""
    digits = digits_only(phone)
    if digits is None:
        return None
    if digits.startswith(BRAZIL) and len(digits) == 13 and digits[4] == "9":
        return digits[:4] + digits[5:]
    return digits


def mask_phone(phone: str | None) -> str:
    """Return a phone fit for logs: only its last four digits."""
    if not phone:
        return "-"
    return "*" * max(len(phone) - 4, 0) + phone[-4:]
