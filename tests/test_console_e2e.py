"""The attendant console in Debian's headless Chromium against the real server, fake Graph API and fake N8N.

One browser serves the whole module and each test opens its own contexts, so
cookies and sessions never leak between tests. Every test ends by checking that
no page logged an unexpected error or a Content-Security-Policy violation.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import re
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Route,
    async_playwright,
    expect,
)

from tests.support.attendants import Api, guest_writes, phone
from tests.support.browser import (
    PageLog,
    artifacts_dir,
    launch_chromium,
    log_in,
    logged_in_page,
    new_context,
    open_console,
    require_chromium,
    wait_for_notifications,
)
from tests.support.db import eventually, rows
from tests.support.fakes import load_fixture
from tests.support.media import jpeg, media_webhook, ogg_opus
from tests.support.webhooks import execute, new_wamid, text_message

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Chromium's lines while the browser is offline: the socket's reconnection attempts and failed requests.
OFFLINE = (
    re.compile(r"WebSocket connection to .* failed"),
    re.compile(r"net::ERR_INTERNET_DISCONNECTED"),
)
STATUS_FIXTURES = {
    "DELIVERED": "status-delivered.json",
    "READ": "status-read.json",
    "FAILED": "status-failed-131026.json",
}
# The pt-BR description of Meta's error 131026 (hotelbot/whatsapp/errors.py, translated in the .po file).
UNDELIVERABLE = "A mensagem não pôde ser entregue a este hóspede (número sem WhatsApp ou aplicativo desatualizado)."
COLUMNS = ("BOT", "OPEN", "IN_PROGRESS", "CLOSED")
# Counts the parsed response bodies by the last segment of their path ("read", "messages"). The console's code
# that uses a body runs in microtasks after the parse, so once a test sees the new count (in a later task),
# that code has run.
PARSE_COUNTER = """
(() => {
  window.__parsed = {};
  const json = Response.prototype.json;
  Response.prototype.json = async function () {
    const data = await json.call(this);
    const name = new URL(this.url).pathname.split("/").pop();
    window.__parsed[name] = (window.__parsed[name] || 0) + 1;
    return data;
  };
})();
"""
# Counts, per animation frame, the reads of the chat list's scrollHeight, each of which lays out the whole list.
LAYOUT_COUNTER = """
(() => {
  window.__listLayouts = {};
  let frame = 0;
  const next = () => { frame += 1; requestAnimationFrame(next); };
  requestAnimationFrame(next);
  const scrollHeight = Object.getOwnPropertyDescriptor(Element.prototype, "scrollHeight");
  Object.defineProperty(Element.prototype, "scrollHeight", {
    configurable: true,
    get() {
      if (this.dataset?.test === "messages") window.__listLayouts[frame] = (window.__listLayouts[frame] || 0) + 1;
      return scrollHeight.get.call(this);
    },
  });
})();
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as playwright:
        chromium = await launch_chromium(playwright)
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The test's HTTP client, on the module's event loop like the browser."""
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


@pytest.fixture
def api(server, http) -> Api:
    return Api(server, http, server.tenant)


@pytest_asyncio.fixture(loop_scope="module")
async def contexts(browser) -> AsyncIterator[list[tuple[BrowserContext, PageLog]]]:
    """A list to which a test appends its (context, log) pairs, all closed afterwards."""
    opened: list[tuple[BrowserContext, PageLog]] = []
    yield opened
    for context, _ in opened:
        await context.close()


async def context_for(browser: Browser, contexts: list, width: int = 1024, height: int = 768) -> tuple[BrowserContext, PageLog]:
    pair = await new_context(browser, width, height)
    contexts.append(pair)
    return pair


def card(page: Page, conversation_id: str) -> Locator:
    return page.locator(f"[data-test=card][data-conversation-id='{conversation_id}']")


def chat(page: Page, conversation_id: str) -> Locator:
    return page.locator(f"[data-test=chat][data-conversation-id='{conversation_id}']")


def message_with_text(page: Page, text: str) -> Locator:
    return page.locator("[data-test=message]").filter(has=page.locator("[data-test=message-text]", has_text=text))


async def open_chat(page: Page, conversation_id: str) -> Locator:
    """Click the conversation's card on the board and return the chat that opens."""
    await card(page, conversation_id).click()
    opened = chat(page, conversation_id)
    await expect(opened).to_be_visible()
    return opened


async def hold_responses(page: Page, pattern: str) -> tuple[asyncio.Event, asyncio.Event]:
    """Hold the responses of requests matching ``pattern``; return (fetched, release) events.

    ``fetched`` is set once the server has answered, and the page gets the response when ``release`` is set.
    """
    fetched, release = asyncio.Event(), asyncio.Event()

    async def hold(route: Route) -> None:
        response = await route.fetch()
        fetched.set()
        await release.wait()
        await route.fulfill(response=response)

    await page.route(pattern, hold)
    return fetched, release


async def mark_page(page: Page) -> None:
    """Set a flag that only survives as long as the page is not reloaded."""
    await page.evaluate("window.__hotelbotSamePage = true")


async def same_page(page: Page) -> bool:
    return await page.evaluate("window.__hotelbotSamePage === true")


