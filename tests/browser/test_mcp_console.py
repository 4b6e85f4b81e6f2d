"""The console with MCP tools, in real Chromium against the real edge, planner and nats-server: the
approval modal shows the server, its tool, the arguments and the server's own description and hints
set apart as the server's (a hostile description is text: no markup runs or renders, and it approves
nothing); "always allow" pins the tool to the digest shown; the chat's tool menu lists the MCP tools
the twin may use; the MCP servers panel lists registered servers with their network plainly, and
an admin adds and removes one. The tools a server lists are written into KV as the MCP host writes
them (the host itself is tested in tests/mcp/test_host_*.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, BrowserContext, Page, expect

from bus_schemas.mcp import McpServerWrite, pagi_tool_name
from bus_schemas.streams import MCP_TOOLS, TWINS
from bus_schemas.twin import Twin
from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus, PullConsumer
from records import kvjson
from records.mcp_servers import McpServerStore
from records.twins import DEFAULT_TWIN_ID, TwinStore, twin_key

from ..mcp.conftest import BOB_KEY, ROOT_KEY
from ..mcp.test_policy_mcp_tools import HOSTILE, mcp_tool
from ..support import eventually
from .conftest import VIEWPORT, Edge, signed_in, snap

pytestmark = pytest.mark.browser
WAIT = 15_000
TIME = pagi_tool_name("time", "get_current_time")


async def allow_mcp(bus: Bus, entries: list[str]) -> None:
    await (await TwinStore.open(bus)).ensure_default()

    def change(current: Twin) -> Twin:
        return current.model_copy(update={"mcp_tools": entries})

    await kvjson.update(await bus.kv(TWINS), twin_key(DEFAULT_TWIN_ID), Twin, change)


async def test_the_modal_shows_the_servers_words_as_the_servers_and_always_pins_the_digest(
    page: Page, bus: Bus
) -> None:
    tool = mcp_tool("time", "get_current_time", HOSTILE, annotations={"readOnlyHint": True, "destructiveHint": False})
    await (await bus.kv(MCP_TOOLS)).put(tool.name, tool.model_dump_json().encode())
    await allow_mcp(bus, ["time/get_current_time"])
    alerts: list[str] = []
    page.on("dialog", lambda d: alerts.append(d.message))

    await page.fill("#message", f'/tool {TIME} {{"timezone": "Asia/Tokyo"}}')
    await page.keyboard.press("Enter")
    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_have_attribute("data-kind", "tool", timeout=WAIT)
    await expect(modal.get_by_test_id("approval-tool")).to_have_text(TIME)
    await expect(modal.get_by_test_id("approval-mcp-server")).to_have_text("time")
    await expect(modal.get_by_test_id("approval-mcp-tool")).to_have_text("get_current_time")
    await expect(modal.locator("pre.args")).to_contain_text('"timezone": "Asia/Tokyo"')
    words = modal.get_by_test_id("approval-mcp-description")
    await expect(words).to_have_text(HOSTILE)  # verbatim, as text
    await expect(words).to_have_attribute("data-from-server", "time")
    await expect(words.locator("img, b")).to_have_count(0)  # the markup is not markup
    await expect(modal.get_by_test_id("approval-mcp")).to_contain_text("What server time says about this tool")
    hints = modal.get_by_test_id("approval-mcp-hints")
    await expect(hints).to_contain_text("read-only: yes")
    await expect(hints).to_contain_text("destructive: no")
    await snap(page, "approval-mcp")
    assert alerts == []

    await modal.get_by_label("Always allow get_current_time of server time for this twin").check()
    await modal.get_by_role("button", name="Authorize & Execute").click()
    await expect(modal).to_have_count(0, timeout=WAIT)
    twins = await TwinStore.open(bus)

    async def pinned() -> bool:
        twin = await twins.get(DEFAULT_TWIN_ID)
        return twin is not None and twin.always_allow_pins.get(TIME) == tool.digest

    await eventually(pinned, timeout=15, what="the always-allow pinned to the digest shown")


async def test_the_tool_menu_lists_the_mcp_tools_the_twin_may_use(page: Page, bus: Bus) -> None:
    shown = mcp_tool("time", "get_current_time", "Current time <i>now</i>")
    hidden = mcp_tool("git", "git_reset", "Reset")
    for tool in (shown, hidden):
        await (await bus.kv(MCP_TOOLS)).put(tool.name, tool.model_dump_json().encode())
    await allow_mcp(bus, ["time/*"])
    await page.reload()
    await expect(page.locator("#connection")).to_have_text("LIVE", timeout=WAIT)
    await page.get_by_role("button", name="Tools ▴").click()
    entry = page.get_by_test_id("tool-menu-mcp")
    await expect(entry).to_have_count(1)
    await expect(entry).to_contain_text(TIME)
    await expect(entry).to_contain_text("MCP server time")
    await expect(entry).to_contain_text("time says: Current time <i>now</i>")
    await expect(entry.locator("i")).to_have_count(0)
    await expect(page.get_by_test_id("tool-menu")).not_to_contain_text("git__git_reset")
    await entry.get_by_role("menuitem").click()
    await expect(page.locator("#message")).to_have_value(f'/tool {TIME} {{"timezone":""}}')


async def test_the_mcp_servers_panel_lists_adds_and_removes(page: Page, bus: Bus) -> None:
    store = await McpServerStore.open(bus)
    for name in await store.names():
        await store.delete(name)
    await page.get_by_test_id("nav-mcp").click()
    panel = page.get_by_test_id("mcp-servers")
    await expect(panel.get_by_test_id("mcp-none")).to_be_visible(timeout=WAIT)
    form = panel.get_by_test_id("mcp-add")  # development mode: the one person is an admin
    await form.locator("input[name=name]").fill("clock")
    await form.locator("input[name=command]").fill("uvx")
    await form.locator("textarea[name=args]").fill("mcp-server-time\n--local-timezone=UTC")
    await form.get_by_role("button", name="Register").click()
    card = panel.locator("[data-testid=mcp-server][data-name=clock]")
    await expect(card.get_by_test_id("mcp-network")).to_have_text("no", timeout=WAIT)
    await expect(card.get_by_test_id("mcp-command")).to_have_text("uvx\nmcp-server-time\n--local-timezone=UTC")

    await form.locator("input[name=name]").fill("fetcher")
    await form.locator("input[name=command]").fill("uvx")
    await form.locator("textarea[name=args]").fill("mcp-server-fetch")
    await form.get_by_label("This server needs the network").check()
    await form.get_by_role("button", name="Register").click()
    fetcher = panel.locator("[data-testid=mcp-server][data-name=fetcher]")
    await expect(fetcher.get_by_test_id("mcp-network")).to_have_text("yes", timeout=WAIT)

    # Bad input: the edge's own error, naming what was wrong; nothing added.
    await form.locator("input[name=name]").fill("shell")
    await form.locator("input[name=command]").fill("sh -c")
    await form.get_by_role("button", name="Register").click()
    await expect(form.get_by_test_id("mcp-error")).to_contain_text("must be one program", timeout=WAIT)
    assert await store.names() == {"clock", "fetcher"}

    page.on("dialog", lambda d: d.accept())
    await card.get_by_test_id("mcp-remove").click()
    await expect(card).to_have_count(0, timeout=WAIT)
    assert await store.names() == {"fetcher"}


@pytest.fixture
async def keyed(bus: Bus, planner: list[PullConsumer], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Edge]:
    """The edge in keys mode: root an admin, bob a member."""
    monkeypatch.setenv("PAGI_API_KEYS", f"{ROOT_KEY}:root:admin,{BOB_KEY}:bob:member")
    monkeypatch.setenv("PAGI_RATE_LIMIT_BURST", "1000")
    app = make_app(EdgeSettings(PAGI_CHAT_TIMEOUT_S=10), bus=bus)
    async with TestClient(TestServer(app)) as client:
        yield client


async def on_mcp_view(context: BrowserContext, edge: Edge, key: str) -> Page:
    page = await signed_in(context, edge, key)
    await page.get_by_test_id("nav-mcp").click()
    return page


async def test_a_member_sees_the_servers_but_cannot_add_or_remove(browser: Browser, keyed: Edge, bus: Bus) -> None:
    store = await McpServerStore.open(bus)
    if await store.get("shared-clock") is None:
        write = McpServerWrite(name="shared-clock", transport="stdio", command="uvx", args=["mcp-server-time"])
        await store.create(write, "root")
    bob = await browser.new_context(viewport=VIEWPORT)
    root = await browser.new_context(viewport=VIEWPORT)
    try:
        member = await on_mcp_view(bob, keyed, BOB_KEY)
        panel = member.get_by_test_id("mcp-servers")
        card = panel.locator("[data-testid=mcp-server][data-name=shared-clock]")
        await expect(card.get_by_test_id("mcp-network")).to_have_text("no", timeout=WAIT)
        await expect(panel).to_contain_text("Only an admin may add or remove servers.")
        await expect(panel.get_by_test_id("mcp-add")).to_have_count(0)
        await expect(card.get_by_test_id("mcp-remove")).to_have_count(0)

        admin = await on_mcp_view(root, keyed, ROOT_KEY)
        await expect(admin.get_by_test_id("mcp-add")).to_be_visible(timeout=WAIT)
        await expect(admin.locator("[data-name=shared-clock]").get_by_test_id("mcp-remove")).to_be_visible()
    finally:
        await bob.close()
        await root.close()
    assert await store.get("shared-clock") is not None  # nothing was removed by looking
