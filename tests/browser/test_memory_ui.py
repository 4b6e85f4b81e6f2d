"""Memory under review in the console (issue 20): a twin's proposed memory edited in the approval modal
before it is approved, citations under an answer that open the memory with its provenance, and the
Mind view's memory list (open, edit, pin, forget)."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import pytest
from playwright.async_api import Page, expect

from bus_schemas import ChatOut, Envelope, new_id
from bus_schemas.chat import SourceMemory
from bus_schemas.subjects import APPROVE_DECISION, CHAT_OUT
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus

from ..support import ObserveFactory, eventually
from .conftest import Edge, snap
from .test_chat import WAIT, send, session_of

pytestmark = pytest.mark.browser


async def save(edge: Edge, user: str, session: str, text: str, source: str) -> dict[str, Any]:
    """A memory saved as the console's "Save to Memory" saves one (POST /v1/memory)."""
    res = await edge.post(
        "/v1/memory",
        json={"text": text, "session_id": session, "source": source},
        headers={"X-User-Id": user},
    )
    assert res.status == 201, await res.text()
    saved: dict[str, Any] = await res.json()
    return saved


async def test_a_proposed_memory_is_edited_in_the_modal_and_approved_with_the_change(
    page: Page, edge: Edge, observe: ObserveFactory, memory_worker: MemoryWorker
) -> None:
    await send(page, "/remember the VPN gateway is vpn-2")
    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_have_attribute("data-kind", "remember", timeout=WAIT)
    text = modal.get_by_test_id("approval-text")
    await expect(text).to_have_value("the VPN gateway is vpn-2")
    await expect(modal.get_by_test_id("approval-why")).to_have_text("asked with /remember")
    await expect(modal.get_by_test_id("approval-kb")).to_be_visible()
    await expect(modal.get_by_test_id("approval-namespace")).to_be_visible()
    await expect(modal.get_by_test_id("approval-always")).not_to_be_checked()
    await expect(modal).to_contain_text("Always allow memories in namespace default for this twin")
    # An emptied text cannot be approved.
    await text.fill("")
    await expect(modal.get_by_role("button", name="Authorize & Execute")).to_be_disabled()
    await text.fill("the VPN gateway is vpn-3 since March")
    await snap(page, "approval-remember")
    session = await session_of(page)
    decisions = await observe(f"{APPROVE_DECISION}.{session}")
    await modal.get_by_role("button", name="Authorize & Execute").click()
    await expect(modal).to_have_count(0, timeout=WAIT)
    # The decision carries what the person changed, and only that (the namespace and KB were left).
    (decision,) = await decisions.wait_count(APPROVE_DECISION, 1)
    assert decision.body.approved is True
    assert decision.body.always is False
    assert decision.body.changes is not None
    assert decision.body.changes.model_dump(exclude_none=True) == {"text": "the VPN gateway is vpn-3 since March"}
    # What is remembered is the edited text, never the proposed one.
    await expect(page.get_by_test_id("pipeline").locator(".badge").first).to_have_text("completed", timeout=WAIT)
    user = await page.evaluate("window.pagi.user")

    async def found() -> list[dict[str, Any]]:
        res = await edge.get("/v1/memory/search?q=VPN+gateway&namespace=default&k=5", headers={"X-User-Id": user})
        hits: list[dict[str, Any]] = (await res.json())["results"]
        return [h for h in hits if "VPN gateway" in h["text"]]

    hits = await eventually(found, timeout=WAIT / 1000, what="the remembered memory in a search")
    assert [h["text"] for h in hits] == ["the VPN gateway is vpn-3 since March"]


