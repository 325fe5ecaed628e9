"""N8N's sends: the exact Graph API bodies, the stored rows, and every WhatsApp limit at its boundary.

One server serves the whole module: every case sends to the same guest, whose
conversation stays unlocked and inside the 24-hour window.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
import uuid

import pytest

from tests.support.db import eventually, rows
from tests.support.fakes import FakeGraph, FakeN8N, load_fixture
from tests.support.server import ServerProcess, launch

PHONE = "5511987654321"

INVALID_REQUEST = "Requisição inválida."
TOO_LONG = "Deve ter no máximo {} caractere(s)."
TOO_MANY = "Deve ter no máximo {} item(ns)."
TOO_FEW = "Deve ter pelo menos {} item(ns)."
REPEATED = "Deve ser único: um item anterior tem o mesmo valor."
EMPTY = "Não pode ficar vazio."
ROWS_TOTAL = "Uma lista pode ter no máximo 10 opções somando todas as seções."
SECTION_TITLE = "Obrigatório quando a lista tem mais de uma seção."
CARD_BUTTONS = "Um cartão pode ter no máximo 2 botões (respostas rápidas e botões de link somados)."
CARD_SHAPE = "Deve ter {} item(ns), como o primeiro cartão: todos os cartões têm os mesmos componentes."
PARAMS_TOO_LONG = "Somados, os parâmetros devem ter no máximo {} caractere(s)."
PARAM_FORMAT = "Não pode conter quebras de linha, tabulações nem mais de 4 espaços seguidos."
NOT_A_URL = "Deve ser um link http:// ou https://."
TEMPLATE_NAME = "Deve conter apenas letras minúsculas, números e sublinhados."


def text(length: int) -> str:
    """Return ``length`` code points of accented letters and emoji (8 to 12 UTF-8 bytes per 3 of them)."""
    pattern = "ãé👍çõ🏨"
    return (pattern * (length // len(pattern) + 1))[:length]


@dataclasses.dataclass
class Shared:
    server: ServerProcess
    graph: FakeGraph
    conversation_id: str | None = None


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    graph = FakeGraph().start()
    n8n = FakeN8N().start()
    server = launch(tmp_path_factory.mktemp("n8n-sends") / "data", graph.url, n8n.url)
    yield Shared(server, graph)
    server.stop()
    graph.stop()
    n8n.stop()


def inbound_text(phone: str) -> dict:
    """Return an inbound text webhook from ``phone``, stamped now so the reply window is open."""
    payload = load_fixture("inbound-text.json")
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = phone
    message = value["messages"][0]
    message["from"] = phone
    message["id"] = f"wamid.TEST{uuid.uuid4().hex}"
    message["timestamp"] = str(int(time.time()))
    return payload


@pytest.fixture
async def guest(shared, http) -> str:
    """The conversation of the module's guest, created by an inbound message on first use."""
    if shared.conversation_id is None:
        response = await shared.server.post_webhook(http, inbound_text(PHONE))
        assert response.status_code == 200
        found = await eventually(lambda: rows(shared.server, "SELECT id FROM conversations"))
        shared.conversation_id = found[0]["id"]
    return shared.conversation_id


async def post(shared: Shared, http, path: str, body: dict):
    headers = {"X-API-Key": shared.server.tenant.api_key}
    return await http.post(shared.server.base_url + path, json=body, headers=headers)


async def send_and_capture(shared: Shared, http, path: str, body: dict):
    """POST a send; return (response, the Graph API requests it caused)."""
    before = len(shared.graph.sends())
    response = await post(shared, http, path, body)
    return response, shared.graph.sends()[before:]


def addressed(fixture: dict) -> dict:
    expected = copy.deepcopy(fixture)
    expected["to"] = PHONE
    return expected


def stored(shared: Shared, message_id: str) -> dict:
    row = rows(shared.server, "SELECT * FROM messages WHERE id = ?", (message_id,))[0]
    row["metadata"] = json.loads(row["metadata"])
    row["sender"] = json.loads(row["sender"])
    return row


# -- exact bodies --------------------------------------------------------------


