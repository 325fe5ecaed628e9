"""WhatsApp messages the assistant sends: Graph API bodies, built after every limit is checked.

Each builder returns a :class:`Draft`, the stored form of an OUTBOUND message
(type, content, metadata) together with the Graph API body without its
addressee, which the outbound service adds. Before it builds anything, a
builder checks every field against WhatsApp's limits and raises one
:class:`ValidationFailed` whose details name each offending field
(``buttons.1.title``), its message and its limit, so a caller fixes all of
them at once and Meta is never called with a body it would reject.

Lengths count Unicode code points, as ``len`` of a Python string does: "ã"
(precomposed) and "👍" are one character each. A decomposed accent (a letter
followed by a combining mark) and an emoji built from several code points,
such as a flag or a skin tone, count as several.

Limits, as Meta's WhatsApp Cloud API documents them:

| message | limit |
|---|---|
| text | body 4096 |
| reply buttons | 1 to 3 buttons; title 20, unique; id 256, unique; body 1024; header text and footer 60 |
| list | 1 to 10 sections, 10 rows over all sections, each section at least 1 row; button label 20; section and row titles 24; row description 72; row id 200, unique; body 4096; header and footer 60; a section title is required when there are several sections |
| media-card carousel template | 2 to 10 cards with the same components; at most 2 buttons a card; card body 160; message body 1024; card indexes from 0 |
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import pydantic

from hotelbot.errors import ValidationFailed
from hotelbot.i18n import translate

TEXT_BODY_MAX = 4096

BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
BUTTONS_BODY_MAX = 1024
HEADER_TEXT_MAX = 60
FOOTER_MAX = 60

LIST_SECTIONS_MAX = 10
LIST_ROWS_MAX = 10
LIST_BUTTON_TEXT_MAX = 20
LIST_SECTION_TITLE_MAX = 24
LIST_ROW_TITLE_MAX = 24
LIST_ROW_DESCRIPTION_MAX = 72
LIST_ROW_ID_MAX = 200
LIST_BODY_MAX = 4096

CAROUSEL_CARDS_MIN = 2
CAROUSEL_CARDS_MAX = 10
CAROUSEL_CARD_BUTTONS_MAX = 2
CAROUSEL_CARD_BODY_MAX = 160
CAROUSEL_BODY_MAX = 1024
TEMPLATE_NAME_MAX = 512

TOO_LONG = "Must have at most {max_length} character(s)."
TOO_FEW = "Must have at least {min_length} item(s)."
TOO_MANY = "Must have at most {max_length} item(s)."
EMPTY = "Must not be empty."
REPEATED = "Must be unique: an earlier item has the same value."
LIST_ROWS_TOTAL = "A list can have at most {max_length} rows over all sections."
SECTION_TITLE_REQUIRED = "Required when the list has more than one section."
CARD_BUTTONS = "A card can have at most {max_length} buttons (quick replies and URL buttons together)."
CARD_SHAPE = "Must have {expected} item(s), like the first card: every card has the same components."
PARAMS_TOO_LONG = "Together the parameters must have at most {max_length} character(s)."
PARAM_FORMAT = "Must not contain line breaks, tabs or more than 4 consecutive spaces."
NOT_A_URL = "Must be an http:// or https:// URL."
MEDIA_SOURCE = "Give either id or link of the media."
TEMPLATE_NAME_FORMAT = "Must contain only lowercase letters, digits and underscores."
LANGUAGE_FORMAT = "Must be a language code such as pt_BR or en_US."
CAROUSEL_SUMMARY = "Carousel {template} with {count} card(s)"

_TEMPLATE_NAME = re.compile(r"[a-z0-9_]+")
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(_[A-Za-z]{2,4})?")
# Meta rejects template parameters with these (error 132018).
_BAD_PARAM_TEXT = re.compile(r"[\n\r\t]| {5,}")
_LINK = re.compile(r"https?://", re.IGNORECASE)


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class Button(_Strict):
    """A reply button; a bare string means a button whose id is its title."""

    id: str
    title: str

    @pydantic.model_validator(mode="before")
    @classmethod
    def _from_title(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"id": value, "title": value}
        return value


class Header(_Strict):
    """An interactive message header: text, or an image, video or document by media id or link.

    A bare string means a text header.
    """

    type: Literal["text", "image", "video", "document"]
    text: str | None = None
    id: str | None = None
    link: str | None = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"type": "text", "text": value}
        return value


class ListRow(_Strict):
    id: str
    title: str
    description: str | None = None


class ListSection(_Strict):
    title: str | None = None
    rows: list[ListRow]


class CarouselCard(_Strict):
    """One card of a media-card carousel template.

    Quick-reply buttons take the template's first button indexes, URL buttons
    the ones after them.
    """

    imageUrl: str
    bodyParams: list[str] | None = None
    buttonPayloads: list[str]
    urlParams: list[str] | None = None


@dataclasses.dataclass(frozen=True)
class Draft:
    """An outbound message ready to store and send."""

    type: Literal["TEXT", "INTERACTIVE", "TEMPLATE"]
    content: str
    graph_body: dict[str, Any]
    metadata: dict[str, Any]


class Problems:
    """Invalid fields found so far, as error details ``{field, message, params, limit?}``."""

    def __init__(self) -> None:
        self.details: list[dict[str, Any]] = []

    def add(self, field: str, message: str, limit: int | None = None, **params: object) -> None:
        detail: dict[str, Any] = {
            "field": field,
            "message": message,
            "params": {name: str(value) for name, value in params.items()},
        }
        if limit is not None:
            detail["limit"] = limit
        self.details.append(detail)

    def text(self, field: str, value: str | None, maximum: int, *, required: bool = True) -> None:
        """Check that ``value`` is not blank and has at most ``maximum`` code points."""
        if value is None:
            if required:
                self.add(field, "Required field.")
            return
        if not value.strip():
            self.add(field, EMPTY)
            return
        if len(value) > maximum:
            self.add(field, TOO_LONG, maximum, max_length=maximum)

    def count(self, field: str, items: Sequence[Any], minimum: int, maximum: int) -> None:
        if len(items) < minimum:
            self.add(field, TOO_FEW, minimum, min_length=minimum)
        elif len(items) > maximum:
            self.add(field, TOO_MANY, maximum, max_length=maximum)

    def unique(self, fields_and_values: Iterable[tuple[str, str]]) -> None:
        """Report each value that repeats an earlier one, on the later field."""
        seen: set[str] = set()
        for field, value in fields_and_values:
            if value in seen:
                self.add(field, REPEATED)
            seen.add(value)

    def raise_if_any(self) -> None:
        if self.details:
            raise ValidationFailed(details=self.details)


def text_message(body: str) -> Draft:
    """Build a text message; raise ValidationFailed when the body is blank or too long.

    A body with an http(s) link requests a link preview.
    """
    problems = Problems()
    problems.text("body", body, TEXT_BODY_MAX)
    problems.raise_if_any()

    text: dict[str, Any] = {"body": body}
    if _LINK.search(body):
        text = {"preview_url": True, "body": body}
    return Draft("TEXT", body, {"type": "text", "text": text}, {})


def buttons_message(body: str, buttons: Sequence[Button], header: Header | None = None, footer: str | None = None) -> Draft:
    """Build an interactive reply-buttons message; raise ValidationFailed naming every invalid field."""
    problems = Problems()
    problems.text("body", body, BUTTONS_BODY_MAX)
    problems.count("buttons", buttons, 1, BUTTONS_MAX)
    for index, button in enumerate(buttons):
        problems.text(f"buttons.{index}.id", button.id, BUTTON_ID_MAX)
        problems.text(f"buttons.{index}.title", button.title, BUTTON_TITLE_MAX)
    problems.unique((f"buttons.{index}.title", button.title) for index, button in enumerate(buttons))
    problems.unique((f"buttons.{index}.id", button.id) for index, button in enumerate(buttons))
    _check_header(problems, header)
    problems.text("footer", footer, FOOTER_MAX, required=False)
    problems.raise_if_any()

    interactive: dict[str, Any] = {"type": "button"}
    if header is not None:
        interactive["header"] = _header_body(header)
    interactive["body"] = {"text": body}
    if footer is not None:
        interactive["footer"] = {"text": footer}
    interactive["action"] = {
        "buttons": [{"type": "reply", "reply": {"id": button.id, "title": button.title}} for button in buttons]
    }
    metadata = {"interactiveType": "button", "buttons": [{"id": button.id, "title": button.title} for button in buttons]}
    return Draft("INTERACTIVE", body, {"type": "interactive", "interactive": interactive}, metadata)


def list_message(
    body: str,
    button_text: str,
    sections: Sequence[ListSection],
    header: str | None = None,
    footer: str | None = None,
) -> Draft:
    """Build an interactive list message; raise ValidationFailed naming every invalid field."""
    problems = Problems()
    problems.text("body", body, LIST_BODY_MAX)
    problems.text("buttonText", button_text, LIST_BUTTON_TEXT_MAX)
    problems.text("header", header, HEADER_TEXT_MAX, required=False)
    problems.text("footer", footer, FOOTER_MAX, required=False)
    _check_sections(problems, sections)
    problems.raise_if_any()

    interactive: dict[str, Any] = {"type": "list"}
    if header is not None:
        interactive["header"] = {"type": "text", "text": header}
    interactive["body"] = {"text": body}
    if footer is not None:
        interactive["footer"] = {"text": footer}
    interactive["action"] = {"button": button_text, "sections": [_section_body(section) for section in sections]}
    metadata = {"interactiveType": "list", "buttonText": button_text, "sections": interactive["action"]["sections"]}
    return Draft("INTERACTIVE", body, {"type": "interactive", "interactive": interactive}, metadata)


def carousel_template(
    template_name: str,
    language: str,
    cards: Sequence[CarouselCard],
    body_params: Sequence[str] | None = None,
    summary_language: str | None = None,
) -> Draft:
    """Build a media-card carousel template message; raise ValidationFailed naming every invalid field.

    The stored content is a summary in ``summary_language``, and the metadata contains
    ``{templateName, language, cardsCount}``.
    """
    problems = Problems()
    problems.text("templateName", template_name, TEMPLATE_NAME_MAX)
    if template_name.strip() and not _TEMPLATE_NAME.fullmatch(template_name):
        problems.add("templateName", TEMPLATE_NAME_FORMAT)
    if not _LANGUAGE_CODE.fullmatch(language):
        problems.add("language", LANGUAGE_FORMAT)
    _check_params(problems, "bodyParams", body_params, CAROUSEL_BODY_MAX)
    problems.count("cards", cards, CAROUSEL_CARDS_MIN, CAROUSEL_CARDS_MAX)
    for index, card in enumerate(cards):
        _check_card(problems, index, card, cards[0])
    problems.raise_if_any()

    components: list[dict[str, Any]] = []
    if body_params:
        components.append({"type": "body", "parameters": _text_parameters(body_params)})
    components.append({"type": "carousel", "cards": [_card_body(index, card) for index, card in enumerate(cards)]})
    template = {"name": template_name, "language": {"code": language}, "components": components}
    content = translate(CAROUSEL_SUMMARY, summary_language, template=template_name, count=len(cards))
    metadata = {"templateName": template_name, "language": language, "cardsCount": len(cards)}
    return Draft("TEMPLATE", content, {"type": "template", "template": template}, metadata)


def _check_header(problems: Problems, header: Header | None) -> None:
    if header is None:
        return
    if header.type == "text":
        problems.text("header.text", header.text, HEADER_TEXT_MAX)
        return
    if (header.id is None) == (header.link is None):
        problems.add("header", MEDIA_SOURCE)
    elif header.link is not None and not _is_web_url(header.link):
        problems.add("header.link", NOT_A_URL)


def _header_body(header: Header) -> dict[str, Any]:
    if header.type == "text":
        return {"type": "text", "text": header.text}
    source = {"id": header.id} if header.id is not None else {"link": header.link}
    return {"type": header.type, header.type: source}


def _check_sections(problems: Problems, sections: Sequence[ListSection]) -> None:
    problems.count("sections", sections, 1, LIST_SECTIONS_MAX)
    total_rows = sum(len(section.rows) for section in sections)
    if total_rows > LIST_ROWS_MAX:
        problems.add("sections", LIST_ROWS_TOTAL, LIST_ROWS_MAX, max_length=LIST_ROWS_MAX)

    for section_index, section in enumerate(sections):
        prefix = f"sections.{section_index}"
        if section.title is None and len(sections) > 1:
            problems.add(f"{prefix}.title", SECTION_TITLE_REQUIRED)
        problems.text(f"{prefix}.title", section.title, LIST_SECTION_TITLE_MAX, required=False)
        if not section.rows:
            problems.add(f"{prefix}.rows", TOO_FEW, 1, min_length=1)
        for row_index, row in enumerate(section.rows):
            problems.text(f"{prefix}.rows.{row_index}.id", row.id, LIST_ROW_ID_MAX)
            problems.text(f"{prefix}.rows.{row_index}.title", row.title, LIST_ROW_TITLE_MAX)
            problems.text(f"{prefix}.rows.{row_index}.description", row.description, LIST_ROW_DESCRIPTION_MAX, required=False)

    problems.unique(
        (f"sections.{section_index}.rows.{row_index}.id", row.id)
        for section_index, section in enumerate(sections)
        for row_index, row in enumerate(section.rows)
    )


def _section_body(section: ListSection) -> dict[str, Any]:
    rows = []
    for row in section.rows:
        item = {"id": row.id, "title": row.title}
        if row.description is not None:
            item["description"] = row.description
        rows.append(item)
    if section.title is None:
        return {"rows": rows}
    return {"title": section.title, "rows": rows}


def _check_params(problems: Problems, field: str, params: Sequence[str] | None, total_max: int) -> None:
    """Check template text parameters one by one, then their total length against the body's limit."""
    if params is None:
        return
    for index, value in enumerate(params):
        if not value.strip():
            problems.add(f"{field}.{index}", EMPTY)
        elif _BAD_PARAM_TEXT.search(value):
            problems.add(f"{field}.{index}", PARAM_FORMAT)
    # NOTE: the template's own text also counts toward Meta's body limit, and
    # hotelbot does not know it, so a body can still be too long for Meta.
    if sum(len(value) for value in params) > total_max:
        problems.add(field, PARAMS_TOO_LONG, total_max, max_length=total_max)