async def test_citations_show_under_an_answer_and_open_the_memory(
    page: Page, edge: Edge, bus: Bus, memory_worker: MemoryWorker
) -> None:
    session = await session_of(page)
    user = await page.evaluate("window.pagi.user")
    saved = await save(edge, user, session, "pump 3 restarts on its own after a power loss", "runbook.pdf")
    # The answer cites a page of a document, and a memory remembered from a session (the planner's
    # citations are SourceMemory; sent here as the planner sends an answer, onto chat.out).
    cited = [
        SourceMemory(
            id=saved["id"],
            text="pump 3 restarts on its own after a power loss",
            score=0.91,
            namespace="default",
            kb="mind",
            source="runbook.pdf",
            page=12,
            document_id=None,
            session_id=session,
        ),
        SourceMemory(
            id=str(uuid.uuid4()),
            text="an older note",
            score=0.42,
            namespace="default",
            kb="mind",
            source=None,
            page=None,
            document_id=None,
            session_id="s-earlier",
        ),
    ]
    body = ChatOut(content="Pump 3 restarts by itself after a power loss.", is_final=True, source_memories=cited)
    await bus.publish(Envelope[ChatOut](type=CHAT_OUT, session_id=session, job_id=new_id(), body=body))
    answer = page.locator("#messages li.twin").last
    citations = answer.get_by_test_id("citation")
    await expect(citations).to_have_count(2, timeout=WAIT)
    await expect(citations.nth(0)).to_have_text("runbook.pdf p. 12")
    await expect(citations.nth(1)).to_have_text("session s-earlier")
    await snap(page, "citations")
    await citations.nth(0).click()
    panel = page.get_by_test_id("memory-panel")
    await expect(panel).to_be_visible()
    await expect(panel.get_by_test_id("memory-text")).to_have_text("pump 3 restarts on its own after a power loss")
    await expect(panel.get_by_test_id("prov-source")).to_have_text("runbook.pdf")
    await expect(panel.get_by_test_id("prov-saved-by")).to_have_text(user)
    await expect(panel).to_contain_text("default/mind")
    await snap(page, "memory-panel")
    await page.keyboard.press("Escape")
    await expect(panel).to_have_count(0)
    # A cited memory that is no longer there says so instead of failing silently.
    await citations.nth(1).click()
    await expect(panel.get_by_test_id("memory-error")).to_contain_text("not there", timeout=WAIT)
    await panel.get_by_role("button", name="Close").click()
    await expect(panel).to_have_count(0)
    await expect(page.locator("#messages li.twin").last).to_contain_text(re.compile("Pump 3 restarts"))


