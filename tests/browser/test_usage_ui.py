"""The console's Usage view, in real Chromium against the real stack: two real LLM calls made by the
planner through local servers speaking the providers' protocols (tests/fake_llm.py), one priced and
reported by the provider (Anthropic's stream reports usage), one unpriced and estimated (an
OpenAI-compatible stream that reports none); the planner's usage.llm events, the ledger consumer's
totals in KV pagi_usage, GET /v1/usage on the edge, and the view: totals (the estimated call marked,
the unpriced cost "unknown" or a lower bound, never a plain figure), the chart per day, the grouping
picker, an empty range, and the costliest session linked to its replay."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from playwright.async_api import Page, expect

from bus_schemas.streams import USAGE
from bus_schemas.twin import TwinWrite
from bus_schemas.usage import UsageTotal
from pagi.bus import Bus
from pagi.secrets import new_secret_key
from records.twins import TwinStore

from ..fake_llm import FakeLLMServer, Reply
from ..support import eventually
from .conftest import Edge, snap

pytestmark = pytest.mark.browser
WAIT = 15_000
PRICED = "usage-priced"  # anthropic claude-haiku-4-5: a shipped default price
UNPRICED = "usage-unpriced"  # a model no price table knows


@pytest.fixture(autouse=True)
def provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGI_SECRET_KEY", new_secret_key())
    # The fake provider listens on loopback: allowed as an operator allows a local server.
    monkeypatch.setenv("PAGI_LLM_ALLOW_PRIVATE", "1")


async def llm_twins(bus: Bus, fake_llm: FakeLLMServer) -> None:
    twins = await TwinStore.open(bus)
    for twin_id, provider, model in ((PRICED, "anthropic", "claude-haiku-4-5"), (UNPRICED, "openai", "fake-model")):
        settings = {"codename": twin_id, "provider": provider, "model": model, "api_key": "sk-fake-" + "k" * 30,
                    "base_url": fake_llm.base_url("anthropic" if provider == "anthropic" else "openai")}  # fmt: skip
        await twins.create(twin_id, TwinWrite.model_validate(settings))


async def chat(page: Page, edge: Edge, twin_id: str, text: str, answer: str) -> str:
    """Ask the twin from its page; the session it was asked in."""
    await page.goto(str(edge.make_url(f"/twins/{twin_id}")))
    await expect(page.locator("#connection")).to_have_text("LIVE", timeout=WAIT)
    await page.fill("#message", text)
    await page.keyboard.press("Enter")
    await expect(page.locator("#messages li.twin").last).to_contain_text(answer, timeout=WAIT)
    return (await page.get_by_test_id("session-id").inner_text()).strip()


def reply(content: str) -> Reply:
    return Reply(json.dumps({"action_type": "ActionResponse", "content": content}))


def dollars(text: str) -> float:
    return float(text.rsplit("$", 1)[1])


async def test_the_usage_view_shows_what_real_llm_calls_cost_and_links_the_costliest_session_to_its_replay(
    page: Page, edge: Edge, bus: Bus, fake_llm: FakeLLMServer
) -> None:
    await llm_twins(bus, fake_llm)
    fake_llm.script(reply("A priced answer from the model."), reply("An unpriced answer, tokens estimated."))
    priced = await chat(page, edge, PRICED, "what does this cost", "A priced answer from the model.")
    unpriced = await chat(page, edge, UNPRICED, "and this one", "An unpriced answer, tokens estimated.")
    assert len(fake_llm.requests) == 2

    kv = await bus.kv(USAGE)
    today = datetime.now(UTC).date().isoformat()

    async def counted() -> UsageTotal | None:
        total = await kv.get_model(f"{today}.all.all", UsageTotal)
        return total if total is not None and total.calls == 2 else None

    total = await eventually(counted, timeout=10, what="both LLM calls counted by the usage ledger")
    assert total is not None
    assert total.estimated_calls == 1 and total.unpriced_calls == 1
    assert total.cost is not None and total.cost > 0

    await page.get_by_test_id("nav-usage").click()
    await expect(page).to_have_url(re.compile(r"/usage$"))
    report = page.get_by_test_id("usage-report")
    await expect(report).to_be_visible(timeout=WAIT)
    await expect(page.get_by_test_id("usage-calls")).to_have_text("2")
    await expect(page.get_by_test_id("usage-estimated")).to_have_text("1 of 2 calls estimated")
    await expect(page.get_by_test_id("usage-input")).to_have_text(f"≈{total.input_tokens:,}")
    await expect(page.get_by_test_id("usage-output")).to_have_text(f"≈{total.output_tokens:,}")
    # One call had no price: the total is the priced part as a lower bound, and the card says why.
    cost = page.get_by_test_id("usage-cost")
    await expect(cost).to_have_text(re.compile(r"^≥ \$0\.0*[1-9]\d?$"))
    assert dollars(await cost.inner_text()) == pytest.approx(total.cost, rel=0.05)
    await expect(page.get_by_test_id("usage-cost-note")).to_have_text("1 of 2 calls without a known price")
    chart = page.get_by_test_id("usage-chart")
    await expect(chart.locator("canvas")).to_have_count(1)
    await expect(chart.locator(".u-legend")).to_contain_text("input tokens")
    await expect(chart.locator(".u-legend")).to_contain_text("cost")

    groups = page.get_by_test_id("usage-groups")
    await expect(groups.locator("tr", has_text=UNPRICED).locator("td").nth(4)).to_have_text("unknown")
    await expect(groups.locator("tr", has_text=UNPRICED).locator("td").nth(1)).to_contain_text("1 est.")
    await page.get_by_test_id("usage-by").select_option("model")
    await expect(groups.locator("th").first).to_have_text("model", timeout=WAIT)
    await expect(groups.locator("tr", has_text="openai/fake-model").locator("td").nth(4)).to_have_text("unknown")
    haiku = groups.locator("tr", has_text="anthropic/claude-haiku-4-5").locator("td").nth(4)
    await expect(haiku).to_have_text(re.compile(r"^\$0\.0*[1-9]\d?$"))
    await snap(page, "usage-view")

    top = page.get_by_test_id("usage-top-sessions").locator("tbody tr")
    await expect(top).to_have_count(2)
    await expect(top.first.locator("a")).to_have_text(priced)
    await expect(top.nth(1).locator("a")).to_have_text(unpriced)
    await expect(top.nth(1).locator("td").nth(4)).to_have_text("unknown")

    await page.get_by_label("From").fill("2025-01-01")
    await page.get_by_label("To").fill("2025-01-02")
    await expect(page.get_by_test_id("usage-empty")).to_have_text(
        "No LLM calls recorded between 2025-01-01 and 2025-01-02.", timeout=WAIT
    )
    await page.get_by_role("button", name="30 days").click()
    await expect(report).to_be_visible(timeout=WAIT)

    await top.first.locator("a").click()
    await expect(page).to_have_url(re.compile(rf"/sessions/{re.escape(priced)}$"))
    await expect(page.get_by_test_id("replay-state")).to_have_text("REPLAYED", timeout=WAIT)
    events = page.get_by_test_id("replay-events")
    await expect(events).to_contain_text("chat.in")
    await expect(events).to_contain_text("what does this cost")
    await expect(events).to_contain_text("usage.llm")
    await page.get_by_role("tab", name="Heart").click()
    await expect(page.get_by_role("tabpanel")).to_contain_text(f"session {priced}")
