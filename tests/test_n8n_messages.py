"""The pure builders of WhatsApp messages: cases the server tests do not reach, and their pt-BR messages."""

from __future__ import annotations

import pytest

from hotelbot.domain import whatsapp_messages as messages
from hotelbot.errors import ValidationFailed
from hotelbot.i18n import translate
from hotelbot.services import n8n as n8n_service


def problems_of(build, *args, **kwargs) -> list[dict]:
    with pytest.raises(ValidationFailed) as raised:
        build(*args, **kwargs)
    return [{key: value for key, value in detail.items() if key != "params"} for detail in raised.value.details]


def cards(count: int) -> list[messages.CarouselCard]:
    return [
        messages.CarouselCard(imageUrl=f"https://hotel.example.com/{index}.jpg", buttonPayloads=[f"quarto-{index}"])
        for index in range(count)
    ]


@pytest.mark.parametrize("name", [
    "EMPTY", "REPEATED", "LIST_ROWS_TOTAL", "SECTION_TITLE_REQUIRED", "CARD_BUTTONS", "CARD_SHAPE",
    "PARAMS_TOO_LONG", "PARAM_FORMAT", "NOT_A_URL", "MEDIA_SOURCE", "TEMPLATE_NAME_FORMAT", "LANGUAGE_FORMAT",
    "CAROUSEL_SUMMARY", "TOO_LONG", "TOO_FEW", "TOO_MANY",
])
def test_limit_message_translated(name):
    message = getattr(messages, name)

    assert translate(message, "pt-BR") != message


@pytest.mark.parametrize("name", ["GUEST_NOT_FOUND", "GUEST_MISSING", "INVALID_PHONE", "IA_LOCKED"])
def test_service_message_translated(name):
    message = getattr(n8n_service, name)

    assert translate(message, "pt-BR") != message


def test_decomposed_accent_counts_twice():
    decomposed = "a\u0303" * 10  # ten letters on screen, twenty code points

    accepted = messages.buttons_message("Olá", [messages.Button(id="a", title=decomposed)])

    assert accepted.metadata["buttons"] == [{"id": "a", "title": decomposed}]
    assert problems_of(messages.buttons_message, "Olá", [messages.Button(id="a", title=decomposed + "b")]) == [
        {"field": "buttons.0.title", "message": messages.TOO_LONG, "limit": 20}
    ]


def test_media_header_needs_one_source():
    both = messages.Header(type="image", id="123", link="https://hotel.example.com/a.jpg")
    neither = messages.Header(type="video")

    assert problems_of(messages.buttons_message, "Olá", [messages.Button.model_validate("Sim")], header=both) == [
        {"field": "header", "message": messages.MEDIA_SOURCE}
    ]
    assert problems_of(messages.buttons_message, "Olá", [messages.Button.model_validate("Sim")], header=neither) == [
        {"field": "header", "message": messages.MEDIA_SOURCE}
    ]


def test_video_header_by_link():
    header = messages.Header(type="video", link="https://hotel.example.com/tour.mp4")

    draft = messages.buttons_message("Conheça o hotel", [messages.Button(id="a", title="Reservar")], header=header)

    assert draft.graph_body["interactive"]["header"] == {"type": "video", "video": {"link": "https://hotel.example.com/tour.mp4"}}


@pytest.mark.parametrize("language", ["pt_BR", "en_US", "en", "es_MX", "fil"])
def test_carousel_language_accepted(language):
    draft = messages.carousel_template("quartos", language, cards(2))

    assert draft.graph_body["template"]["language"] == {"code": language}


@pytest.mark.parametrize("language", ["pt-BR", "PT_BR", "", "portuguese"])
def test_carousel_language_rejected(language):
    assert problems_of(messages.carousel_template, "quartos", language, cards(2)) == [
        {"field": "language", "message": messages.LANGUAGE_FORMAT}
    ]


def test_carousel_summary_in_english():
    draft = messages.carousel_template("quartos", "pt_BR", cards(3), summary_language="en")

    assert draft.content == "Carousel quartos with 3 card(s)"
    assert draft.metadata == {"templateName": "quartos", "language": "pt_BR", "cardsCount": 3}


def test_single_untitled_section_kept_untitled():
    section = messages.ListSection(rows=[messages.ListRow(id="a", title="Luxo", description="Vista para o mar")])

    draft = messages.list_message("Escolha", "Ver quartos", [section])

    assert draft.graph_body["interactive"]["action"]["sections"] == [
        {"rows": [{"id": "a", "title": "Luxo", "description": "Vista para o mar"}]}
    ]