async def test_send_text_graph_body(shared, guest, http):
    fixture = load_fixture("send-text.json")

    response, sent = await send_and_capture(shared, http, "/n8n/send-text", {"phone": PHONE, "body": fixture["text"]["body"]})

    assert response.status_code == 200
    result = response.json()
    assert result["status"] == "SENT"
    assert result["whatsappMsgId"].startswith("wamid.FAKE")
    assert len(sent) == 1
    assert sent[0].path == f"/v21.0/{shared.server.tenant.phone_number_id}/messages"
    assert sent[0].headers["authorization"] == "Bearer access-token-0"
    assert sent[0].json() == addressed(fixture)
    row = stored(shared, result["messageId"])
    assert row["type"] == "TEXT"
    assert row["direction"] == "OUTBOUND"
    assert row["content"] == fixture["text"]["body"]
    assert row["sender"] == {"type": "N8N"}
    assert row["status"] == "SENT"
    assert row["whatsapp_msg_id"] == result["whatsappMsgId"]
    assert row["conversation_id"] == guest


async def test_send_text_without_link_has_no_preview(shared, guest, http):
    response, sent = await send_and_capture(shared, http, "/n8n/send-text", {"phone": PHONE, "body": "Bom dia! ☀️"})

    assert response.status_code == 200
    assert sent[0].json()["text"] == {"body": "Bom dia! ☀️"}


async def test_send_buttons_graph_body(shared, guest, http):
    fixture = load_fixture("send-interactive-buttons.json")
    interactive = fixture["interactive"]
    body = {
        "phone": PHONE,
        "body": interactive["body"]["text"],
        "header": {"type": "image", "id": interactive["header"]["image"]["id"]},
        "footer": interactive["footer"]["text"],
        "buttons": [button["reply"] for button in interactive["action"]["buttons"]],
    }

    response, sent = await send_and_capture(shared, http, "/n8n/send-buttons", body)

    assert response.status_code == 200
    assert len(sent) == 1
    assert sent[0].json() == addressed(fixture)
    row = stored(shared, response.json()["messageId"])
    assert row["type"] == "INTERACTIVE"
    assert row["content"] == interactive["body"]["text"]
    assert row["metadata"]["interactiveType"] == "button"
    assert row["metadata"]["buttons"] == [{"id": "change-button", "title": "Change"}, {"id": "cancel-button", "title": "Cancel"}]
    assert row["sender"] == {"type": "N8N"}


async def test_send_buttons_strings_and_text_header(shared, guest, http):
    body = {"phone": PHONE, "body": "Posso ajudar?", "header": "Hotel Serra Azul", "buttons": ["Sim", "Não"]}

    response, sent = await send_and_capture(shared, http, "/n8n/send-buttons", body)

    assert response.status_code == 200
    assert sent[0].json()["interactive"] == {
        "type": "button",
        "header": {"type": "text", "text": "Hotel Serra Azul"},
        "body": {"text": "Posso ajudar?"},
        "action": {"buttons": [
            {"type": "reply", "reply": {"id": "Sim", "title": "Sim"}},
            {"type": "reply", "reply": {"id": "Não", "title": "Não"}},
        ]},
    }


async def test_send_list_graph_body(shared, guest, http):
    fixture = load_fixture("send-interactive-list.json")
    interactive = fixture["interactive"]
    body = {
        "phone": PHONE,
        "body": interactive["body"]["text"],
        "buttonText": interactive["action"]["button"],
        "sections": interactive["action"]["sections"],
        "header": interactive["header"]["text"],
        "footer": interactive["footer"]["text"],
    }

    response, sent = await send_and_capture(shared, http, "/n8n/send-list", body)

    assert response.status_code == 200
    assert len(sent) == 1
    assert sent[0].json() == addressed(fixture)
    row = stored(shared, response.json()["messageId"])
    assert row["type"] == "INTERACTIVE"
    assert row["metadata"]["interactiveType"] == "list"
    assert row["metadata"]["buttonText"] == "Shipping Options"