async def escalate(api: Api, wa_id: str, reason: str, unit: str, priority: str = "HIGH") -> dict:
    response = await api.http.post(
        api.server.base_url + "/n8n/escalate",
        json={"phone": wa_id, "reason": reason, "hotelUnit": unit, "priority": priority},
        headers={"X-API-Key": api.tenant.api_key},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def post_status(api: Api, wamid: str, status: str) -> None:
    payload = copy.deepcopy(load_fixture(STATUS_FIXTURES[status]))
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = api.tenant.phone_number_id
    value["statuses"][0]["id"] = wamid
    response = await api.server.post_webhook(api.http, payload, api.tenant)
    assert response.status_code == 200, response.text


async def decoded_width(image: Locator) -> int:
    """Return the width in pixels of an <img> once the browser has decoded its file."""
    await image.evaluate("(img) => img.decode()")
    return await image.evaluate("(img) => img.naturalWidth")


async def send_reply(page: Page, text: str) -> Locator:
    """Type ``text`` in the open chat's composer, send it and return the outbound message once it shows."""
    await page.fill("[data-test=composer-input]", text)
    await page.click("[data-test=composer-send]")
    sent = message_with_text(page, text)
    await expect(sent).to_have_attribute("data-direction", "OUTBOUND")
    return sent


def wamid_of(api: Api, conversation_id: str, text: str) -> str:
    found = rows(
        api.server,
        "SELECT whatsapp_msg_id FROM messages WHERE conversation_id = ? AND direction = 'OUTBOUND' AND content = ?",
        (conversation_id, text),
    )
    assert len(found) == 1
    return found[0]["whatsapp_msg_id"]


async def guest_sends_media(api: Api, graph, conversation_id: str) -> None:
    """Post a real JPEG photo and a real Ogg/Opus voice note from the guest ``phone(1)`` and wait until both are stored."""
    photo, voice_note = jpeg(64), ogg_opus()
    graph.add_media("8101", photo, "image/jpeg")
    graph.add_media("8102", voice_note, "audio/ogg; codecs=opus")
    for fixture, media_id, content in (("inbound-image.json", "8101", photo), ("inbound-audio-voice.json", "8102", voice_note)):
        payload = media_webhook(fixture, media_id, content, new_wamid())
        payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = api.tenant.phone_number_id
        response = await api.server.post_webhook(api.http, payload, api.tenant)
        assert response.status_code == 200, response.text

    await eventually(lambda: len(rows(
        api.server, "SELECT 1 FROM messages WHERE conversation_id = ? AND media_status = 'READY'", (conversation_id,),
    )) == 2, timeout=15)


# -- login -------------------------------------------------------------------


async def test_login_wrong_then_right_password_and_reload(server, browser, contexts):
    context, log = await context_for(browser, contexts)
    page = await open_console(context, server)

    await page.fill("[data-test=login-email]", server.tenant.users["attendant_campos"])
    await page.fill("[data-test=login-password]", "senha-errada-999")
    await page.click("[data-test=login-submit]")
    error = page.locator("[data-test=login-error]")
    await expect(error).to_be_visible()
    assert await error.text_content() == "Credenciais inválidas"
    assert await page.locator("[data-test=board]").count() == 0

    await log_in(page, server.tenant.users["attendant_campos"])
    await expect(page.locator("[data-test=board]")).to_be_visible()
    assert await page.get_attribute("[data-test=connection]", "data-state") == "online"
    assert "Attendant Campos" in await page.text_content("[data-test=current-user]")

    await page.reload()
    await page.wait_for_selector("[data-test=connection][data-state=online]")
    await expect(page.locator("[data-test=board]")).to_be_visible()
    assert await page.locator("[data-test=login-email]").count() == 0
    assert "Attendant Campos" in await page.text_content("[data-test=current-user]")
    log.assert_clean()


async def test_login_shows_field_details(server, browser, contexts):
    context, log = await context_for(browser, contexts)
    page = await open_console(context, server)

    await page.fill("[data-test=login-email]", server.tenant.users["attendant_campos"])
    await page.fill("[data-test=login-password]", "curta")
    await page.click("[data-test=login-submit]")
    error = page.locator("[data-test=login-error]")
    await expect(error).to_have_text("Requisição inválida. Senha: Deve ter pelo menos 8 caractere(s).")
    assert await page.locator("[data-test=board]").count() == 0

    await log_in(page, server.tenant.users["attendant_campos"])
    await expect(page.locator("[data-test=board]")).to_be_visible()
    log.assert_clean(allowed=(re.compile(r"status of 400\b.*/auth/login\)$"),))


async def test_recorder_reports_csp_violation(server, browser, contexts):
    context, log = await context_for(browser, contexts)
    page = await open_console(context, server)

    await page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.__inlineRan = true";
        document.body.append(script);
    }""")
    await eventually(lambda: log.csp_violations)
    assert len(log.csp_violations) == 1
    assert log.csp_violations[0].startswith("script-src-elem blocked inline")
    assert await page.evaluate("window.__inlineRan === undefined") is True


# -- a guest's message in real time ------------------------------------------


async def test_guest_message_reaches_board_and_chat(server, api, browser, contexts):
    context, log = await context_for(browser, contexts)
    page = await logged_in_page(context, server, "attendant_campos")
    await mark_page(page)

    # Meta's timestamps count whole seconds and the server orders messages of the same second by their random ids,
    # so each message here gets its own second to make the card's last message certain.
    conversation_id = await guest_writes(
        api, "Quero reservar para sábado", wa_id=phone(21), name="Beatriz Mendes", at=time.time() - 60,
    )
    new_card = page.locator("[data-test=column-BOT]").locator(
        f"[data-test=card][data-conversation-id='{conversation_id}']"
    )
    await expect(new_card).to_be_visible()
    await expect(new_card.locator("[data-test=card-guest]")).to_have_text("Beatriz Mendes")
    await expect(new_card.locator("[data-test=card-last-message]")).to_have_text("Quero reservar para sábado")

    opened = await open_chat(page, conversation_id)
    await expect(opened.locator("[data-test=chat-guest]")).to_contain_text("Beatriz Mendes")
    await expect(opened.locator("[data-test=chat-status]")).to_have_attribute("data-status", "BOT")
    await expect(opened.locator("[data-test=chat-ia-lock]")).to_have_attribute("data-locked", "false")
    await expect(opened.locator("[data-test=chat-ia-lock]")).to_have_text("IA respondendo")
    await expect(message_with_text(page, "Quero reservar para sábado")).to_have_attribute("data-direction", "INBOUND")

    await guest_writes(api, "Somos dois adultos e uma criança", wa_id=phone(21), name="Beatriz Mendes")
    arrived = message_with_text(page, "Somos dois adultos e uma criança")
    await expect(arrived).to_be_visible()
    assert await arrived.get_attribute("data-direction") == "INBOUND"
    assert await arrived.get_attribute("data-type") == "TEXT"
    assert await page.locator("[data-test=message][data-direction=INBOUND]").count() == 2
    await expect(card(page, conversation_id).locator("[data-test=card-last-message]")).to_have_text(
        "Somos dois adultos e uma criança"
    )
    assert await same_page(page) is True
    log.assert_clean()


# -- escalations reach the right unit only -----------------------------------


async def test_escalation_alerts_only_its_unit(server, api, browser, contexts):
    campos_context, campos_log = await context_for(browser, contexts)
    ubatuba_context, ubatuba_log = await context_for(browser, contexts)
    campos = await logged_in_page(campos_context, server, "attendant_campos")
    ubatuba = await logged_in_page(ubatuba_context, server, "attendant_ubatuba")
    conversation_id = await guest_writes(api, "Preciso falar com alguém", wa_id=phone(31), name="Carlos Souza")
    await expect(card(campos, conversation_id)).to_be_visible()

    await escalate(api, phone(31), "Hóspede pediu um atendente", "Campos do Jordão")

    toast = campos.locator("[data-test=toast-alert]")
    await expect(toast).to_be_visible()
    await expect(toast).to_contain_text("Carlos Souza")
    await expect(toast).to_contain_text("Hóspede pediu um atendente")
    await expect(campos.locator("[data-test=escalation-badge]")).to_have_text("1")
    assert await wait_for_notifications(campos_log, 1) == [{
        "title": "Novo atendimento: Carlos Souza",
        "body": "Campos do Jordão · Hóspede pediu um atendente",
    }]
    moved = campos.locator("[data-test=column-OPEN]").locator(
        f"[data-test=card][data-conversation-id='{conversation_id}']"
    )
    await expect(moved).to_be_visible()
    await expect(moved.locator("[data-test=card-reason]")).to_have_text("Hóspede pediu um atendente")
    assert await campos.locator("[data-test=column-BOT]").locator(
        f"[data-test=card][data-conversation-id='{conversation_id}']"
    ).count() == 0

    # Events reach a socket in order: once Ubatuba's own escalation shows, the Campos one would have too.
    await guest_writes(api, "O ar-condicionado parou", wa_id=phone(32), name="Daniela Lima")
    await escalate(api, phone(32), "Ar-condicionado quebrado", "Ubatuba")
    assert await wait_for_notifications(ubatuba_log, 1) == [{
        "title": "Novo atendimento: Daniela Lima",
        "body": "Ubatuba · Ar-condicionado quebrado",
    }]
    ubatuba_toasts = ubatuba.locator("[data-test=toast-alert]")
    assert await ubatuba_toasts.count() == 1
    await expect(ubatuba_toasts).to_contain_text("Daniela Lima")
    await expect(ubatuba.locator("[data-test=escalation-badge]")).to_have_text("1")
    assert len(campos_log.notifications) == 1
    campos_log.assert_clean()
    ubatuba_log.assert_clean()


# -- assume, reply, ticks, close ---------------------------------------------


async def test_assume_reply_ticks_and_close(server, api, graph, browser, contexts):
    context, log = await context_for(browser, contexts)
    page = await logged_in_page(context, server, "attendant_campos")
    conversation_id = await guest_writes(api, "Vocês aceitam pets?", wa_id=phone(41), name="Eduardo Alves")
    await escalate(api, phone(41), "Pergunta sobre pets", "Campos do Jordão")
    await expect(page.locator("[data-test=column-OPEN]").locator(
        f"[data-test=card][data-conversation-id='{conversation_id}']"
    )).to_be_visible()

    opened = await open_chat(page, conversation_id)
    await expect(opened.locator("[data-test=chat-status]")).to_have_attribute("data-status", "OPEN")
    await page.click("[data-test=action-assume]")
    await expect(opened.locator("[data-test=chat-status]")).to_have_attribute("data-status", "IN_PROGRESS")
    await expect(opened.locator("[data-test=chat-status]")).to_have_text("Em atendimento")
    await expect(opened.locator("[data-test=chat-ia-lock]")).to_have_attribute("data-locked", "true")
    await expect(opened.locator("[data-test=chat-ia-lock]")).to_have_text("IA pausada — atendimento humano")
    await expect(opened.locator("[data-test=chat-assignee]")).to_contain_text("Attendant Campos")

    reply = "Aceitamos sim, pets de pequeno porte."
    sent = await send_reply(page, reply)
    ticks = sent.locator("[data-test=message-ticks]")
    await expect(ticks).to_have_attribute("data-status", "SENT")
    recorded = [request for request in graph.sends() if request.json().get("type") == "text"]
    assert len(recorded) == 1
    assert recorded[0].json()["text"]["body"] == reply
    assert recorded[0].json()["to"] == phone(41)

    wamid = wamid_of(api, conversation_id, reply)
    await post_status(api, wamid, "DELIVERED")
    await expect(ticks).to_have_attribute("data-status", "DELIVERED")
    await post_status(api, wamid, "READ")
    await expect(ticks).to_have_attribute("data-status", "READ")
    assert await message_with_text(page, reply).count() == 1

    second = "Qual é o porte do seu pet?"
    failed = await send_reply(page, second)
    await expect(failed.locator("[data-test=message-ticks]")).to_have_attribute("data-status", "SENT")
    await post_status(api, wamid_of(api, conversation_id, second), "FAILED")
    await expect(failed.locator("[data-test=message-ticks]")).to_have_attribute("data-status", "FAILED")
    await expect(failed.locator("[data-test=message-error]")).to_have_text(UNDELIVERABLE)
    await expect(ticks).to_have_attribute("data-status", "READ")

    await page.click("[data-test=action-close]")
    await expect(page.locator("[data-test=close-dialog]")).to_be_visible()
    await page.click("[data-test=close-confirm]")
    await expect(opened.locator("[data-test=chat-status]")).to_have_attribute("data-status", "CLOSED")
    await expect(page.locator("[data-test=column-CLOSED]").locator(
        f"[data-test=card][data-conversation-id='{conversation_id}']"
    )).to_have_count(1)
    assert rows(server, "SELECT status FROM conversations WHERE id = ?", (conversation_id,)) == [{"status": "CLOSED"}]
    log.assert_clean()


async def test_late_response_keeps_newer_state(server, api, browser, contexts):
    """A response computed before an escalation but received after its event must not undo it: the chat
    showed "IA respondendo" for a conversation whose AI was paused."""
    context, log = await context_for(browser, contexts)
    await context.add_init_script(PARSE_COUNTER)
    page = await logged_in_page(context, server, "attendant_campos")
    conversation_id = await guest_writes(api, "Tem alguém aí?", wa_id=phone(44), name="Paulo Reis")
    fetched, release = await hold_responses(page, "**/conversations/*/read")
    opened = await open_chat(page, conversation_id)
    await asyncio.wait_for(fetched.wait(), 10)

    await escalate(api, phone(44), "Hóspede quer falar com alguém", "Campos do Jordão")
    await expect(opened.locator("[data-test=chat-status]")).to_have_attribute("data-status", "OPEN")
    release.set()
    await page.wait_for_function("() => window.__parsed.read === 1")

    assert await opened.locator("[data-test=chat-status]").get_attribute("data-status") == "OPEN"
    assert await opened.locator("[data-test=chat-ia-lock]").get_attribute("data-locked") == "true"
    assert await opened.locator("[data-test=chat-reason]").text_content() == "Hóspede quer falar com alguém"
    log.assert_clean()


async def test_message_during_history_load_stays(server, api, browser, contexts):
    """A message whose event arrives while the history's first page is loading stays when that page, read
    before the message was stored, lands."""
    context, log = await context_for(browser, contexts)
    await context.add_init_script(PARSE_COUNTER)
    page = await logged_in_page(context, server, "attendant")
    conversation_id = await guest_writes(api, "Primeira", wa_id=phone(45), name="Rosa Lima", at=time.time() - 60)
    fetched, release = await hold_responses(page, f"**/conversations/{conversation_id}/messages?*")
    await open_chat(page, conversation_id)
    await asyncio.wait_for(fetched.wait(), 10)

    await guest_writes(api, "Segunda", wa_id=phone(45), name="Rosa Lima")
    await expect(message_with_text(page, "Segunda")).to_be_visible()
    release.set()
    await page.wait_for_function("() => window.__parsed.messages === 1")

    assert await page.locator("[data-test=message-text]").all_text_contents() == ["Primeira", "Segunda"]
    log.assert_clean()


async def test_status_during_history_load_applies(server, api, browser, contexts):
    """A delivery status whose event arrives while the history's first page is loading shows once the
    page, read before the status, lands."""
    conversation_id = await guest_writes(api, "Oi", wa_id=phone(46), name="Sara Nunes")
    sent = await api.call("POST", "/messages/send-text", "attendant", json={"conversationId": conversation_id, "content": "Olá, Sara!"})
    assert sent.status_code == 201, sent.text
    context, log = await context_for(browser, contexts)
    await context.add_init_script(PARSE_COUNTER)
    page = await logged_in_page(context, server, "attendant")
    await page.evaluate("""async () => {
        const { on } = await import("/app/js/events.js");
        window.__statuses = 0;
        on("server:message:status", () => { window.__statuses += 1; });
    }""")
    fetched, release = await hold_responses(page, f"**/conversations/{conversation_id}/messages?*")
    await open_chat(page, conversation_id)
    await asyncio.wait_for(fetched.wait(), 10)

    await post_status(api, wamid_of(api, conversation_id, "Olá, Sara!"), "READ")
    await page.wait_for_function("() => window.__statuses === 1")
    release.set()
    await page.wait_for_function("() => window.__parsed.messages === 1")

    ticks = message_with_text(page, "Olá, Sara!").locator("[data-test=message-ticks]")
    assert await ticks.get_attribute("data-status") == "READ"
    log.assert_clean()


async def test_toasts_leave_chat_header_visible(server, api, browser, contexts):
    context, log = await context_for(browser, contexts)
    page = await logged_in_page(context, server, "attendant_campos")
    conversation_id = await guest_writes(api, "Preciso de ajuda", wa_id=phone(43), name="Olga Matos")
    opened = await open_chat(page, conversation_id)

    await escalate(api, phone(43), "Hóspede pediu reembolso", "Campos do Jordão")
    await expect(opened.locator("[data-test=chat-reason]")).to_have_text("Hóspede pediu reembolso")
    await page.click("[data-test=action-assume]")
    await expect(opened.locator("[data-test=chat-status]")).to_have_attribute("data-status", "IN_PROGRESS")
    toasts = page.locator(".toast")
    await expect(toasts).to_have_count(2)

    for selector in ("chat-ia-lock", "chat-status", "chat-reason", "action-close", "composer"):
        covered = await boxes_overlap(page, "#toasts", f"[data-test={selector}]")
        assert covered is False, selector
    await page.click("[data-test=chat-back]")
    await expect(page.locator("[data-test=chat]")).to_have_count(0)
    assert await page.evaluate("getComputedStyle(document.getElementById('toasts')).top") == "64px"
    log.assert_clean()


async def boxes_overlap(page: Page, first: str, second: str) -> bool:
    first_box = await page.locator(first).bounding_box()
    second_box = await page.locator(second).bounding_box()
    assert first_box is not None
    assert second_box is not None
    return (
        first_box["x"] < second_box["x"] + second_box["width"]
        and second_box["x"] < first_box["x"] + first_box["width"]
        and first_box["y"] < second_box["y"] + second_box["height"]
        and second_box["y"] < first_box["y"] + first_box["height"]
    )


# -- hostile guest text ------------------------------------------------------


async def test_direction_controls_cannot_reorder_text(server, api, graph, browser, contexts):
    """A right-to-left override in a guest's name or file name is dropped, so it cannot reverse the
    escalation reason after the name or disguise a file's extension."""
    context, log = await context_for(browser, contexts)
    page = await logged_in_page(context, server, "attendant_campos")
    conversation_id = await guest_writes(api, "Quero meu dinheiro", wa_id=phone(1), name="\u202eRoberto Dias")
    await expect(card(page, conversation_id).locator("[data-test=card-guest]")).to_have_text("Roberto Dias")

    await escalate(api, phone(1), "Reembolso de 150 reais", "Campos do Jordão")
    await expect(page.locator("[data-test=toast-alert]")).to_have_text(
        "Atendimento pedido por Roberto Dias: Reembolso de 150 reais"
    )
    assert await wait_for_notifications(log, 1) == [{
        "title": "Novo atendimento: Roberto Dias",
        "body": "Campos do Jordão · Reembolso de 150 reais",
    }]

    document = b"%PDF-1.4\n%%EOF\n"
    graph.add_media("8201", document, "application/pdf")
    payload = media_webhook(
        "inbound-document.json", "8201", document, new_wamid(),
        filename="fatura\u202efdp.exe", caption="Segue a fatura\u202e 123",
    )
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = api.tenant.phone_number_id
    value["contacts"] = [{"profile": {"name": "\u202eRoberto Dias"}, "wa_id": phone(1)}]
    response = await api.server.post_webhook(api.http, payload, api.tenant)
    assert response.status_code == 200, response.text

    await open_chat(page, conversation_id)
    link = page.locator("[data-test=message-document]")
    await expect(link.locator(".file-name")).to_have_text("faturafdp.exe")
    assert await link.get_attribute("download") == "faturafdp.exe"
    caption = page.locator("[data-test=message][data-type=DOCUMENT] [data-test=message-text]")
    await expect(caption).to_have_text("Segue a fatura 123")
    await expect(page.locator("[data-test=chat-guest]")).to_have_text("Roberto Dias")
    log.assert_clean()


