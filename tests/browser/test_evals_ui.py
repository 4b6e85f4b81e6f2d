"""Evals in the console, in real Chromium against the real stack: a twin's recorded turn (its model a
local server speaking the provider's protocol, tests/fake_llm.py) made into eval sets from the Heart
tab (bad ids and checks refused before anything is sent), runs of a passing and a failing set with
the recorded reply (no model call), each case's outcome; the eval gate set in the twin's settings
(a pass rate out of range refused); a self-improvement of the gated twin asked with its eval pending
(approving held back while the eval runs), then shown beside its diff with the pass rate against
the required one, approved; a proposal that fails the eval denied by the gate, never approved. A
member (second API key) does not see a set made from another's session, and cannot make one for a
shared twin (only an admin changes it): the form says the edge's reason."""

from __future__ import annotations

import json
import re

import pytest
from playwright.async_api import Browser, Page, expect

from bus_schemas.approval import ApprovalRecord
from bus_schemas.evals import EvalCaseWrite, EvalCheck, EvalGate, EvalSetWrite
from bus_schemas.twin import TwinWrite
from pagi.bus import Bus
from pagi.secrets import new_secret_key
from records.approvals import ApprovalStore
from records.evals import EvalStore, capture_set
from records.jobs import JobStore
from records.twins import TwinStore

from ..fake_llm import FakeLLMServer, Reply
from ..mcp.conftest import BOB_KEY, ROOT_KEY
from ..support import eventually
from . import test_budgets_ui
from .conftest import VIEWPORT, Edge, signed_in, snap

pytestmark = pytest.mark.browser
keyed = test_budgets_ui.keyed  # the edge in keys mode: root an admin, bob a member
WAIT = 15_000
PROMPT = "You answer with digits."
PROPOSED = "Answer in French, in words."
WORSE = "Answer in French, never in digits."


@pytest.fixture(autouse=True)
def provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGI_SECRET_KEY", new_secret_key())
    # The fake provider listens on loopback: allowed as an operator allows a local server.
    monkeypatch.setenv("PAGI_LLM_ALLOW_PRIVATE", "1")


async def llm_twin(bus: Bus, fake_llm: FakeLLMServer, twin_id: str) -> None:
    settings = {"codename": twin_id, "provider": "openai", "model": "fake-model", "api_key": "sk-fake-" + "v" * 30,
                "base_url": fake_llm.base_url("openai"), "directive_logic": PROMPT}  # fmt: skip
    await (await TwinStore.open(bus)).create(twin_id, TwinWrite.model_validate(settings))


def answer(content: str) -> Reply:
    return Reply(json.dumps({"action_type": "ActionResponse", "content": content}))


def improve(prompt: str) -> Reply:
    return Reply(json.dumps({"action_type": "ActionSelfImprove", "new_prompt": prompt, "rationale": "be elegant"}))


async def chat(page: Page, edge: Edge, twin_id: str, text: str, reply: str) -> str:
    """Ask the twin from its page; the session it was asked in."""
    await page.goto(str(edge.make_url(f"/twins/{twin_id}")))
    await expect(page.locator("#connection")).to_have_text("LIVE", timeout=WAIT)
    await say(page, text, reply)
    return (await page.get_by_test_id("session-id").inner_text()).strip()


async def say(page: Page, text: str, reply: str) -> None:
    await page.fill("#message", text)
    await page.keyboard.press("Enter")
    await expect(page.locator("#messages li.twin").last).to_contain_text(reply, timeout=WAIT)


async def create_set(page: Page, set_id: str, checks: str) -> None:
    evals = page.get_by_test_id("evals")
    await evals.get_by_test_id("eval-new").click()
    form = evals.get_by_test_id("eval-create")
    await form.get_by_test_id("eval-set-id").fill(set_id)
    await form.get_by_test_id("eval-checks").fill(checks)
    await form.get_by_test_id("eval-create-save").click()
    await expect(evals.locator(f"[data-testid=eval-set][data-set={set_id}]")).to_be_visible(timeout=WAIT)


