"""Hotel units: names as people write them, slugs as rooms and keys use them."""

from __future__ import annotations

import re
import unicodedata

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(name: str) -> str:
    """Lower-case ``name`` without accents and surrounding or repeated spaces."""
    decomposed = unicodedata.normalize("NFKD", name)
    without_marks = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(without_marks.lower().split())


def slugify(name: str) -> str:
    """Return the stable slug of a unit name: ``Campos do Jordão`` → ``campos-do-jordao``."""
    return _NON_ALNUM.sub("-", fold(name)).strip("-")


def match_unit(name: str, units: dict[str, str]) -> str | None:
    """Return the slug of the unit ``name`` means, ignoring case, accents and spaces.

    ``units`` maps slug to display name.
    """
    wanted = fold(name)
    for slug, display in units.items():
        if fold(display) == wanted or slug == slugify(name):
            return slug
    return None