def carousel_request(fixture: dict, language: str | None) -> tuple[dict, dict]:
    """Turn a carousel fixture into a send-carousel body; return (body, the Graph body expected).

    The fixtures name images by media id; N8N gives links, so the expected
    body carries each card's link instead.
    """
    template = fixture["template"]
    components = {component["type"]: component for component in template["components"]}
    expected = addressed(fixture)
    cards = []
    for index, card in enumerate(components["carousel"]["cards"]):
        parts = {component["type"]: component for component in card["components"] if component["type"] != "button"}
        buttons = [component for component in card["components"] if component["type"] == "button"]
        image_url = f"https://hotel.example.com/quartos/{index}.jpg"
        request_card = {
            "imageUrl": image_url,
            "buttonPayloads": [b["parameters"][0]["payload"] for b in buttons if b["sub_type"] == "quick_reply"],
            "urlParams": [b["parameters"][0]["text"] for b in buttons if b["sub_type"] == "url"],
        }
        if "body" in parts:
            request_card["bodyParams"] = [parameter["text"] for parameter in parts["body"]["parameters"]]
        cards.append(request_card)
        expected_card = expected["template"]["components"][-1]["cards"][index]
        expected_card["components"][0]["parameters"][0]["image"] = {"link": image_url}

    body = {
        "phone": PHONE,
        "templateName": template["name"],
        "bodyParams": [parameter["text"] for parameter in components["body"]["parameters"]],
        "cards": cards,
    }
    if language is not None:
        body["language"] = language
    return body, expected


async def test_send_carousel_graph_body(shared, guest, http):
    body, expected = carousel_request(load_fixture("send-template-carousel.json"), "en_US")

    response, sent = await send_and_capture(shared, http, "/n8n/send-carousel", body)

    assert response.status_code == 200
    result = response.json()
    assert result["cardsCount"] == 3
    assert result["status"] == "SENT"
    assert len(sent) == 1
    assert sent[0].json() == expected
    row = stored(shared, result["messageId"])
    assert row["type"] == "TEMPLATE"
    assert row["content"] == "Carrossel carousel_template_media_cards_v1 com 3 cartão(ões)"
    assert row["metadata"]["cardsCount"] == 3
    assert row["metadata"]["templateName"] == "carousel_template_media_cards_v1"
    assert row["sender"] == {"type": "N8N"}


async def test_send_carousel_card_bodies_default_language(shared, guest, http):
    body, expected = carousel_request(load_fixture("send-template-carousel-card-body-DERIVED.json"), None)

    response, sent = await send_and_capture(shared, http, "/n8n/send-carousel", body)

    assert response.status_code == 200
    assert response.json()["cardsCount"] == 3
    assert sent[0].json() == expected
    assert sent[0].json()["template"]["language"] == {"code": "pt_BR"}


# -- limits at their boundary ---------------------------------------------------


def buttons(count: int, title: str = "Opção") -> list[dict]:
    return [{"id": f"opcao-{index}", "title": f"{title} {index}"} for index in range(count)]


def button_body(**changes) -> dict:
    return {"phone": PHONE, "body": "Escolha uma opção", "buttons": buttons(2), **changes}


def rows_of(count: int, start: int = 0) -> list[dict]:
    return [{"id": f"linha-{index}", "title": f"Quarto {index}"} for index in range(start, start + count)]


def list_body(**changes) -> dict:
    body = {
        "phone": PHONE,
        "body": "Qual quarto você prefere?",
        "buttonText": "Ver quartos",
        "sections": [{"title": "Quartos", "rows": rows_of(2)}],
    }
    return {**body, **changes}


def list_row(**changes) -> dict:
    return list_body(sections=[{"title": "Quartos", "rows": [{"id": "luxo", "title": "Luxo", **changes}]}])


def card(index: int, **changes) -> dict:
    return {
        "imageUrl": f"https://hotel.example.com/quartos/{index}.jpg",
        "bodyParams": [f"Quarto {index}"],
        "buttonPayloads": [f"quarto-{index}"],
        **changes,
    }


def carousel_body(**changes) -> dict:
    return {"phone": PHONE, "templateName": "hotel_quartos_v1", "cards": [card(0), card(1)], **changes}