async def test_the_mind_view_lists_pages_filters_edits_pins_and_forgets_memories(
    page: Page, edge: Edge, memory_worker: MemoryWorker
) -> None:
    session = await session_of(page)
    user = await page.evaluate("window.pagi.user")
    notes = [f"maintenance note {i:02d}: check filter F{i}" for i in range(22)]
    await asyncio.gather(*(save(edge, user, session, text, "shift-log") for text in notes))
    target = await save(edge, user, session, "the spare pump key hangs in cabinet B", "handover.txt")
    await page.get_by_role("tab", name="Mind").click()
    listed = page.get_by_test_id("memory-list").get_by_test_id("memory-item")
    # 23 memories, 20 a page: the next page holds the other 3.
    await expect(listed).to_have_count(20, timeout=WAIT)
    await page.get_by_test_id("memory-next").click()
    await expect(listed).to_have_count(3, timeout=WAIT)
    await expect(page.get_by_test_id("memory-next")).to_be_disabled()
    await page.get_by_test_id("memory-prev").click()
    await expect(listed).to_have_count(20, timeout=WAIT)
    # Filtered by source: the handover note alone.
    await page.get_by_test_id("filter-source").fill("handover")
    await page.get_by_test_id("filter-apply").click()
    await expect(listed).to_have_count(1, timeout=WAIT)
    await expect(listed.first).to_contain_text("the spare pump key hangs in cabinet B")
    await snap(page, "mind-memories")
    await listed.first.click()
    panel = page.get_by_test_id("memory-panel")
    await expect(panel.get_by_test_id("memory-text")).to_have_text(
        "the spare pump key hangs in cabinet B", timeout=WAIT
    )
    await expect(panel.get_by_test_id("prov-source")).to_have_text("handover.txt")
    # Edited: a new version with a new id; the earlier text is kept in its history.
    await panel.get_by_test_id("memory-edit").click()
    await panel.get_by_test_id("memory-edit-text").fill("the spare pump key hangs in cabinet C")
    await panel.get_by_test_id("memory-save").click()
    await expect(panel.get_by_test_id("memory-text")).to_have_text(
        "the spare pump key hangs in cabinet C", timeout=WAIT
    )
    await expect(panel).not_to_have_attribute("data-memory", target["id"])
    await expect(panel.get_by_test_id("memory-history")).to_contain_text("the spare pump key hangs in cabinet B")
    await expect(panel.get_by_test_id("prov-version")).to_have_text("2")
    new_id = await panel.get_attribute("data-memory")
    assert new_id
    # Pinned, and found by the pinned filter.
    await panel.get_by_test_id("memory-pin").click()
    await expect(panel.get_by_test_id("memory-pinned")).to_be_visible(timeout=WAIT)
    await expect(panel.get_by_test_id("memory-pin")).to_have_text("Unpin")
    await panel.get_by_role("button", name="Close").click()
    await page.get_by_test_id("filter-source").fill("")
    await page.get_by_test_id("filter-pinned").check()
    await page.get_by_test_id("filter-apply").click()
    await expect(listed).to_have_count(1, timeout=WAIT)
    await expect(listed.first).to_contain_text("cabinet C")
    await expect(listed.first).to_contain_text("pinned")
    # Forgotten, after a confirmation: gone from the list and from the edge.
    await listed.first.click()
    await panel.get_by_test_id("memory-forget").click()
    await expect(panel.get_by_test_id("memory-forget-note")).to_be_visible()
    await panel.get_by_test_id("memory-forget-confirm").click()
    await expect(panel).to_have_count(0, timeout=WAIT)
    await expect(page.get_by_role("status")).to_contain_text("Forgotten")
    await expect(page.get_by_test_id("memory-list")).to_contain_text("No memories match.", timeout=WAIT)
    gone = await edge.get(f"/v1/memory/{new_id}", headers={"X-User-Id": user})
    assert gone.status == 404


async def test_always_allowing_memories_in_a_namespace_skips_the_next_question_and_is_revoked_in_the_policy(
    page: Page, edge: Edge, memory_worker: MemoryWorker
) -> None:
    await send(page, "/remember the night shift starts at 22:00")
    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_have_attribute("data-kind", "remember", timeout=WAIT)
    await modal.get_by_label("Always allow memories in namespace default for this twin").check()
    await modal.get_by_role("button", name="Authorize & Execute").click()
    await expect(page.get_by_role("status")).to_contain_text("always allowed", timeout=WAIT)
    await expect(page.get_by_test_id("pipeline").locator(".badge").first).to_have_text("completed", timeout=WAIT)
    # The next memory in that namespace is stored without asking.
    await send(page, "/remember the day shift starts at 06:00")
    await expect(page.locator("#messages li.twin").last).to_contain_text("Remembered in default/", timeout=WAIT)
    await expect(modal).to_have_count(0)
    # The policy shows it, and revoking it makes the twin ask again.
    await page.get_by_role("button", name="Configure Agent").click()
    await expect(page.get_by_test_id("always-remember")).to_contain_text("default", timeout=WAIT)
    await page.get_by_role("button", name="ask again for memories in default").click()
    await page.get_by_role("button", name="Commit Manifest").click()
    await expect(page.get_by_role("status")).to_contain_text("Manifest committed", timeout=WAIT)
    await expect(page.get_by_test_id("always-remember-none")).to_be_visible(timeout=WAIT)
    # Revoked in the stored policy (the planner reads a twin at most its cache TTL ago: records/twins.py).
    user = await page.evaluate("window.pagi.user")
    twin = await (await edge.get("/v1/twins/orchestrator", headers={"X-User-Id": user})).json()
    assert twin["always_remember"] == []