async def test_eval_sets_made_from_a_recorded_turn_in_the_heart_tab_pass_and_fail_on_the_recorded_reply(
    page: Page, edge: Edge, bus: Bus, fake_llm: FakeLLMServer
) -> None:
    twin_id = "evaluated"
    await llm_twin(bus, fake_llm, twin_id)
    fake_llm.script(answer("It is 4."))
    session = await chat(page, edge, twin_id, "what is 2+2?", "It is 4.")
    store = await EvalStore.open(bus)

    await page.get_by_role("tab", name="Heart").click()
    evals = page.get_by_test_id("evals")
    await expect(evals.get_by_test_id("evals-none")).to_be_visible(timeout=WAIT)
    await evals.get_by_test_id("eval-new").click()
    form = evals.get_by_test_id("eval-create")
    await expect(form.get_by_test_id("eval-session")).to_have_value(session)
    await form.get_by_test_id("eval-set-id").fill("not an id")
    await form.get_by_test_id("eval-checks").fill("contains:4\nmust_call")
    await form.get_by_test_id("eval-create-save").click()
    problems = form.get_by_test_id("eval-problems")
    await expect(problems).to_contain_text("Set id: 1-64 characters")
    await expect(problems).to_contain_text("Turn 1: “contains:4”: the kind is one of")
    await expect(problems).to_contain_text("Turn 1: “must_call”: must_call needs a value")
    assert await store.sets() == []
    # A session this person never had: the edge says so, nothing is stored.
    await form.get_by_test_id("eval-set-id").fill("digits")
    await form.get_by_test_id("eval-session").fill("no-such-session")
    await form.get_by_test_id("eval-checks").fill("regex:\\b4\\b")
    await form.get_by_test_id("eval-create-save").click()
    await expect(problems).to_be_visible(timeout=WAIT)
    assert await store.sets() == []
    await evals.get_by_role("button", name="Cancel").click()

    await create_set(page, "digits", "regex:\\b4\\b")
    await create_set(page, "words", "regex:four\nmust_not_call:command_exec")
    digits = await store.get("digits")
    assert digits is not None and digits.twin_id == twin_id
    assert [(c.session_id, c.message, c.answer) for c in digits.cases] == [(session, "what is 2+2?", "It is 4.")]

    card = evals.locator("[data-testid=eval-set][data-set=digits]")
    await card.get_by_role("button", name="digits").click()
    await card.get_by_test_id("eval-run").click()
    await expect(card.get_by_test_id("eval-result-line")).to_have_text(
        "1 of 1 passed (100%) · current prompt 100%", timeout=WAIT
    )
    await expect(card.get_by_test_id("eval-case")).to_have_attribute("data-verdict", "pass")
    await expect(card.get_by_test_id("eval-case")).to_contain_text("what is 2+2?")
    await expect(card.get_by_test_id("eval-case")).to_contain_text("same as current")

    card = evals.locator("[data-testid=eval-set][data-set=words]")
    await card.get_by_role("button", name="words").click()
    await card.get_by_test_id("eval-run").click()
    await expect(card.get_by_test_id("eval-result-line")).to_have_text(
        "0 of 1 passed (0%) · current prompt 0%", timeout=WAIT
    )
    case = card.get_by_test_id("eval-case")
    await expect(case).to_have_attribute("data-verdict", "fail")
    await expect(case).to_contain_text("✗ regex:four")
    await expect(case).to_contain_text("✓ must_not_call:command_exec")
    await snap(page, "evals-heart")
    # Both runs answered from the recorded reply: the model was asked once, for the chat itself.
    assert len(fake_llm.requests) == 1
    [stored] = await store.results("words")
    assert (stored.passed, stored.failed, stored.llm_calls) == (0, 1, 0) and stored.replayed_calls >= 1


async def self_improve_record(bus: Bus, session: str, state: str) -> ApprovalRecord:
    approvals = await ApprovalStore.open(bus)

    async def probe() -> ApprovalRecord | None:
        for key in await approvals.kv.keys(f"{session}.*"):
            record = await approvals.kv.get_model(key, ApprovalRecord)
            if record is not None and record.kind == "self_improve" and record.state == state:
                return record
        return None

    found = await eventually(probe, timeout=20, what=f"a {state} self-improve approval")
    assert found is not None
    return found


