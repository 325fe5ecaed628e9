"""Text fields that reach a header, a file name, a log line or a person: normalized, without control characters.

``single_line(...)`` is for one-line values (names, units, ids, priorities);
``multi_line(...)`` is for message bodies, captions and reasons, which may hold
line breaks and tabs. Both return the NFC form, so "é" typed as "e" plus a
combining accent is stored, compared and searched as one character. Both reject:

- C0 and C1 control characters (NUL, ESC, CR, DEL and the like), which can
  split a log line or a header, or hide text in a terminal;
- U+2028 and U+2029, which some log viewers and JavaScript treat as line ends;
- the bidirectional overrides and isolates (U+202A to U+202E, U+2066 to U+2069),
  which make a log line or a name read differently from what it contains;
- lone surrogates, which JSON allows but UTF-8 cannot encode.

Zero-width joiners and variation selectors stay, because emoji need them.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

import pydantic
from pydantic_core import PydanticCustomError

LINE_BREAKS = frozenset("\n\t")
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# The pydantic error types; web/requests.py maps them to translated messages.
LINE_ERROR = "control_character_line"
TEXT_ERROR = "control_character_text"


def forbidden_character(value: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """Return the first character of ``value`` that may not appear in it, or None when it is clean."""
    for character in value:
        if character in allowed:
            continue
        if character in BIDI_CONTROLS or unicodedata.category(character) in FORBIDDEN_CATEGORIES:
            return character
    return None


def clean_line(value: object) -> object:
    """Return a string ``value`` in NFC; raise PydanticCustomError if it contains a control character or line break.

    Any other type is returned unchanged for pydantic's own type check.
    """
    if not isinstance(value, str):
        return value
    normalized = unicodedata.normalize("NFC", value)
    if forbidden_character(normalized) is not None:
        raise PydanticCustomError(LINE_ERROR, "Must not contain line breaks or control characters.")
    return normalized


def clean_text(value: object) -> object:
    """Return a string ``value`` in NFC; raise PydanticCustomError on a control character other than \\n or \\t.

    Any other type is returned unchanged for pydantic's own type check.
    """
    if not isinstance(value, str):
        return value
    normalized = unicodedata.normalize("NFC", value)
    if forbidden_character(normalized, LINE_BREAKS) is not None:
        raise PydanticCustomError(TEXT_ERROR, "Must not contain control characters.")
    return normalized


def single_line(**constraints: Any) -> Any:
    """Return a ``str`` type that is cleaned by ``clean_line``, then checked by ``StringConstraints(**constraints)``.

    Length limits go here rather than in ``pydantic.Field``: there they would run as
    generic length checks and report ``too_long`` instead of ``string_too_long``.
    """
    return Annotated[str, pydantic.StringConstraints(**constraints), pydantic.BeforeValidator(clean_line)]


def multi_line(**constraints: Any) -> Any:
    """Return a ``str`` type that is cleaned by ``clean_text``, then checked by ``StringConstraints(**constraints)``."""
    return Annotated[str, pydantic.StringConstraints(**constraints), pydantic.BeforeValidator(clean_text)]