async def test_hostile_markup_stays_text(server, api, graph, browser, contexts):
    """Markup, script and javascript: links from a guest show as plain text and never run."""
    context, log = await context_for(browser, contexts)
    page = await logged_in_page(context, server, "attendant")
    name = '<img src=x onerror="window.__hostile=1">'
    text = '<script>window.__hostile=2</script> javascript:window.__hostile=3 https://exemplo.com/"><b>x</b>'
    conversation_id = await guest_writes(api, text, wa_id=phone(1), name=name, at=time.time() - 60)

    location = copy.deepcopy(load_fixture("inbound-location.json"))
    value = location["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = api.tenant.phone_number_id
    value["contacts"] = [{"profile": {"name": name}, "wa_id": phone(1)}]
    value["messages"][0].update({"id": new_wamid(), "timestamp": str(int(time.time()) - 30)})
    value["messages"][0]["location"] = {
        "latitude": -22.74, "longitude": -45.59, "name": "<b>Pousada</b>", "url": "javascript:window.__hostile=4",
    }
    response = await api.server.post_webhook(api.http, location, api.tenant)
    assert response.status_code == 200, response.text

    document = b"%PDF-1.4\n%%EOF\n"
    graph.add_media("8301", document, "application/pdf")
    payload = media_webhook(
        "inbound-document.json", "8301", document, new_wamid(),
        filename='<svg onload="window.__hostile=5">.pdf', caption="<i>legenda</i>",
    )
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = api.tenant.phone_number_id
    value["contacts"] = [{"profile": {"name": name}, "wa_id": phone(1)}]
    response = await api.server.post_webhook(api.http, payload, api.tenant)
    assert response.status_code == 200, response.text

    await expect(card(page, conversation_id).locator("[data-test=card-guest]")).to_have_text(name)
    await open_chat(page, conversation_id)
    await expect(page.locator("[data-test=chat-guest]")).to_have_text(name)
    await expect(page.locator("[data-test=message][data-type=TEXT] [data-test=message-text]")).to_have_text(text)
    await expect(page.locator("[data-test=message-location] strong")).to_have_text("<b>Pousada</b>")
    await expect(page.locator("[data-test=message-document] .file-name")).to_have_text('<svg onload="window.__hostile=5">.pdf')
    await expect(page.locator("[data-test=message][data-type=DOCUMENT] [data-test=message-text]")).to_have_text("<i>legenda</i>")

    links = await page.locator("[data-test=chat] a[href]").evaluate_all("(links) => links.map((link) => link.href)")
    assert links != []
    for link in links:
        assert link.startswith(("https://", server.base_url + "/api/media/")), link
    assert await page.locator("[data-test=chat] img, [data-test=chat] svg image, [data-test=chat] script, [data-test=chat] b").count() == 0
    assert await page.evaluate("window.__hostile === undefined") is True
    await expect(page.locator("[data-test=composer-input]")).to_be_enabled()
    log.assert_clean()


async def guest_burst(api: Api, wa_id: str, name: str, bodies: list[str]) -> None:
    """Post ``bodies`` as the guest's texts, 50 to a webhook as Meta batches them, one second apart."""
    start = int(time.time()) - len(bodies)
    for first in range(0, len(bodies), 50):
        payload = text_message(bodies[first], wa_id=wa_id, name=name, phone_number_id=api.tenant.phone_number_id)
        value = payload["entry"][0]["changes"][0]["value"]
        template = value["messages"][0]
        value["messages"] = [
            {**template, "id": new_wamid(), "timestamp": str(start + index), "text": {"body": bodies[index]}}
            for index in range(first, min(first + 50, len(bodies)))
        ]
        response = await api.server.post_webhook(api.http, payload, api.tenant)
        assert response.status_code == 200, response.text


async def test_message_burst_follows_bottom(server, api, browser, contexts):
    """A burst of 300 messages lands in order at the bottom of the open chat, and the list is laid out at
    most twice per frame, not once per message."""
    context, log = await context_for(browser, contexts)
    await context.add_init_script(LAYOUT_COUNTER)
    page = await logged_in_page(context, server, "attendant")
    conversation_id = await guest_writes(api, "Vou mandar várias", wa_id=phone(95), name="Irene Prado", at=time.time() - 400)
    await open_chat(page, conversation_id)
    await expect(message_with_text(page, "Vou mandar várias")).to_be_visible()
    await page.evaluate("window.__listLayouts = {}")

    bodies = [f"linha {index:03d}" for index in range(300)]
    await guest_burst(api, phone(95), "Irene Prado", bodies)

    await expect(message_with_text(page, "linha 299")).to_be_visible()
    texts = await page.locator("[data-test=message-text]").all_text_contents()
    assert texts[-300:] == bodies
    await page.wait_for_function(
        "() => { const list = document.querySelector('[data-test=messages]');"
        " return list.scrollHeight - list.scrollTop - list.clientHeight < 48; }"
    )
    assert await page.locator("[data-test=new-messages]").is_hidden()
    layouts = await page.evaluate("window.__listLayouts")
    assert max(layouts.values()) <= 2, layouts
    log.assert_clean()


# -- media -------------------------------------------------------------------


async def test_photo_and_voice_note_render(server, api, graph, http, browser, contexts):
    context, log = await context_for(browser, contexts)
    page = await logged_in_page(context, server, "attendant")
    conversation_id = await guest_writes(api, "Olha a foto do quarto", wa_id=phone(1), name="Ana Conceição")
    await guest_sends_media(api, graph, conversation_id)

    await open_chat(page, conversation_id)
    image = page.locator("[data-test=message][data-type=IMAGE] [data-test=message-image]")
    await expect(image).to_be_visible()
    assert await decoded_width(image) == 64

    audio = page.locator("[data-test=message][data-type=AUDIO] [data-test=message-audio]")
    await expect(audio).to_have_count(1)
    source = await audio.evaluate("(element) => element.currentSrc || element.src")
    assert source.startswith(server.base_url + f"/api/media/{server.tenant.id}/")
    answer = await http.get(source)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("audio/ogg")
    assert answer.content == ogg_opus()
    log.assert_clean()


@pytest.mark.parametrize("server_settings", [{"media_url_ttl": 2}])
async def test_expired_media_link_refreshed(server, api, graph, browser, contexts, server_settings):
    """A photo whose signed link has expired is read again through GET /messages/{id} and shown with a new link."""
    context, log = await context_for(browser, contexts)
    page = await logged_in_page(context, server, "attendant")
    conversation_id = await guest_writes(api, "Segue a foto", wa_id=phone(1), name="Bruno Lima")
    await guest_sends_media(api, graph, conversation_id)
    await open_chat(page, conversation_id)
    image = page.locator("[data-test=message][data-type=IMAGE] [data-test=message-image]")
    await expect(image).to_be_visible()
    first_link = await image.get_attribute("src")
    expires = int(re.search(r"expires=(\d+)", first_link).group(1))
    # The link's expiry is a wall-clock time: wait until it has passed.
    await asyncio.sleep(max(0.0, expires + 0.5 - time.time()))

    async with page.expect_response(lambda response: "/messages/" in response.url and response.request.method == "GET") as read:
        # The browser requests the file again, as a lazily loaded image does when scrolled into view.
        await image.evaluate("(img) => { img.src = img.src + '&again=1'; }")

    assert (await read.value).status == 200
    await expect(image).not_to_have_attribute("src", re.compile(f"expires={expires}"))
    assert await decoded_width(image) == 64
    log.assert_clean(allowed=(re.compile(r"status of 401 .*/api/media/.*&again=1\)$"),))


async def test_attach_photo_with_caption(server, api, graph, browser, contexts):
    context, log = await context_for(browser, contexts)
    page = await logged_in_page(context, server, "attendant_campos")
    conversation_id = await guest_writes(api, "Pode mandar a foto do quarto?", wa_id=phone(43), name="Fábio Souza")
    await open_chat(page, conversation_id)

    await page.set_input_files("[data-test=composer-file]", files=[
        {"name": "suite.jpg", "mimeType": "image/jpeg", "buffer": jpeg(48)}])
    await expect(page.locator("[data-test=composer-attachment-name]")).to_have_text("suite.jpg")
    await expect(page.locator("[data-test=composer-input]")).to_have_attribute("placeholder", "Legenda (opcional)")
    await page.fill("[data-test=composer-input]", "Suíte com vista para a serra")
    await page.click("[data-test=composer-send]")

    sent = page.locator("[data-test=message][data-type=IMAGE][data-direction=OUTBOUND]")
    await expect(sent).to_have_count(1)
    await expect(sent).to_contain_text("Suíte com vista para a serra")
    await expect(page.locator("[data-test=composer-attachment]")).to_be_hidden()
    await expect(page.locator("[data-test=composer-input]")).to_have_value("")
    image = sent.locator("[data-test=message-image]")
    assert await decoded_width(image) == 48
    uploads = [request for request in graph.requests if request.method == "POST" and request.path.endswith("/media")]
    assert len(uploads) == 1
    assert jpeg(48) in uploads[0].body
    images = [request.json() for request in graph.sends() if request.json().get("type") == "image"]
    assert len(images) == 1
    assert images[0]["image"]["caption"] == "Suíte com vista para a serra"
    assert images[0]["to"] == phone(43)
    assert rows(server, "SELECT type, content FROM messages WHERE conversation_id = ? AND direction = 'OUTBOUND'",
                (conversation_id,)) == [{"type": "IMAGE", "content": "Suíte com vista para a serra"}]
    log.assert_clean()


async def test_attachment_of_unsupported_type_explained(server, api, graph, browser, contexts):
    context, log = await context_for(browser, contexts)
    page = await logged_in_page(context, server, "attendant_campos")
    conversation_id = await guest_writes(api, "Segue o arquivo", wa_id=phone(44), name="Gisele Prado")
    await open_chat(page, conversation_id)

    await page.set_input_files("[data-test=composer-file]", files=[
        {"name": "fotos.zip", "mimeType": "application/zip", "buffer": b"PK\x03\x04 not really a zip"}])
    await page.click("[data-test=composer-send]")

    error = page.locator("[data-test=composer-error]")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("Tipo de arquivo não suportado: application/zip.")
    await expect(page.locator("[data-test=composer-attachment-name]")).to_have_text("fotos.zip")
    await page.click("[data-test=composer-attachment-remove]")
    await expect(page.locator("[data-test=composer-attachment]")).to_be_hidden()
    await expect(error).to_be_hidden()
    assert [request for request in graph.requests if request.path.endswith("/media")] == []
    assert rows(server, "SELECT count(*) AS n FROM messages WHERE conversation_id = ? AND direction = 'OUTBOUND'",
                (conversation_id,)) == [{"n": 0}]
    log.assert_clean(allowed=(re.compile(r"status of 400 .*/messages/send-media\)$"),))


async def test_closed_today_counts_from_hotel_midnight(server, browser, contexts):
    """"Closed today" starts at midnight in the tenant's time zone (America/Sao_Paulo), not the browser's (UTC here)."""
    context, log = await context_for(browser, contexts)
    urls: list[str] = []
    context.on("request", lambda request: urls.append(request.url))
    zone = ZoneInfo(rows(server, "SELECT time_zone FROM tenants WHERE id = ?", (server.tenant.id,))[0]["time_zone"])
    before = dt.datetime.now(zone)

    page = await logged_in_page(context, server, "admin")
    await expect(page.locator("[data-test=column-CLOSED]")).to_be_visible()

    after = dt.datetime.now(zone)
    midnights = {
        moment.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        for moment in (before, after)
    }
    closed_since = [parse_qs(urlsplit(url).query)["closedSince"][0] for url in urls if "closedSince=" in url]
    assert closed_since != []
    assert {value[:19] for value in closed_since} <= midnights
    log.assert_clean()


# -- the 24-hour window ------------------------------------------------------


async def test_closed_window_disables_composer(server, api, browser, contexts):
    context, log = await context_for(browser, contexts)
    page = await logged_in_page(context, server, "attendant")
    two_days_ago = time.time() - 48 * 3600
    conversation_id = await guest_writes(api, "Mensagem antiga", wa_id=phone(61), name="Fernanda Rocha", at=two_days_ago)

    await open_chat(page, conversation_id)
    explanation = page.locator("[data-test=composer-window-closed]")
    await expect(explanation).to_be_visible()
    await expect(explanation).to_contain_text("A janela de 24 horas para responder fechou em")
    await expect(explanation).to_contain_text("Agora só um modelo aprovado pelo WhatsApp alcança o hóspede.")
    await expect(page.locator("[data-test=composer-input]")).to_be_disabled()
    await expect(page.locator("[data-test=composer-send]")).to_be_disabled()
    await expect(page.locator("[data-test=action-template]")).to_be_visible()
    log.assert_clean()


# -- sessions that end elsewhere ---------------------------------------------


async def test_deactivated_user_sees_login(server, api, browser, contexts):
    """The server closes a deactivated user's socket: the open console must end the session, not wait offline."""
    context, log = await context_for(browser, contexts)
    page = await logged_in_page(context, server, "attendant_ubatuba")
    user_id = await api.user_id("attendant_ubatuba")

    response = await api.call("POST", f"/users/{user_id}/deactivate", "admin")
    assert response.status_code == 200, response.text

    await expect(page.locator("[data-test=login-email]")).to_be_visible()
    assert await page.locator("[data-test=board]").count() == 0
    assert await page.locator("[data-test=connection]").count() == 0
    log.assert_clean()


async def test_role_and_unit_change_redraws(server, api, browser, contexts):
    """An admin's change of role or unit closes the user's socket; the open console reloads the user."""
    context, log = await context_for(browser, contexts)
    page = await logged_in_page(context, server, "supervisor")
    await expect(page.locator("[data-test=current-user]")).to_have_text("Supervisor · Supervisor")
    user_id = await api.user_id("supervisor")

    response = await api.call("PATCH", f"/users/{user_id}", "admin", json={"role": "ATTENDANT", "hotelUnit": "Ubatuba"})
    assert response.status_code == 200, response.text

    await expect(page.locator("[data-test=current-user]")).to_have_text("Supervisor · Atendente · Ubatuba")
    await expect(page.locator("[data-test=connection]")).to_have_attribute("data-state", "online")
    await expect(page.locator("[data-test=filter-unit] option").first).to_have_text("Padrão: Ubatuba + sem unidade")
    log.assert_clean()


async def test_logout_ends_other_tabs(server, browser, contexts):
    context, log = await context_for(browser, contexts)
    first = await logged_in_page(context, server, "attendant_campos")
    second = await context.new_page()
    await second.goto(server.base_url + "/app/")
    await second.wait_for_selector("[data-test=connection][data-state=online]")

    await first.click("[data-test=logout]")

    await expect(first.locator("[data-test=login-email]")).to_be_visible()
    await expect(second.locator("[data-test=login-email]")).to_be_visible()
    assert await second.locator("[data-test=board]").count() == 0
    assert await second.locator("[data-test=connection]").count() == 0
    log.assert_clean()


async def test_only_locked_user_offers_unlock(server, api, browser, contexts):
    """Unlock shows, beside a "locked until" badge, only for a user locked out by failed logins."""
    locked_id = await api.user_id("attendant_campos")
    free_id = await api.user_id("attendant_ubatuba")
    execute(server, "UPDATE users SET failed_logins = 10, locked_until = '2099-01-01T15:30:00.000Z' WHERE id = ?", (locked_id,))
    context, log = await context_for(browser, contexts)
    page = await logged_in_page(context, server, "admin")

    await page.click("[data-test=nav-users]")

    locked = page.locator(f"[data-test=user-row][data-user-id='{locked_id}']")
    free = page.locator(f"[data-test=user-row][data-user-id='{free_id}']")
    await expect(locked.locator("[data-test=user-locked]")).to_have_text(re.compile(r"^Bloqueado até 01/01 \d\d:30$"))
    await expect(locked.locator("[data-test=user-unlock]")).to_have_count(1)
    await expect(free.locator("[data-test=user-edit]")).to_have_count(1)
    assert await free.locator("[data-test=user-unlock]").count() == 0
    assert await free.locator("[data-test=user-locked]").count() == 0
    assert await page.locator("[data-test=user-unlock]").count() == 1

    await locked.locator("[data-test=user-unlock]").click()

    await expect(locked.locator("[data-test=user-unlock]")).to_have_count(0)
    await expect(locked.locator("[data-test=user-locked]")).to_have_count(0)
    assert rows(server, "SELECT failed_logins, locked_until FROM users WHERE id = ?", (locked_id,)) == [
        {"failed_logins": 0, "locked_until": None}
    ]
    log.assert_clean()


# -- reconnection ------------------------------------------------------------


async def test_reconnects_after_restart_and_resyncs(server, api, browser, contexts):
    context, log = await context_for(browser, contexts)
    page = await logged_in_page(context, server, "attendant")
    await mark_page(page)
    # Meta's timestamps count whole seconds and the server orders messages of the same second by their random ids,
    # so each message here gets its own second to make the card's last message certain.
    conversation_id = await guest_writes(
        api, "Primeira mensagem", wa_id=phone(71), name="Gustavo Pereira", at=time.time() - 120,
    )
    await expect(card(page, conversation_id).locator("[data-test=card-last-message]")).to_have_text("Primeira mensagem")

    # Offline, the browser cannot reconnect once the server is back, so the next message arrives unseen.
    await context.set_offline(True)
    await asyncio.to_thread(server.stop)
    await page.wait_for_selector("[data-test=connection][data-state=offline]")
    await asyncio.to_thread(server.start)
    await guest_writes(api, "Escrevi enquanto estava fora", wa_id=phone(71), name="Gustavo Pereira", at=time.time() - 60)
    assert await page.get_attribute("[data-test=connection]", "data-state") == "offline"
    assert await card(page, conversation_id).locator("[data-test=card-last-message]").text_content() == "Primeira mensagem"

    await context.set_offline(False)
    await page.wait_for_selector("[data-test=connection][data-state=online]", timeout=15_000)
    await expect(card(page, conversation_id).locator("[data-test=card-last-message]")).to_have_text(
        "Escrevi enquanto estava fora"
    )

    await guest_writes(api, "Depois do reinício", wa_id=phone(71), name="Gustavo Pereira")
    await expect(card(page, conversation_id).locator("[data-test=card-last-message]")).to_have_text("Depois do reinício")
    assert await same_page(page) is True
    log.assert_clean(allowed=OFFLINE)


# -- screenshots and the layout at 1024 px -----------------------------------


async def test_screenshots_and_tablet_layout(server, api, graph, browser, contexts, tmp_path_factory, capsys):
    folder = artifacts_dir(tmp_path_factory.getbasetemp() / "artifacts")
    with capsys.disabled():
        print(f"\nconsole screenshots in {folder}")
    a_minute_ago = time.time() - 60
    conversation_id = await guest_writes(api, "Olha a foto do quarto", wa_id=phone(1), name="Ana Conceição", at=a_minute_ago)
    await guest_sends_media(api, graph, conversation_id)
    await guest_writes(api, "Oi, tudo bem?", wa_id=phone(81), name="Helena Costa")

    context, log = await context_for(browser, contexts)
    page = await open_console(context, server)
    await page.screenshot(path=folder / "login-1024.png")
    await log_in(page, server.tenant.users["admin"])
    await expect(card(page, conversation_id)).to_be_visible()
    await page.screenshot(path=folder / "board-1024.png")
    await assert_board_fits(page, 1024)

    await open_chat(page, conversation_id)
    image = page.locator("[data-test=message-image]")
    await expect(image).to_be_visible()
    await image.evaluate("(img) => img.decode()")
    await page.screenshot(path=folder / "chat-1024.png")
    await assert_inside_viewport(page, "[data-test=composer]", 1024, 768)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1024

    await page.click("[data-test=nav-dashboard]")
    await expect(page.locator("[data-test=stat-total]")).to_have_text("2")
    await page.screenshot(path=folder / "dashboard-1024.png")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1024

    await page.click("[data-test=nav-users]")
    await expect(page.locator("[data-test=user-row]")).to_have_count(5)
    await page.screenshot(path=folder / "users-1024.png")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1024

    wide_context, wide_log = await context_for(browser, contexts, 1440, 900)
    wide = await logged_in_page(wide_context, server, "admin")
    await expect(card(wide, conversation_id)).to_be_visible()
    await wide.screenshot(path=folder / "board-1440.png")
    await assert_board_fits(wide, 1440)
    await open_chat(wide, conversation_id)
    await expect(wide.locator("[data-test=board]")).to_be_visible()
    await wide.screenshot(path=folder / "board-chat-1440.png")
    await assert_inside_viewport(wide, "[data-test=composer]", 1440, 900)
    assert await wide.evaluate("document.documentElement.scrollWidth") <= 1440

    for name in ("login-1024", "board-1024", "chat-1024", "dashboard-1024", "users-1024", "board-1440", "board-chat-1440"):
        assert (folder / f"{name}.png").stat().st_size > 0
    log.assert_clean()
    wide_log.assert_clean()


async def assert_board_fits(page: Page, width: int) -> None:
    """Assert that the page does not scroll sideways and shows the four columns side by side inside ``width``."""
    assert await page.evaluate("document.documentElement.scrollWidth") <= width

    boxes = []
    for status in COLUMNS:
        column = page.locator(f"[data-test=column-{status}]")
        await expect(column).to_be_visible()
        boxes.append(await column.bounding_box())
    for box in boxes:
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width
    for left, right in zip(boxes, boxes[1:]):
        assert left["x"] + left["width"] <= right["x"]
        assert abs(left["y"] - right["y"]) < 1


async def assert_inside_viewport(page: Page, selector: str, width: int, height: int) -> None:
    box = await page.locator(selector).bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["y"] >= 0
    assert box["x"] + box["width"] <= width
    assert box["y"] + box["height"] <= height
