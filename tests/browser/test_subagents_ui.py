"""Twins working together, in the console, in real Chromium against the real stack (deterministic
planner): a sub-agent question (`/ask`) whose gated step opens the approval modal naming the chain
("asked by ops → reviewer"), the sub-job under its parent in the pipeline, the denial reaching the
parent's answer; a handoff (`/handoff`) said above the chat, the next message answered by the other
twin; a handoff to a twin outside the policy changes nothing. The Ops Center's fan-out sends one
directive to several twins at once, a session of its own per twin (each a real job of that twin in
KV pagi_jobs), and gathers their answers side by side, again after a reload (from the sessions'
replay); a directive without a twin, or without text, sends nothing. A tampered list of fan-outs in
the browser's storage is ignored, not fatal. Configure Agent sets whom a twin may ask; and the seed's
Multi-Agent Development Workflow (a coordinator asking three twins in turn, each gated step approved
in the modal) runs end to end."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from bus_schemas.twin import TwinWrite
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus
from records.approvals import ApprovalStore
from records.jobs import JobStore
from records.twins import TwinStore

from ..support import eventually
from .conftest import Edge, snap

pytestmark = pytest.mark.browser
WAIT = 15_000
TWINS = ("hunter", "scanner", "bystander")


async def make_twins(bus: Bus) -> None:
    store = await TwinStore.open(bus)
    for twin_id in TWINS:
        await store.create(twin_id, TwinWrite.model_validate({"codename": twin_id.title()}))


async def team(bus: Bus) -> None:
    """ops may ask reviewer (and hand over to it); outsider is in nobody's policy."""
    store = await TwinStore.open(bus)
    for twin_id, may_ask in (("reviewer", []), ("outsider", []), ("ops", ["reviewer"])):
        await store.create(twin_id, TwinWrite.model_validate({"codename": twin_id.title(), "may_ask": may_ask}))


async def chat_with(page: Page, twin_id: str, text: str) -> None:
    await page.locator(f"nav a[href='/twins/{twin_id}']").click()
    await expect(page.locator("#connection")).to_have_text("LIVE", timeout=WAIT)
    await page.fill("#message", text)
    await page.keyboard.press("Enter")


async def test_a_sub_agent_s_gated_step_asks_the_person_naming_the_chain_and_sits_under_its_parent(
    page: Page, edge: Edge, bus: Bus
) -> None:
    await team(bus)
    await page.reload()
    await expect(page.locator("nav a[href='/twins/ops']")).to_be_visible(timeout=WAIT)
    await page.get_by_role("tab", name="Pipeline").click()
    await chat_with(page, "ops", "/ask reviewer /memory release notes")

    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_have_attribute("data-kind", "memory", timeout=WAIT)
    await expect(page.get_by_test_id("approval-chain")).to_have_text("asked by ops → reviewer", timeout=WAIT)
    await expect(page.get_by_test_id("approval-query")).to_have_text("release notes")
    # The sub-job sits under the job that asked it, with its chain.
    sub = page.get_by_test_id("pipeline-subjob")
    await expect(sub).to_have_count(1, timeout=WAIT)
    await expect(sub.get_by_test_id("pipeline-chain")).to_have_text("ops → reviewer")
    parent = await sub.get_attribute("data-parent")
    await expect(page.locator(f"[data-testid=pipeline-job][data-job='{parent}']")).to_contain_text("/ask reviewer")
    await snap(page, "subagent-approval")

    await modal.get_by_role("button", name="Deny…").click()
    await modal.get_by_role("button", name="Confirm Deny").click()
    await expect(modal).to_have_count(0, timeout=WAIT)
    await expect(page.locator("#messages li.twin").last).to_contain_text("reviewer answered: A human", timeout=WAIT)
    await expect(page.locator("#messages li.twin").last).to_contain_text("denied")
    approvals = await ApprovalStore.open(bus)
    assert await approvals.pending(await session_of(page)) == []


async def test_a_handoff_is_shown_and_the_next_message_goes_to_the_other_twin(page: Page, edge: Edge, bus: Bus) -> None:
    await team(bus)
    await page.reload()
    await expect(page.locator("nav a[href='/twins/ops']")).to_be_visible(timeout=WAIT)
    # Outside the policy: refused, and the session stays with ops.
    await chat_with(page, "ops", "/handoff outsider")
    await expect(page.locator("#messages li.twin").last).to_contain_text(
        "is not among the twins ops may ask", timeout=WAIT
    )
    await expect(page.get_by_test_id("handoff-note")).to_have_count(0)

    await page.fill("#message", "/handoff reviewer needs a second pair of eyes")
    await page.keyboard.press("Enter")
    note = page.get_by_test_id("handoff-note")
    await expect(note).to_have_attribute("data-twin", "reviewer", timeout=WAIT)
    await expect(note).to_contain_text(
        "This session now talks to Reviewer (handed over by Ops: needs a second pair of eyes)"
    )
    await page.fill("#message", "hello again")
    await page.keyboard.press("Enter")
    last = page.locator("#messages li.twin").last
    await expect(last).to_contain_text("Hello, this is reviewer", timeout=WAIT)
    # The answer shows the twin that gave it.
    await expect(last.locator(".meta")).to_contain_text("Reviewer")
    await snap(page, "handoff")
    # A reload replays the session: the handoff is still said.
    await page.reload()
    await expect(page.get_by_test_id("handoff-note")).to_have_attribute("data-twin", "reviewer", timeout=WAIT)


