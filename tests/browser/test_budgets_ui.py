"""Budgets in the console, in real Chromium against the real stack: an admin sets a twin's daily token
budget in the Usage view's Budgets panel (a ceiling below the limit refused before anything is
stored), the twin's next LLM call (the planner's budget gate, a local server speaking the provider's
protocol, tests/fake_llm.py) asks a budget approval instead of calling the model, and the modal
shows the budget, what was spent, the estimate and the ceiling; "approve and raise" raises the
stored limit (a raise below the limit refused in the modal), "approve once" passes one call and
leaves the limit, a denial gets the twin's "budget is spent" answer with no model call; the panel
counts what the ledger counted. A member (second API key) sees the budgets but cannot set them,
nor pass the install's budget: the modal says who may and offers only the denial, and the edge
refuses an approval sent past the disabled buttons."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Locator, Page, expect

from bus_schemas.budgets import BudgetWrite
from bus_schemas.twin import TwinWrite
from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus, PullConsumer
from pagi.secrets import new_secret_key
from records.approvals import ApprovalStore
from records.budgets import BudgetStore
from records.twins import TwinStore

from ..fake_llm import FakeLLMServer, Reply
from ..mcp.conftest import BOB_KEY, ROOT_KEY
from ..support import eventually
from .conftest import VIEWPORT, Edge, signed_in, snap

pytestmark = pytest.mark.browser
WAIT = 15_000
TWIN = "budgeted"
SCOPE = f"twin:{TWIN}"


@pytest.fixture(autouse=True)
def provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGI_SECRET_KEY", new_secret_key())
    # The fake provider listens on loopback: allowed as an operator allows a local server.
    monkeypatch.setenv("PAGI_LLM_ALLOW_PRIVATE", "1")


async def llm_twin(bus: Bus, fake_llm: FakeLLMServer, twin_id: str = TWIN) -> None:
    settings = {"codename": twin_id, "provider": "openai", "model": "fake-model", "api_key": "sk-fake-" + "b" * 30,
                "base_url": fake_llm.base_url("openai")}  # fmt: skip
    await (await TwinStore.open(bus)).create(twin_id, TwinWrite.model_validate(settings))


def reply(content: str) -> Reply:
    return Reply(json.dumps({"action_type": "ActionResponse", "content": content}))


async def ask(page: Page, twin_id: str, text: str) -> None:
    """From the console's own links, not a reload: a reloaded page replays the session, approvals and
    their decisions, and a replayed approval's modal takes the focus for a moment."""
    await page.locator(f"nav a[href='/twins/{twin_id}']").click()
    await expect(page).to_have_url(re.compile(rf"/twins/{twin_id}$"))
    await expect(page.locator("#connection")).to_have_text("LIVE", timeout=WAIT)
    await page.fill("#message", text)
    await page.keyboard.press("Enter")


async def answered(page: Page, text: str) -> None:
    await expect(page.locator("#messages li.twin").last).to_contain_text(text, timeout=WAIT)


async def budget_modal(page: Page) -> None:
    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_have_attribute("data-kind", "budget", timeout=WAIT)


def row(page: Page, scope: str, period: str = "day") -> Locator:
    return page.locator(f"[data-testid=budget-row][data-scope='{scope}'][data-period={period}]")