async def test_the_eval_gate_set_in_settings_shows_the_eval_on_the_self_improve_approval_and_holds_a_failing_one(
    page: Page, edge: Edge, bus: Bus, fake_llm: FakeLLMServer
) -> None:
    twin_id = "gated"
    await llm_twin(bus, fake_llm, twin_id)
    twins = await TwinStore.open(bus)
    # The gate first (its set made from the twin's first turn below), as a person may name it ahead.
    await page.goto(str(edge.make_url(f"/twins/{twin_id}/settings")))
    gate = page.get_by_test_id("eval-gate")
    await gate.get_by_test_id("eval-gate-set").fill("not an id")
    await expect(gate.get_by_test_id("eval-gate-problem")).to_contain_text("Eval set: 1-64 characters")
    await gate.get_by_test_id("eval-gate-set").fill("digits")
    await gate.get_by_test_id("eval-gate-rate").fill("150")
    await expect(gate.get_by_test_id("eval-gate-problem")).to_have_text(
        "Minimum pass rate: a percentage from 0 to 100."
    )
    await page.get_by_role("button", name="Commit Manifest").click()
    await expect(page.get_by_test_id("problems")).to_contain_text("Eval gate: Minimum pass rate")
    unchanged = await twins.get(twin_id)
    assert unchanged is not None and unchanged.eval_gate is None
    await gate.get_by_test_id("eval-gate-rate").fill("90")
    await expect(gate.get_by_test_id("eval-gate-problem")).to_have_count(0)
    await expect(gate.get_by_test_id("eval-gate-missing")).to_contain_text("No eval set digits yet")
    await page.get_by_role("button", name="Commit Manifest").click()
    await expect(page.get_by_text("No changes")).to_be_visible(timeout=WAIT)
    saved = await twins.get(twin_id)
    assert saved is not None and saved.eval_gate == EvalGate(set_id="digits", min_pass_rate=0.9)

    fake_llm.script(answer("It is 4."))
    session = await chat(page, edge, twin_id, "what is 2+2?", "It is 4.")
    case = EvalCaseWrite(session_id=session, checks=[EvalCheck(kind="regex", value=r"\b4\b")])
    write = EvalSetWrite(set_id="digits", twin_id=twin_id, cases=[case])
    captured = await capture_set(await JobStore.open(bus), write, "tester", await ApprovalStore.open(bus))
    assert await (await EvalStore.open(bus)).create(captured)
    await page.get_by_role("tab", name="Heart").click()
    await expect(page.get_by_test_id("eval-gate-note")).to_have_text(
        "Self-improvements are run against digits, and need a pass rate of at least 90%."
    )

    # The proposal; the gate's run of it (slow: the modal waits for it); the answer after approving.
    slow = Reply(json.dumps({"action_type": "ActionResponse", "content": "Quatre (4)."}), delay_s=3)
    fake_llm.script(improve(PROPOSED), slow, answer("Prompt changed."))
    await page.fill("#message", "improve yourself")
    await page.keyboard.press("Enter")
    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_have_attribute("data-kind", "self_improve", timeout=WAIT)
    await expect(modal.get_by_test_id("diff")).to_contain_text(PROPOSED)
    shown = modal.get_by_test_id("approval-eval")
    await expect(shown).to_have_attribute("data-tone", re.compile("^(waiting|running)$"))
    await expect(modal.get_by_test_id("approval-approve")).to_be_disabled()
    await expect(shown).to_have_attribute("data-tone", "ok", timeout=WAIT)
    await expect(modal.get_by_test_id("approval-eval-text")).to_have_text(
        "1 of 1 passed (100%) · needs ≥ 90% · current prompt 100% · ok"
    )
    await snap(page, "self-improve-eval")
    await modal.get_by_test_id("approval-approve").click()
    await expect(page.locator("#messages li.twin").last).to_contain_text("Prompt changed.", timeout=WAIT)
    changed = await twins.get(twin_id)
    assert changed is not None and changed.directive_logic == PROPOSED
    approved = await self_improve_record(bus, session, "approved")
    assert approved.eval is not None and approved.eval.ok is True

    # Below the pass rate: the gate denies it; the person is never offered it to approve.
    fake_llm.script(improve(WORSE), answer("C'est quatre."), answer("I keep my prompt."))
    await say(page, "improve yourself again", "I keep my prompt.")
    await expect(page.get_by_test_id("approval-modal")).to_have_count(0)
    denied = await self_improve_record(bus, session, "denied")
    assert denied.decided_by == "eval-gate" and denied.eval is not None and denied.eval.ok is False
    kept = await twins.get(twin_id)
    assert kept is not None and kept.directive_logic == PROPOSED


async def test_a_member_sees_no_set_made_from_anothers_session_and_cannot_change_a_shared_twins_evals(
    browser: Browser, keyed: Edge, bus: Bus, fake_llm: FakeLLMServer
) -> None:
    twin_id = "shared"
    await llm_twin(bus, fake_llm, twin_id)
    store = await EvalStore.open(bus)
    root = await browser.new_context(viewport=VIEWPORT)
    bob = await browser.new_context(viewport=VIEWPORT)
    try:
        admin = await signed_in(root, keyed, ROOT_KEY)
        fake_llm.script(answer("It is 4."), answer("It is 6."))
        await admin.locator(f"nav a[href='/twins/{twin_id}']").click()
        await say(admin, "what is 2+2?", "It is 4.")
        await admin.get_by_role("tab", name="Heart").click()
        await create_set(admin, "roots", "regex:\\b4\\b")

        member = await signed_in(bob, keyed, BOB_KEY)
        await member.locator(f"nav a[href='/twins/{twin_id}']").click()
        await say(member, "what is 3+3?", "It is 6.")
        await member.get_by_role("tab", name="Heart").click()
        evals = member.get_by_test_id("evals")
        # The set holds root's conversation: not bob's to read.
        await expect(evals.get_by_test_id("evals-none")).to_be_visible(timeout=WAIT)
        await evals.get_by_test_id("eval-new").click()
        form = evals.get_by_test_id("eval-create")
        await form.get_by_test_id("eval-set-id").fill("bobs")
        await form.get_by_test_id("eval-checks").fill("regex:6")
        await form.get_by_test_id("eval-create-save").click()
        await expect(form.get_by_test_id("eval-problems")).to_contain_text("only an admin may change it", timeout=WAIT)
        assert [s.set_id for s in await store.sets()] == ["roots"]
    finally:
        await root.close()
        await bob.close()