def detail(field: str, message: str, limit: int | None = None) -> dict:
    item = {"field": field, "message": message}
    if limit is not None:
        item["limit"] = limit
    return item


LIMIT_CASES = [
    # (case, path, allowed at the limit, refused one past it, details of the refusal)
    ("text body", "/n8n/send-text", {"phone": PHONE, "body": text(4096)}, {"phone": PHONE, "body": text(4097)},
     [detail("body", TOO_LONG.format(4096), 4096)]),
    ("text body blank", "/n8n/send-text", {"phone": PHONE, "body": "a"}, {"phone": PHONE, "body": "  \n "},
     [detail("body", EMPTY)]),
    ("buttons body", "/n8n/send-buttons", button_body(body=text(1024)), button_body(body=text(1025)),
     [detail("body", TOO_LONG.format(1024), 1024)]),
    ("buttons count", "/n8n/send-buttons", button_body(buttons=buttons(3)), button_body(buttons=buttons(4)),
     [detail("buttons", TOO_MANY.format(3), 3)]),
    ("buttons none", "/n8n/send-buttons", button_body(buttons=buttons(1)), button_body(buttons=[]),
     [detail("buttons", TOO_FEW.format(1), 1)]),
    ("button title", "/n8n/send-buttons",
     button_body(buttons=[{"id": "a", "title": "Sim"}, {"id": "b", "title": text(20)}]),
     button_body(buttons=[{"id": "a", "title": "Sim"}, {"id": "b", "title": text(21)}]),
     [detail("buttons.1.title", TOO_LONG.format(20), 20)]),
    ("button id", "/n8n/send-buttons",
     button_body(buttons=[{"id": text(256), "title": "Sim"}]),
     button_body(buttons=[{"id": text(257), "title": "Sim"}]),
     [detail("buttons.0.id", TOO_LONG.format(256), 256)]),
    ("button titles unique", "/n8n/send-buttons",
     button_body(buttons=[{"id": "a", "title": "Sim 👍"}, {"id": "b", "title": "Sim"}]),
     button_body(buttons=[{"id": "a", "title": "Sim 👍"}, {"id": "b", "title": "Sim 👍"}]),
     [detail("buttons.1.title", REPEATED)]),
    ("button ids unique", "/n8n/send-buttons",
     button_body(buttons=[{"id": "ação", "title": "Sim"}, {"id": "acao", "title": "Não"}]),
     button_body(buttons=[{"id": "ação", "title": "Sim"}, {"id": "ação", "title": "Não"}]),
     [detail("buttons.1.id", REPEATED)]),
    ("button string titles unique", "/n8n/send-buttons",
     button_body(buttons=["Sim", "Não"]), button_body(buttons=["Sim", "Sim"]),
     [detail("buttons.1.title", REPEATED), detail("buttons.1.id", REPEATED)]),
    ("buttons header", "/n8n/send-buttons", button_body(header=text(60)), button_body(header=text(61)),
     [detail("header.text", TOO_LONG.format(60), 60)]),
    ("buttons footer", "/n8n/send-buttons", button_body(footer=text(60)), button_body(footer=text(61)),
     [detail("footer", TOO_LONG.format(60), 60)]),
    ("buttons header link", "/n8n/send-buttons",
     button_body(header={"type": "image", "link": "https://hotel.example.com/fachada.jpg"}),
     button_body(header={"type": "image", "link": "ftp://hotel.example.com/fachada.jpg"}),
     [detail("header.link", NOT_A_URL)]),
    ("list body", "/n8n/send-list", list_body(body=text(4096)), list_body(body=text(4097)),
     [detail("body", TOO_LONG.format(4096), 4096)]),
    ("list button text", "/n8n/send-list", list_body(buttonText=text(20)), list_body(buttonText=text(21)),
     [detail("buttonText", TOO_LONG.format(20), 20)]),
    ("list header", "/n8n/send-list", list_body(header=text(60)), list_body(header=text(61)),
     [detail("header", TOO_LONG.format(60), 60)]),
    ("list footer", "/n8n/send-list", list_body(footer=text(60)), list_body(footer=text(61)),
     [detail("footer", TOO_LONG.format(60), 60)]),
    ("list rows total", "/n8n/send-list",
     list_body(sections=[{"title": "Standard", "rows": rows_of(5)}, {"title": "Luxo", "rows": rows_of(5, 5)}]),
     list_body(sections=[{"title": "Standard", "rows": rows_of(5)}, {"title": "Luxo", "rows": rows_of(6, 5)}]),
     [detail("sections", ROWS_TOTAL, 10)]),
    ("list sections", "/n8n/send-list",
     list_body(sections=[{"title": f"Andar {i}", "rows": rows_of(1, i)} for i in range(10)]),
     list_body(sections=[{"title": f"Andar {i}", "rows": rows_of(1, i)} for i in range(11)]),
     [detail("sections", TOO_MANY.format(10), 10), detail("sections", ROWS_TOTAL, 10)]),
    ("list no sections", "/n8n/send-list", list_body(), list_body(sections=[]),
     [detail("sections", TOO_FEW.format(1), 1)]),
    ("list section without rows", "/n8n/send-list", list_body(),
     list_body(sections=[{"title": "Quartos", "rows": []}]),
     [detail("sections.0.rows", TOO_FEW.format(1), 1)]),
    ("list section title", "/n8n/send-list",
     list_body(sections=[{"title": text(24), "rows": rows_of(1)}]),
     list_body(sections=[{"title": text(25), "rows": rows_of(1)}]),
     [detail("sections.0.title", TOO_LONG.format(24), 24)]),
    ("list section title required", "/n8n/send-list",
     list_body(sections=[{"rows": rows_of(2)}]),
     list_body(sections=[{"title": "Standard", "rows": rows_of(1)}, {"rows": rows_of(1, 1)}]),
     [detail("sections.1.title", SECTION_TITLE)]),
    ("list row title", "/n8n/send-list", list_row(title=text(24)), list_row(title=text(25)),
     [detail("sections.0.rows.0.title", TOO_LONG.format(24), 24)]),
    ("list row description", "/n8n/send-list", list_row(description=text(72)), list_row(description=text(73)),
     [detail("sections.0.rows.0.description", TOO_LONG.format(72), 72)]),
    ("list row id", "/n8n/send-list", list_row(id=text(200)), list_row(id=text(201)),
     [detail("sections.0.rows.0.id", TOO_LONG.format(200), 200)]),
    ("list row ids unique", "/n8n/send-list",
     list_body(sections=[{"title": "A", "rows": rows_of(1)}, {"title": "B", "rows": rows_of(1, 1)}]),
     list_body(sections=[{"title": "A", "rows": rows_of(1)}, {"title": "B", "rows": rows_of(1)}]),
     [detail("sections.1.rows.0.id", REPEATED)]),
    ("carousel cards minimum", "/n8n/send-carousel", carousel_body(), carousel_body(cards=[card(0)]),
     [detail("cards", TOO_FEW.format(2), 2)]),
    ("carousel cards maximum", "/n8n/send-carousel",
     carousel_body(cards=[card(i) for i in range(10)]), carousel_body(cards=[card(i) for i in range(11)]),
     [detail("cards", TOO_MANY.format(10), 10)]),
    ("carousel card buttons", "/n8n/send-carousel",
     carousel_body(cards=[card(i, buttonPayloads=["a"], urlParams=["b"]) for i in range(2)]),
     carousel_body(cards=[card(i, buttonPayloads=["a", "c"], urlParams=["b"]) for i in range(2)]),
     [detail("cards.0", CARD_BUTTONS, 2), detail("cards.1", CARD_BUTTONS, 2)]),
    ("carousel card body", "/n8n/send-carousel",
     carousel_body(cards=[card(0, bodyParams=[text(100), text(60)]), card(1, bodyParams=["a", "b"])]),
     carousel_body(cards=[card(0, bodyParams=[text(100), text(61)]), card(1, bodyParams=["a", "b"])]),
     [detail("cards.0.bodyParams", PARAMS_TOO_LONG.format(160), 160)]),
    ("carousel message body", "/n8n/send-carousel",
     carousel_body(bodyParams=[text(1000), text(24)]), carousel_body(bodyParams=[text(1000), text(25)]),
     [detail("bodyParams", PARAMS_TOO_LONG.format(1024), 1024)]),
    ("carousel same components", "/n8n/send-carousel",
     carousel_body(cards=[card(0), card(1)]),
     carousel_body(cards=[card(0), card(1, buttonPayloads=["x", "y"])]),
     [detail("cards.1.buttonPayloads", CARD_SHAPE.format(1))]),
    ("carousel param spaces", "/n8n/send-carousel",
     carousel_body(cards=[card(0, bodyParams=["R$    320"]), card(1)]),
     carousel_body(cards=[card(0, bodyParams=["R$     320"]), card(1)]),
     [detail("cards.0.bodyParams.0", PARAM_FORMAT)]),
    ("carousel param line break", "/n8n/send-carousel",
     carousel_body(bodyParams=["Ana"]), carousel_body(bodyParams=["Ana\nMaria"]),
     [detail("bodyParams.0", PARAM_FORMAT)]),
    ("carousel image url", "/n8n/send-carousel",
     carousel_body(), carousel_body(cards=[card(0, imageUrl="quarto.jpg"), card(1)]),
     [detail("cards.0.imageUrl", NOT_A_URL)]),
    ("carousel template name", "/n8n/send-carousel",
     carousel_body(templateName="hotel_quartos_v2"), carousel_body(templateName="Hotel Quartos"),
     [detail("templateName", TEMPLATE_NAME)]),
]