async def session_of(page: Page) -> str:
    return (await page.get_by_test_id("session-id").inner_text()).strip()


async def open_fanout(page: Page) -> None:
    await expect(page.locator("nav a[href='/twins/scanner']")).to_be_visible(timeout=WAIT)
    await page.get_by_test_id("fanout-toggle").click()


async def test_one_directive_fans_out_to_the_twins_picked_and_their_answers_are_gathered(
    page: Page, edge: Edge, bus: Bus
) -> None:
    await make_twins(bus)
    await page.reload()
    await open_fanout(page)
    await page.locator("[data-testid=fanout-twin][value=hunter]").check()
    await page.locator("[data-testid=fanout-twin][value=scanner]").check()
    await page.get_by_test_id("fanout-directive").fill("overnight summary please")
    await page.get_by_test_id("fanout-send").click()

    answers = page.get_by_test_id("fanout-answer")
    await expect(answers).to_have_count(2, timeout=WAIT)
    for twin_id in ("hunter", "scanner"):
        card = page.locator(f"[data-testid=fanout-answer][data-twin={twin_id}]")
        await expect(card).to_have_attribute("data-state", "completed", timeout=WAIT)
        await expect(card.locator(".answer")).to_contain_text("You said: overnight summary please")
    await expect(page.get_by_test_id("fanout-progress")).to_contain_text("2 of 2 answered")
    await expect(page.locator("[data-testid=fanout-answer][data-twin=bystander]")).to_have_count(0)
    # Each twin's job is in the Ops Center's pipeline too.
    await page.get_by_role("tab", name="Pipeline").click()
    fanned = page.get_by_test_id("pipeline-fanout").locator("li")
    await expect(fanned).to_have_count(2)
    await expect(fanned.locator(".badge", has_text="completed")).to_have_count(2, timeout=WAIT)
    await snap(page, "fanout")

    # Each answer is a job of that twin, in a session of its own: read back from the planner's records.
    fanout_id = await page.get_by_test_id("fanout-result").get_attribute("data-fanout")
    assert fanout_id
    jobs = await JobStore.open(bus)
    for twin_id in ("hunter", "scanner"):
        session = f"fan-{fanout_id}-{twin_id}"
        href = await page.locator(f"[data-testid=fanout-answer][data-twin={twin_id}] a", has_text="logs").get_attribute(
            "href"
        )
        assert href and href.startswith("/jobs/")
        job_id = href.removeprefix("/jobs/").split("?", 1)[0]

        async def finished(session: str = session, job_id: str = job_id) -> bool:
            record = await jobs.get(session, job_id)
            return record is not None and record.status == "completed"

        await eventually(finished, timeout=10, what=f"{twin_id}'s fan-out job completed")
        record = await jobs.get(session, job_id)
        assert record is not None and record.twin_id == twin_id and record.message == "overnight summary please"

    # A reload gathers the same answers again, from the sessions' replay.
    await page.reload()
    await expect(page.locator("#connection")).to_have_text("LIVE", timeout=WAIT)
    await expect(page.get_by_test_id("fanout-progress")).to_contain_text("2 of 2 answered", timeout=WAIT)
    await expect(page.locator("[data-testid=fanout-answer][data-twin=hunter] .answer")).to_contain_text(
        "You said: overnight summary please"
    )


async def test_a_fanout_without_twins_or_text_sends_nothing_and_a_tampered_list_is_ignored(
    page: Page, edge: Edge, bus: Bus
) -> None:
    await make_twins(bus)
    await page.evaluate(
        "localStorage.setItem('pagi.fanouts', JSON.stringify([{id: 1}, {id: 'x', directive: 'd', twins: [{}]}, 0]))"
    )
    await page.reload()
    await expect(page.locator("#connection")).to_have_text("LIVE", timeout=WAIT)
    await expect(page.get_by_test_id("fanout-pick")).to_have_count(0)
    await open_fanout(page)
    await page.get_by_test_id("fanout-directive").fill("nobody picked")
    await page.get_by_test_id("fanout-send").click()
    await expect(page.get_by_test_id("fanout-problem")).to_have_text("pick at least one twin")
    await page.get_by_test_id("fanout-directive").fill("   ")
    await page.locator("[data-testid=fanout-twin][value=hunter]").check()
    await page.get_by_test_id("fanout-send").click()
    await expect(page.get_by_test_id("fanout-problem")).to_have_text("write the directive to send")
    await expect(page.get_by_test_id("fanout-result")).to_have_count(0)
    # Nothing reached the planner: no job of the twin exists.
    jobs = await JobStore.open(bus)
    assert [j for j in await jobs.all() if j.twin_id == "hunter"] == []