async def test_a_twin_budget_set_in_the_console_asks_before_the_call_and_each_answer_does_what_it_says(
    page: Page, edge: Edge, bus: Bus, fake_llm: FakeLLMServer
) -> None:
    await llm_twin(bus, fake_llm)
    budgets = await BudgetStore.open(bus)
    await page.goto(str(edge.make_url("/usage")))
    panel = page.get_by_test_id("budgets-panel")
    await expect(panel.get_by_test_id("budgets-none")).to_be_visible(timeout=WAIT)

    await panel.get_by_test_id("budget-add").click()
    form = panel.get_by_test_id("budget-form")
    await form.get_by_test_id("budget-id").fill(TWIN)
    await form.get_by_test_id("budget-tokens").fill("50")
    await form.get_by_test_id("budget-ceiling-tokens").fill("20")
    await form.get_by_test_id("budget-save").click()
    await expect(form.get_by_test_id("budget-problems")).to_have_text("The token ceiling is below the token limit.")
    assert await budgets.all() == []
    # A twin id the scope pattern refuses: said in the form, nothing sent.
    await form.get_by_test_id("budget-ceiling-tokens").fill("")
    await form.get_by_test_id("budget-id").fill("no.dots")
    await form.get_by_test_id("budget-save").click()
    await expect(form.get_by_test_id("budget-problems")).to_contain_text("Twin: 1-64 characters")
    assert await budgets.all() == []
    await form.get_by_test_id("budget-id").fill(TWIN)
    await form.get_by_test_id("budget-save").click()
    await expect(row(page, SCOPE).get_by_test_id("budget-meter-text")).to_have_text("0 of 50 tokens", timeout=WAIT)
    stored = await budgets.get(SCOPE, "day")
    assert stored is not None and stored.tokens == 50 and stored.ceiling_tokens is None and stored.updated_by

    # Over the limit before the first call: the planner asks instead of calling the model.
    fake_llm.script(reply("Answered after the raise."), reply("Answered once."))
    await ask(page, TWIN, "what does this cost")
    await budget_modal(page)
    modal = page.get_by_test_id("approval-modal")
    await expect(modal.get_by_test_id("approval-budget-scope")).to_have_text(f"twin {TWIN}")
    await expect(modal.get_by_test_id("approval-budget-limit")).to_have_text("50 tokens")
    await expect(modal.get_by_test_id("approval-budget-spent")).to_have_text("0 tokens")
    await expect(modal.get_by_test_id("approval-budget-estimate")).to_have_text(re.compile(r"^≈ [1-9][\d,]* tokens$"))
    await expect(modal.get_by_test_id("approval-budget-ceiling")).to_have_text("none")
    assert fake_llm.requests == []
    await snap(page, "budget-approval")

    raise_to = modal.get_by_test_id("approval-raise-to")
    await raise_to.fill("40")
    await expect(modal.get_by_test_id("approval-raise-problem")).to_have_text(
        "The new limit must be above the current 50 tokens."
    )
    await expect(modal.get_by_test_id("approval-raise")).to_be_disabled()
    await raise_to.fill("100000")
    await modal.get_by_test_id("approval-raise").click()
    await answered(page, "Answered after the raise.")
    assert len(fake_llm.requests) == 1
    raised = await budgets.get(SCOPE, "day")
    assert raised is not None and raised.tokens == 100_000

    async def counted() -> int | None:
        [status] = await budgets.statuses([SCOPE])
        return status.spent_tokens or None

    spent = await eventually(counted, timeout=10, what="the call counted against the budget")
    assert spent is not None
    await page.get_by_test_id("nav-usage").click()
    meter = row(page, SCOPE).get_by_test_id("budget-meter")
    await expect(meter.get_by_test_id("budget-meter-text")).to_have_text(f"{spent:,} of 100,000 tokens", timeout=WAIT)
    await expect(meter).to_have_attribute("data-state", "ok")

    # Back to 50 in the panel: now over, and the bar says so.
    await row(page, SCOPE).get_by_test_id("budget-edit").click()
    await form.get_by_test_id("budget-tokens").fill("50")
    await form.get_by_test_id("budget-save").click()
    await expect(meter).to_have_attribute("data-state", "over", timeout=WAIT)
    await expect(meter.get_by_test_id("budget-meter-text")).to_contain_text(f"{spent:,} of 50 tokens")
    await snap(page, "budgets-panel")

    await ask(page, TWIN, "once more")
    await budget_modal(page)
    await expect(modal.get_by_test_id("approval-budget-spent")).to_have_text(f"{spent:,} tokens")
    await modal.get_by_test_id("approval-once").click()
    await answered(page, "Answered once.")
    assert len(fake_llm.requests) == 2
    once = await budgets.get(SCOPE, "day")
    assert once is not None and once.tokens == 50

    await ask(page, TWIN, "and again")
    await budget_modal(page)
    await modal.get_by_role("button", name="Deny…").click()
    await modal.get_by_role("button", name="Confirm Deny").click()
    await answered(page, f"budget of {SCOPE} is spent")
    await expect(page.get_by_test_id("approval-modal")).to_have_count(0)
    assert len(fake_llm.requests) == 2

    await page.get_by_test_id("nav-usage").click()
    await row(page, SCOPE).get_by_test_id("budget-remove").click()
    await expect(panel.get_by_test_id("budgets-none")).to_be_visible(timeout=WAIT)
    assert await budgets.get(SCOPE, "day") is None