@pytest.mark.parametrize(
    ("path", "allowed", "refused", "details"),
    [case[1:] for case in LIMIT_CASES],
    ids=[case[0] for case in LIMIT_CASES],
)
async def test_limit_boundary(shared, guest, http, path, allowed, refused, details):
    messages_before = rows(shared.server, "SELECT count(*) AS n FROM messages")[0]["n"]

    refused_response, refused_sent = await send_and_capture(shared, http, path, refused)
    allowed_response, allowed_sent = await send_and_capture(shared, http, path, allowed)

    assert refused_response.status_code == 400
    assert refused_response.json() == {"error": INVALID_REQUEST, "code": "VALIDATION_ERROR", "details": details}
    assert refused_sent == []
    assert allowed_response.status_code == 200
    assert allowed_response.json()["status"] == "SENT"
    assert len(allowed_sent) == 1
    assert rows(shared.server, "SELECT count(*) AS n FROM messages")[0]["n"] == messages_before + 1


async def test_text_limit_counts_code_points_not_bytes(shared, guest, http):
    body = "👍" * 4096

    response, sent = await send_and_capture(shared, http, "/n8n/send-text", {"phone": PHONE, "body": body})

    assert len(body.encode("utf-8")) == 16384
    assert response.status_code == 200
    assert sent[0].json()["text"]["body"] == body


async def test_every_problem_reported_at_once(shared, guest, http):
    body = button_body(body="", footer=text(61), buttons=[{"id": "a", "title": text(21)}, {"id": "a", "title": "Não"}])

    response, sent = await send_and_capture(shared, http, "/n8n/send-buttons", body)

    assert response.status_code == 400
    assert response.json()["details"] == [
        detail("body", EMPTY),
        detail("buttons.0.title", TOO_LONG.format(20), 20),
        detail("buttons.1.id", REPEATED),
        detail("footer", TOO_LONG.format(60), 60),
    ]
    assert sent == []


async def test_wrong_types_name_their_fields(shared, guest, http):
    body = {"phone": PHONE, "body": 12, "buttons": [{"id": "a"}, 7], "colour": "azul"}

    response, sent = await send_and_capture(shared, http, "/n8n/send-buttons", body)

    assert response.status_code == 400
    assert response.json()["details"] == [
        {"field": "body", "message": "Deve ser um texto."},
        {"field": "buttons.0.title", "message": "Campo obrigatório."},
        {"field": "buttons.1", "message": "Deve ser um objeto."},
        {"field": "colour", "message": "Campo desconhecido."},
    ]
    assert sent == []