async def test_configure_agent_sets_the_twins_it_may_ask_and_then_the_ask_runs(
    page: Page, edge: Edge, bus: Bus
) -> None:
    await team(bus)
    twins = await TwinStore.open(bus)
    await page.goto(str(edge.make_url("/twins/reviewer/settings")))
    field = page.get_by_test_id("may-ask")
    await expect(field.locator("[data-testid=may-ask-twin][value=outsider]")).to_be_visible(timeout=WAIT)
    # A twin never lists itself.
    await expect(field.locator("[data-testid=may-ask-twin][value=reviewer]")).to_have_count(0)
    await field.locator("[data-testid=may-ask-twin][value=outsider]").check()
    await field.get_by_test_id("max-depth").fill("2")
    await page.get_by_role("button", name="Commit Manifest").click()
    await expect(page.get_by_text("No changes")).to_be_visible(timeout=WAIT)
    saved = await twins.get("reviewer")
    assert saved is not None and saved.may_ask == ["outsider"] and saved.max_depth == 2
    await chat_with(page, "reviewer", "/ask outsider are you there?")
    await expect(page.locator("#messages li.twin").last).to_contain_text(
        "outsider answered: Hello, this is outsider", timeout=WAIT
    )


async def test_the_multi_agent_development_workflow_runs_end_to_end_each_gated_step_approved(
    page: Page, edge: Edge, bus: Bus, memory_worker: MemoryWorker
) -> None:
    """The seed's scenario: a coordinator asks a code reviewer, a test generator and a documentation
    agent in turn; each gated step asks the person, naming the chain; the answers come back together."""
    store = await TwinStore.open(bus)
    team_ids = ("code-reviewer", "test-generator", "doc-agent")
    for twin_id in team_ids:
        await store.create(twin_id, TwinWrite.model_validate({"codename": twin_id.replace("-", " ").title()}))
    await store.create("coordinator", TwinWrite.model_validate({"codename": "Coordinator", "may_ask": list(team_ids)}))
    await page.reload()
    await expect(page.locator("nav a[href='/twins/coordinator']")).to_be_visible(timeout=WAIT)
    await page.get_by_role("tab", name="Pipeline").click()
    await page.locator("nav a[href='/twins/coordinator']").click()
    await expect(page.locator("#connection")).to_have_text("LIVE", timeout=WAIT)
    round_ = "\n".join([
        "/ask code-reviewer /memory code review checklist",
        "/ask test-generator write the tests for the parser",
        "/ask doc-agent /memory documentation style",
    ])  # fmt: skip
    await page.fill("#message", round_)
    await page.locator("#send").click()

    modal = page.get_by_test_id("approval-modal")
    for asked in ("code-reviewer", "doc-agent"):
        await expect(page.get_by_test_id("approval-chain")).to_have_text(
            f"asked by coordinator → {asked}", timeout=WAIT
        )
        await modal.get_by_test_id("approval-approve").click()
    await expect(modal).to_have_count(0, timeout=WAIT)
    answer = page.locator("#messages li.twin").last
    await expect(answer).to_contain_text("doc-agent answered", timeout=20_000)
    text = await answer.locator(".text").inner_text()
    assert text.index("code-reviewer") < text.index("test-generator") < text.index("doc-agent")
    assert "write the tests for the parser" in text
    subs = page.get_by_test_id("pipeline-subjob")
    await expect(subs).to_have_count(3, timeout=WAIT)
    for twin_id in team_ids:
        await expect(subs.filter(has_text=f"coordinator → {twin_id}")).to_have_count(1)
    await expect(subs.locator(".badge", has_text="completed")).to_have_count(3, timeout=WAIT)
    # The sub-jobs' own answers in the chat name the twin that gave each, not the coordinator.
    direct = page.locator("#messages li.twin", has_text="Hello, this is test-generator").first
    await expect(direct.locator(".meta")).to_contain_text("Test Generator", timeout=WAIT)
    assert text.index("code-reviewer") < text.index("test-generator")
    await expect(subs.first).to_contain_text("coordinator → code-reviewer")
    await snap(page, "multi-agent-workflow")