def _check_card(problems: Problems, index: int, card: CarouselCard, first: CarouselCard) -> None:
    prefix = f"cards.{index}"
    if not _is_web_url(card.imageUrl):
        problems.add(f"{prefix}.imageUrl", NOT_A_URL)
    _check_params(problems, f"{prefix}.bodyParams", card.bodyParams, CAROUSEL_CARD_BODY_MAX)
    for button_index, payload in enumerate(card.buttonPayloads):
        if not payload.strip():
            problems.add(f"{prefix}.buttonPayloads.{button_index}", EMPTY)
    for param_index, value in enumerate(card.urlParams or []):
        if not value.strip():
            problems.add(f"{prefix}.urlParams.{param_index}", EMPTY)

    button_count = len(card.buttonPayloads) + len(card.urlParams or [])
    if button_count > CAROUSEL_CARD_BUTTONS_MAX:
        problems.add(prefix, CARD_BUTTONS, CAROUSEL_CARD_BUTTONS_MAX, max_length=CAROUSEL_CARD_BUTTONS_MAX)
    for name in ("bodyParams", "buttonPayloads", "urlParams"):
        expected = len(getattr(first, name) or [])
        if len(getattr(card, name) or []) != expected:
            problems.add(f"{prefix}.{name}", CARD_SHAPE, expected=expected)


def _card_body(index: int, card: CarouselCard) -> dict[str, Any]:
    components: list[dict[str, Any]] = [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": card.imageUrl}}]}
    ]
    if card.bodyParams:
        components.append({"type": "body", "parameters": _text_parameters(card.bodyParams)})
    for button_index, payload in enumerate(card.buttonPayloads):
        components.append({
            "type": "button",
            "sub_type": "quick_reply",
            "index": str(button_index),
            "parameters": [{"type": "payload", "payload": payload}],
        })
    # NOTE: URL buttons are assumed to follow the quick replies in the
    # template; a template with a URL or phone button first needs other indexes.
    for button_index, value in enumerate(card.urlParams or [], start=len(card.buttonPayloads)):
        components.append({
            "type": "button",
            "sub_type": "url",
            "index": str(button_index),
            "parameters": [{"type": "text", "text": value}],
        })
    return {"card_index": index, "components": components}


def _text_parameters(values: Sequence[str]) -> list[dict[str, str]]:
    return [{"type": "text", "text": value} for value in values]


def _is_web_url(value: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(char.isspace() for char in value)
