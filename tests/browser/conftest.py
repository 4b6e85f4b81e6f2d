"""Browser tests: the built web UI in Debian's Chromium (Playwright for Python) against the real stack:
a nats-server, the edge, the planner, and the memory and tool workers, all in the test's event loop
(the fixtures of tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright

REPO = Path(__file__).resolve().parents[2]
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
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}

Edge = TestClient[web.Request, web.Application]


@pytest.fixture(scope="session")
def built_ui() -> Path:
    """The UI as `make run` builds it (a no-op when nothing changed)."""
    if shutil.which("npm") is None:
        pytest.fail("npm is not installed: the web UI cannot be built (install Node.js 20+ with npm)")
    result = subprocess.run(["make", "-s", "ui"], cwd=REPO, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"building the web UI failed:\n{result.stdout}\n{result.stderr}")
    return REPO / "web" / "dist"


@pytest.fixture
async def browser(built_ui: Path) -> AsyncIterator[Browser]:
    if not shutil.which("chromium"):
        pytest.fail("Debian's chromium is not installed (scripts/install-system-deps.sh installs it as root)")
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport=VIEWPORT)
    yield ctx
    await ctx.close()


@pytest.fixture
async def page(context: BrowserContext, edge: Edge) -> Page:
    """The console at / with a live socket."""
    from playwright.async_api import expect

    opened = await context.new_page()
    await opened.goto(str(edge.make_url("/")))
    await expect(opened.locator("#connection")).to_have_text("LIVE", timeout=10_000)
    return opened


async def snap(page: Page, name: str) -> None:
    """With PAGI_SCREENSHOTS=/some/dir, save a screenshot of the page there (for looking, not asserting)."""
    folder = os.environ.get("PAGI_SCREENSHOTS")
    if folder:  # Playwright creates the folder
        await page.screenshot(path=os.path.join(folder, f"{name}.png"))


async def signed_in(context: BrowserContext, edge: Edge, key: str) -> Page:
    """A new page of the console in keys mode, signed in with `key`, its socket live."""
    from playwright.async_api import expect

    opened = await context.new_page()
    await opened.goto(str(edge.make_url("/")))
    await opened.get_by_label("API key").fill(key)
    await opened.get_by_role("button", name="Sign in").click()
    await expect(opened.locator("#connection")).to_have_text("LIVE", timeout=15_000)
    return opened
