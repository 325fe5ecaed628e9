"""Debian's headless Chromium driven by Playwright, for the console's end-to-end tests.

Playwright only drives the distribution's browser at ``CHROMIUM``: a browser
downloaded by a test tool would not install on the machines the product
ships to, so none is ever fetched. Each page records what it logged, the
Content-Security-Policy violations it saw and the browser notifications it
showed, so a test can fail on an error that the screen itself hides.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, expect

from tests.support.db import eventually
from tests.support.server import PASSWORD, ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
# Headless with no sandbox (tests run as root in containers), and nothing that reaches the internet.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# How long a test waits for the console to show something (milliseconds, as Playwright counts).
WAIT_MS = 10_000
expect.set_options(timeout=WAIT_MS)
# Chromium's line for a 401 response to a login with a wrong password, or to the refresh that tries to resume a
# session before anyone logged in. These are the only HTTP errors a page may log without failing its test.
EXPECTED_401 = re.compile(r"status of 401\b.*/auth/(login|refresh)\)$")
# Addresses a page may load: the server on loopback, and data and blob URLs it builds itself.
LOCAL_URL = re.compile(r"^(https?|wss?)://127\.0\.0\.1(:\d+)?/|^(data|blob):")

# Records CSP violations and replaces window.Notification with a recorder whose permission is "granted".
RECORDERS = """
(() => {
  document.addEventListener("securitypolicyviolation", (event) => {
    window.__hotelbotReportCsp(`${event.violatedDirective} blocked ${event.blockedURI || "inline code"}`
      + ` at ${event.sourceFile || "?"}:${event.lineNumber}`);
  });
  class RecordingNotification {
    static permission = "granted";
    static requestPermission() { return Promise.resolve("granted"); }
    constructor(title, options = {}) {
      this.title = title;
      this.body = options.body || "";
      window.__hotelbotNotified(this.title, this.body);
    }
    close() {}
  }
  Object.defineProperty(window, "Notification", { value: RecordingNotification, configurable: true, writable: true });
})();
"""


def require_chromium() -> None:
    """Skip the module when Chromium is not installed, but fail under CI, where a skip would hide the gap."""
    if CHROMIUM.is_file():
        return
    message = f"{CHROMIUM} is missing: install Debian's chromium package to run the console tests"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


async def launch_chromium(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)


@dataclasses.dataclass
class PageLog:
    """What the console's pages of one browser context did: console errors, uncaught errors, CSP violations,
    requests to any address but the server on loopback, and the browser notifications shown."""

    errors: list[str] = dataclasses.field(default_factory=list)
    csp_violations: list[str] = dataclasses.field(default_factory=list)
    outside_requests: list[str] = dataclasses.field(default_factory=list)
    notifications: list[dict[str, str]] = dataclasses.field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location.get("url", "")
            self.errors.append(f"{message.text} ({location})" if location else message.text)

    def on_url(self, url: str) -> None:
        if not LOCAL_URL.match(url):
            self.outside_requests.append(url)

    def on_csp_violation(self, description: str) -> None:
        self.csp_violations.append(description)

    def on_notification(self, title: str, body: str) -> None:
        self.notifications.append({"title": title, "body": body})

    def unexpected_errors(self, allowed: tuple[re.Pattern[str], ...] = ()) -> list[str]:
        """Return the console errors that are neither an expected 401 response nor match one of ``allowed``."""
        patterns = (EXPECTED_401, *allowed)
        return [error for error in self.errors if not any(pattern.search(error) for pattern in patterns)]

    def assert_clean(self, allowed: tuple[re.Pattern[str], ...] = ()) -> None:
        assert self.csp_violations == []
        assert self.outside_requests == []
        assert self.unexpected_errors(allowed) == []


async def new_context(browser: Browser, width: int = 1024, height: int = 768) -> tuple[BrowserContext, PageLog]:
    """Open an isolated context (own cookies) whose pages record errors, CSP violations and notifications.

    Functions exposed to the page reach Python through the browser's protocol, so the page's own
    Content-Security-Policy (no eval) applies to the console's code but not to this recording.
    """
    log = PageLog()
    context = await browser.new_context(viewport={"width": width, "height": height}, locale="pt-BR")
    context.set_default_timeout(WAIT_MS)
    await context.expose_function("__hotelbotReportCsp", log.on_csp_violation)
    await context.expose_function("__hotelbotNotified", log.on_notification)
    await context.add_init_script(RECORDERS)
    context.on("page", lambda page: _watch(page, log))
    return context, log


def _watch(page: Page, log: PageLog) -> None:
    page.on("console", log.on_console)
    page.on("pageerror", lambda error: log.errors.append(f"uncaught: {error}"))
    page.on("request", lambda request: log.on_url(request.url))
    page.on("websocket", lambda websocket: log.on_url(websocket.url))


async def open_console(context: BrowserContext, server: ServerProcess) -> Page:
    """Open a page on the server's root address (which redirects to the console) and wait for the login form."""
    page = await context.new_page()
    await page.goto(server.base_url + "/")
    await page.wait_for_selector("[data-test=login-email]")
    return page


async def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Submit the login form and wait until the console's socket is online."""
    await page.fill("[data-test=login-email]", email)
    await page.fill("[data-test=login-password]", password)
    await page.click("[data-test=login-submit]")
    await page.wait_for_selector("[data-test=connection][data-state=online]")


async def logged_in_page(context: BrowserContext, server: ServerProcess, label: str) -> Page:
    """Return a page of the console logged in as the first tenant's user ``label``, socket online."""
    page = await open_console(context, server)
    await log_in(page, server.tenant.users[label])
    return page


async def wait_for_notifications(log: PageLog, count: int) -> list[dict[str, str]]:
    """Wait until the context's pages have shown ``count`` browser notifications and return them all as [{title, body}]."""
    await eventually(lambda: len(log.notifications) >= count, timeout=WAIT_MS / 1000)
    return list(log.notifications)


def artifacts_dir(default: Path) -> Path:
    """Return (and create) the folder for screenshots: HOTELBOT_TEST_ARTIFACTS, else ``default``."""
    folder = Path(os.environ.get("HOTELBOT_TEST_ARTIFACTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