@pytest.fixture
async def keyed(bus: Bus, planner: list[PullConsumer], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Edge]:
    """The edge in keys mode: root an admin, bob a member."""
    monkeypatch.setenv("PAGI_API_KEYS", f"{ROOT_KEY}:root:admin,{BOB_KEY}:bob:member")
    monkeypatch.setenv("PAGI_RATE_LIMIT_BURST", "1000")
    app = make_app(EdgeSettings(PAGI_CHAT_TIMEOUT_S=10), bus=bus)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_a_member_sees_the_budgets_but_cannot_set_them_nor_pass_the_installs(
    browser: Browser, keyed: Edge, bus: Bus, fake_llm: FakeLLMServer
) -> None:
    await llm_twin(bus, fake_llm, "shared")
    budgets = await BudgetStore.open(bus)
    await budgets.put("global", BudgetWrite(period="day", tokens=10), "root")
    await budgets.put("user:root", BudgetWrite(period="month", tokens=10**6), "root")
    bob = await browser.new_context(viewport=VIEWPORT)
    root = await browser.new_context(viewport=VIEWPORT)
    try:
        member = await signed_in(bob, keyed, BOB_KEY)
        await member.get_by_test_id("nav-usage").click()
        panel = member.get_by_test_id("budgets-panel")
        await expect(row(member, "global").get_by_test_id("budget-meter-text")).to_have_text(
            "0 of 10 tokens", timeout=WAIT
        )
        await expect(panel).to_contain_text("Only an admin may set budgets.")
        await expect(panel.get_by_test_id("budget-add")).to_have_count(0)
        await expect(panel.get_by_test_id("budget-edit")).to_have_count(0)
        # Another user's budget is not a member's to see.
        await expect(row(member, "user:root", "month")).to_have_count(0)

        fake_llm.script(reply("never asked"))
        await ask(member, "shared", "spend the install's tokens")
        await budget_modal(member)
        modal = member.get_by_test_id("approval-modal")
        await expect(modal.get_by_test_id("approval-budget-scope")).to_have_text("global")
        await expect(modal.get_by_test_id("approval-budget-who")).to_have_text(
            "Only an admin may pass or raise the budget of global: deny it, or ask an admin to decide."
        )
        await expect(modal.get_by_test_id("approval-once")).to_be_disabled()
        await expect(modal.get_by_test_id("approval-raise")).to_be_disabled()
        await expect(modal.get_by_test_id("approval-raise-to")).to_have_count(0)
        # Past the disabled buttons, straight to the edge: refused all the same, still pending.
        [record] = await (await ApprovalStore.open(bus)).pending(None)
        refused = await member.evaluate(
            """async (id) => {
                const body = JSON.stringify({approved: true, decided_by: "bob", changes: {limit: 1000000}});
                const headers = {"Content-Type": "application/json"};
                const res = await fetch(`/v1/approvals/${id}`, {method: "POST", headers, body});
                return [res.status, await res.text()];
            }""",
            record.approval_id,
        )
        assert refused[0] == 403 and "only by an admin" in refused[1]
        pending = await (await ApprovalStore.open(bus)).pending(None)
        assert [(p.kind, p.state) for p in pending] == [("budget", "pending")]
        await modal.get_by_role("button", name="Deny…").click()
        await modal.get_by_role("button", name="Confirm Deny").click()
        await answered(member, "budget of global is spent")
        assert fake_llm.requests == []

        admin = await signed_in(root, keyed, ROOT_KEY)
        await admin.get_by_test_id("nav-usage").click()
        await expect(row(admin, "user:root", "month")).to_be_visible(timeout=WAIT)
        await expect(row(admin, "global").get_by_test_id("budget-edit")).to_be_visible()
        await expect(admin.get_by_test_id("budget-add")).to_be_visible()
    finally:
        await bob.close()
        await root.close()
    assert {(b.scope, b.tokens) for b in await budgets.all()} == {("global", 10), ("user:root", 10**6)}
