"""Translations of user-facing text.

Messages are written in English in the code and translated from the gettext
catalogs under ``hotelbot/locale``. The ``.po`` files are read with Babel at
first use, so there is no compiled ``.mo`` file to keep in step. pt-BR is the
default language of every person-facing text; English is the catalog-less
fallback.
"""

from __future__ import annotations

import contextvars
import functools
import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DEFAULT_LANGUAGE = "pt-BR"
SUPPORTED_LANGUAGES = ("pt-BR", "en")
LOCALE_DIR = Path(__file__).parent / "locale"

current_language: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_language", default=DEFAULT_LANGUAGE
)


@functools.cache
def _translations(language: str) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()

    po_path = LOCALE_DIR / language.replace("-", "_") / "LC_MESSAGES" / "hotelbot.po"
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=language.replace("-", "_"))
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def normalize_language(value: str | None) -> str | None:
    """Return the supported language a tag such as ``pt``, ``pt_BR`` or ``en-US`` means."""
    if not value:
        return None
    primary = value.strip().replace("_", "-").split("-")[0].lower()
    if primary == "pt":
        return "pt-BR"
    if primary == "en":
        return "en"
    return None


def language_from_accept(header: str | None) -> str | None:
    """Pick the first supported language of an Accept-Language header, by weight."""
    if not header:
        return None
    choices: list[tuple[float, str]] = []
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        language = normalize_language(tag)
        if language and weight > 0:
            choices.append((weight, language))
    if not choices:
        return None
    return max(choices, key=lambda choice: choice[0])[1]


def translate(message: str, language: str | None = None, **params: object) -> str:
    """Translate ``message`` into ``language`` (default: the current context's) and format it."""
    text = _translations(language or current_language.get()).gettext(message)
    return text.format(**params) if params else text


_ = translate
