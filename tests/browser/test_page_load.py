"""Loading the console in Chromium is clean: no console errors and no failed requests (the favicon
was a 404 on every load), and the socket the console opens asks for the verbose frames."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, ConsoleMessage, Response, expect

from bus_schemas.web import VERBOSE_FRAMES_PROTOCOL

from .conftest import Edge

pytestmark = pytest.mark.browser
WAIT = 15_000


async def test_the_console_loads_with_no_errors_and_its_favicon(context: BrowserContext, edge: Edge) -> None:
    page = await context.new_page()
    errors: list[str] = []
    failed: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    def on_response(response: Response) -> None:
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(str(edge.make_url("/")))
    await expect(page.locator("#connection")).to_have_text("LIVE", timeout=WAIT)
    # The page names its icon (so the browser never falls back to a /favicon.ico that is not there),
    # and the edge serves it.
    href = await page.locator("link[rel=icon]").get_attribute("href")
    assert href is not None and href.startswith("/assets/"), href
    icon = await page.request.get(str(edge.make_url(href)))
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in await icon.text()
    # The console's socket asked for, and got, PAGI's verbose frames.
    protocol = await page.evaluate("window.pagi.socket.ws?.protocol ?? null")
    assert protocol == VERBOSE_FRAMES_PROTOCOL
    assert errors == [] and failed == [], (errors, failed)
    await page.close()
