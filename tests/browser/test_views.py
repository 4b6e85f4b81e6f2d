"""The console's other views in Chromium: twins (create, configure, use), Body telemetry, search, Mind.

Set PAGI_SCREENSHOTS=/some/dir to save a screenshot of each view there (tests/browser/conftest.py)."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Page, expect

from pagi.bus import Bus
from telemetry_agent.agent import publish_samples
from telemetry_agent.sampler import Sampler
from tool_worker.service import ToolWorker

from .conftest import snap
from .test_chat import WAIT, send

pytestmark = pytest.mark.browser


async def test_the_ops_center_shows_real_status(page: Page) -> None:
    status = page.get_by_test_id("global-status")
    await expect(status).to_contain_text("Services healthy")
    await expect(page.get_by_test_id("approvals-pending")).to_have_text("0")
    await send(page, "hello")
    await expect(page.locator("#messages li.twin")).to_contain_text("You said: hello", timeout=WAIT)
    await page.get_by_role("button", name="Generate Visual Evidence").click()
    await expect(page.get_by_test_id("evidence").locator("svg")).to_contain_text("chat.in")
    await expect(page.get_by_role("button", name="Render Video Brief")).to_be_disabled()
    await snap(page, "ops-center")


async def test_create_a_twin_from_a_blueprint_configure_it_and_chat_with_it(
    page: Page, tool_worker: ToolWorker
) -> None:
    await page.get_by_role("button", name="+ Create Twin").click()
    dialog = page.get_by_test_id("create-twin")
    await dialog.get_by_label("Name").fill("Night Owl")
    await dialog.get_by_label("Role").fill("Threat hunter")
    await dialog.get_by_label("Starting template").select_option(label="Threat Hunter")
    await expect(dialog.locator("pre.template-preview")).to_contain_text("directive: threat_hunter")
    await snap(page, "create-twin")
    await dialog.get_by_role("button", name="Create Twin").click()
    await expect(page).to_have_url(re.compile(r"/twins/night-owl$"), timeout=WAIT)
    await expect(page.get_by_test_id("twin-list")).to_contain_text("Night Owl")
    await expect(page.get_by_role("heading", name="Night Owl")).to_be_visible()
    # Its settings hold the blueprint; change the designation and commit.
    await page.get_by_role("button", name="Configure Agent").click()
    await expect(page.locator(".cm-content")).to_contain_text("directive: threat_hunter", timeout=WAIT)
    await snap(page, "configure-agent")
    await page.get_by_label("Designation").fill("Night-shift hunter")
    await page.get_by_label("always allow list_files").check(force=True)
    await page.get_by_role("button", name="Commit Manifest").click()
    await expect(page.get_by_role("status")).to_contain_text("Manifest committed", timeout=WAIT)
    await expect(page.get_by_test_id("twin-list")).to_contain_text("Night-shift hunter", timeout=WAIT)
    await snap(page, "twin-settings")
    # The planner uses the new twin and its settings: answers name it, and list_files runs unasked.
    await page.get_by_role("button", name="Open chat").click()
    await send(page, "hello owl")
    await expect(page.locator("#messages li.twin")).to_contain_text("this is night-owl", timeout=WAIT)
    await send(page, "list files")
    await expect(page.locator("#messages li.twin")).to_have_count(2, timeout=30_000)
    await expect(page.locator("#messages li.twin").last).not_to_have_class(re.compile("streaming"), timeout=30_000)
    await expect(page.get_by_test_id("approval-modal")).to_have_count(0)
    await expect(page.get_by_test_id("pipeline").locator(".badge").first).to_have_text("completed", timeout=WAIT)
    # And it can be deleted again.
    await page.get_by_role("button", name="Configure Agent").click()
    await page.get_by_role("button", name="Delete twin…").click()
    await page.get_by_role("button", name="Confirm: delete Night Owl").click()
    await expect(page).to_have_url(re.compile(r"/$"), timeout=WAIT)
    await expect(page.get_by_test_id("twin-list")).not_to_contain_text("Night Owl")


async def test_commit_shows_validation_messages(page: Page) -> None:
    await page.goto(page.url.rstrip("/") + "/twins/orchestrator/settings")
    await page.get_by_label("Codename").fill("")
    await page.get_by_role("button", name="Commit Manifest").click()
    await expect(page.get_by_test_id("problems")).to_contain_text("Codename is required.")
    await page.get_by_role("button", name="Discard Changes").click()
    await expect(page.get_by_label("Codename")).to_have_value("Orchestrator")


async def test_the_body_tab_charts_a_real_telemetry_sample(page: Page, bus: Bus) -> None:
    host = "browser-host"
    stopping = asyncio.Event()
    sampler = Sampler(host)
    task = asyncio.create_task(publish_samples(bus, stopping, sampler, interval_s=0.2))
    try:
        await page.get_by_role("tab", name="Body").click()
        section = page.get_by_test_id(f"host-{host}")
        await expect(section).to_be_visible(timeout=WAIT)
        await expect(section.locator(".badge")).to_have_text("LIVE")
        await expect(section.get_by_test_id("chart-percent").locator("canvas")).to_be_visible()
        await expect(section.get_by_test_id("cpu-value")).to_have_text(re.compile(r"^\d+(\.\d)?%$"), timeout=WAIT)
        await expect(page.get_by_test_id("telemetry-state")).to_have_text("LIVE")
        # The charts move: new samples keep arriving live.
        count = section.get_by_test_id("sample-count")
        first = await count.inner_text()
        await expect(count).not_to_have_text(first, timeout=WAIT)
        await snap(page, "body-telemetry")
    finally:
        stopping.set()
        await asyncio.wait_for(task, 5)
        sampler.close()


async def test_search_and_memory_say_when_the_memory_worker_is_away(page: Page) -> None:
    await page.get_by_role("link", name="Search Archive").click()
    box = page.get_by_label("Search the archive")
    await box.fill("s")
    await expect(page.get_by_test_id("search-meta")).to_contain_text("one more character")
    await box.fill("ssh")
    # No memory worker in this test: the page says so and shows no made-up hits.
    await expect(page.get_by_test_id("search-meta")).to_contain_text("Search failed", timeout=WAIT)
    await expect(page.locator("main")).to_contain_text("memory worker unavailable")
    await snap(page, "search")
    await page.get_by_role("tab", name="Mind").click()
    await expect(page.locator("aside")).to_contain_text("memory worker unavailable", timeout=WAIT)


async def test_a_prompt_change_shows_its_diff_and_its_version_can_be_rolled_back(page: Page) -> None:
    await send(page, "/improve You are terse. Answer in one line.")
    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_have_attribute("data-kind", "self_improve", timeout=WAIT)
    await expect(modal.get_by_test_id("diff").locator(".add")).to_contain_text(["You are terse. Answer in one line."])
    await modal.get_by_role("button", name="Authorize & Execute").click()
    await expect(page.locator("#messages li.twin").last).to_contain_text("now version", timeout=WAIT)
    await page.get_by_role("button", name="Configure Agent").click()
    await expect(page.locator(".cm-content")).to_contain_text("You are terse.", timeout=WAIT)
    versions = page.locator(".versions li")
    await expect(versions.filter(has=page.locator(".badge", has_text="current"))).to_have_count(1, timeout=WAIT)
    older = versions.filter(has=page.get_by_role("button", name="Roll back"))
    await expect(older).to_have_count(1)
    await older.get_by_role("button", name=re.compile(r"^v\d+$")).click()
    await expect(page.get_by_test_id("diff")).to_contain_text("You are terse.")
    await older.get_by_role("button", name="Roll back").click()
    await expect(page.get_by_role("status")).to_contain_text("Rolled back to prompt version", timeout=WAIT)
    await expect(page.locator(".cm-content")).not_to_contain_text("You are terse.", timeout=WAIT)


async def test_three_columns_fit_a_laptop_screen(page: Page) -> None:
    await page.set_viewport_size({"width": 1280, "height": 720})
    await expect(page.get_by_role("navigation", name="Navigation")).to_be_visible()
    await expect(page.get_by_role("complementary", name="Twin state")).to_be_visible()
    await expect(page.locator("#message")).to_be_in_viewport()
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    await snap(page, "laptop")


async def test_synthesize_patch_asks_to_build_and_shows_the_code(page: Page) -> None:
    await page.get_by_role("button", name="Synthesize Patch").click()
    await page.get_by_label("Tool name").fill("patch_probe")
    await page.get_by_role("button", name="Request build").click()
    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_have_attribute("data-kind", "build", timeout=WAIT)
    await expect(modal).to_contain_text("patch_probe")
    # The code, highlighted by the editor (read-only), once it has loaded.
    await expect(modal.locator(".cm-content")).to_contain_text("json.load(sys.stdin)", timeout=WAIT)
    await snap(page, "approval-build")
    await modal.get_by_role("button", name="Deny…").click()
    await modal.get_by_role("button", name="Confirm Deny").click()
    await expect(page.locator("#messages li.twin").last).to_contain_text("denied", timeout=WAIT)
