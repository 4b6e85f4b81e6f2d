"""The web page in real Chromium: a newcomer types a message and gets the answer."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, async_playwright, expect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (scripts/install-system-deps.sh installs it as root)")
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


async def test_a_message_typed_in_the_page_is_answered(
    edge: TestClient[web.Request, web.Application], browser: Browser
) -> None:
    page = await browser.new_page()
    await page.goto(str(edge.make_url("/")))
    await expect(page.locator("#connection")).to_have_text("connected", timeout=10_000)
    await page.fill("#message", "hello from chromium")
    await page.keyboard.press("Enter")
    await expect(page.locator("#messages li.user")).to_have_text("hello from chromium")
    answer = page.locator("#messages li.assistant")
    await expect(answer).to_contain_text("You said: hello from chromium", timeout=10_000)
    await expect(page.locator("#activity")).to_contain_text("answered in")
