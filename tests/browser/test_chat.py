"""Chat in the console: answers, streamed chunks, approvals, denial, bad frames, reconnect and reload."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from bus_schemas import ChatIn, ChatOut, Envelope, new_id
from bus_schemas.subjects import CHAT_OUT
from edge.appkeys import SOCKETS
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus
from tool_worker.service import ToolWorker

from ..support import ObserveFactory
from .conftest import Edge, snap

pytestmark = pytest.mark.browser
WAIT = 15_000


async def send(page: Page, text: str) -> None:
    await page.fill("#message", text)
    await page.keyboard.press("Enter")


async def session_of(page: Page) -> str:
    return (await page.get_by_test_id("session-id").inner_text()).strip()


async def test_a_greeting_gets_a_direct_answer_and_no_modal(page: Page) -> None:
    await send(page, "hello from chromium")
    await expect(page.locator("#messages li.user .text")).to_have_text("hello from chromium")
    answer = page.locator("#messages li.twin")
    await expect(answer).to_contain_text("You said: hello from chromium", timeout=WAIT)
    await expect(page.locator("#activity")).to_contain_text("answered in")
    await expect(page.get_by_test_id("approval-modal")).to_have_count(0)
    # The pipeline lists the job as completed, from the job's own events.
    await expect(page.get_by_test_id("pipeline").locator(".badge").first).to_have_text("completed", timeout=WAIT)


async def test_streamed_chunks_show_as_they_arrive_then_the_final_answer(page: Page, bus: Bus) -> None:
    await send(page, "hello")
    await expect(page.locator("#messages li.twin")).to_have_count(1, timeout=WAIT)
    session = await session_of(page)
    job = new_id()

    async def publish(content: str, final: bool) -> None:
        body = ChatOut(content=content, is_final=final)
        event = Envelope[ChatOut](type=CHAT_OUT, session_id=session, job_id=job, twin_id="orchestrator", body=body)
        await bus.publish(event)

    await publish("Streaming ", False)
    await publish("tokens", False)
    streaming = page.locator("#messages li.twin.streaming")
    await expect(streaming).to_contain_text("Streaming tokens", timeout=WAIT)
    await publish("Streaming tokens, done.", True)
    await expect(page.locator("#messages li.twin").nth(1)).to_contain_text("Streaming tokens, done.", timeout=WAIT)
    await expect(streaming).to_have_count(0)


async def test_a_memory_search_asks_first_then_the_archive_finds_the_message_and_its_log(
    page: Page, memory_worker: MemoryWorker
) -> None:
    await send(page, "search for recent SSH attacks")
    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_be_visible(timeout=WAIT)
    await expect(modal).to_have_attribute("data-kind", "memory")
    await expect(modal.get_by_test_id("approval-query")).to_have_text("recent SSH attacks")
    await expect(page.get_by_test_id("thinking")).to_contain_text("waiting for your approval")
    await snap(page, "approval-memory")
    await modal.get_by_role("button", name="Authorize & Execute").click()
    await expect(modal).to_have_count(0, timeout=WAIT)
    await expect(page.get_by_test_id("pipeline").locator(".badge").first).to_have_text("completed", timeout=WAIT)
    answer = page.locator("#messages li.twin").last
    await expect(answer).not_to_be_empty()
    await answer.get_by_role("button", name="Save to Memory").click()
    await expect(answer).to_contain_text("saved to default/mind as", timeout=WAIT)
    # The archive indexed the message and the job's log lines as they happened (live search refreshes).
    await page.get_by_role("link", name="Search Archive").click()
    box = page.get_by_label("Search the archive")
    await box.fill("SSH attacks")
    intel = page.get_by_test_id("intel-stream")
    await expect(intel).to_contain_text("search for recent SSH attacks", timeout=WAIT)
    # A message hit opens its chat at that message.
    await intel.locator("button", has_text="search for recent SSH attacks").first.click()
    highlighted = page.locator("#messages li.msg.highlight")
    await expect(highlighted).to_contain_text("search for recent SSH attacks", timeout=WAIT)
    await page.get_by_role("link", name="Search Archive").click()
    await box.fill("job accepted")
    logs = page.get_by_test_id("execution-logs")
    await expect(logs.locator("button").first).to_contain_text("job accepted", timeout=WAIT)
    await snap(page, "search-results")
    await logs.locator("button").first.click()
    await expect(page.get_by_test_id("terminal")).to_contain_text("job accepted", timeout=WAIT)
    await snap(page, "job-logs")
    # Mind: the saved memory is counted and found.
    await page.get_by_role("tab", name="Mind").click()
    await expect(page.locator("aside .ns")).to_contain_text("mind", timeout=WAIT)
    await page.get_by_label("Neural memory search").fill("SSH")
    await expect(page.get_by_test_id("memory-hits").locator("li").first).to_be_visible(timeout=WAIT)
    await snap(page, "mind")
    # Heart: the session's episodic history, from the events stream.
    await page.get_by_role("tab", name="Heart").click()
    await expect(page.locator("aside")).to_contain_text("search for recent SSH attacks", timeout=WAIT)


async def test_a_denied_command_says_so_and_runs_nothing(page: Page) -> None:
    await send(page, "run command ls -la")
    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_have_attribute("data-kind", "tool", timeout=WAIT)
    await expect(modal.get_by_test_id("approval-tool")).to_have_text("command_exec")
    await expect(modal.locator("pre.args")).to_contain_text('"cmd": "ls -la"')
    # The answer that asks carries the command; its badge waits for the decision.
    badge = page.locator("#messages li.twin").first.get_by_test_id("approval-state")
    await expect(badge).to_have_text("awaiting approval", timeout=WAIT)
    await modal.get_by_role("button", name="Deny…").click()
    await modal.get_by_label("Reason for denying (optional)").fill("not on this host")
    await modal.get_by_role("button", name="Confirm Deny").click()
    await expect(modal).to_have_count(0, timeout=WAIT)
    await expect(page.locator("#messages li.twin").last).to_contain_text("denied", timeout=WAIT)
    await expect(badge).to_have_text("denied", timeout=WAIT)
    await expect(badge).to_have_class(re.compile(r"\bdenied\b"))
    # A reload rebuilds it from the session's events: still denied, never awaiting again.
    await page.reload()
    await expect(page.locator("#connection")).to_have_text("LIVE", timeout=WAIT)
    await expect(page.locator("#messages li.twin").first.get_by_test_id("approval-state")).to_have_text(
        "denied", timeout=WAIT
    )


async def test_escape_dismisses_and_the_approval_stays_listed(page: Page) -> None:
    await send(page, "/memory kept for later")
    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_be_visible(timeout=WAIT)
    await page.keyboard.press("Escape")
    await expect(modal).to_have_count(0)
    await page.get_by_role("tab", name="Approvals (1)").click()
    listed = page.get_by_test_id("pending-approvals").locator("button")
    await expect(listed).to_have_count(1)
    await listed.click()
    await expect(modal).to_be_visible()
    # Keyboard: focus starts on Authorize and Tab stays inside the dialog.
    await expect(modal.get_by_role("button", name="Authorize & Execute")).to_be_focused()
    for _ in range(6):
        await page.keyboard.press("Tab")
    assert await modal.evaluate("(dialog) => dialog.contains(document.activeElement)")


async def test_an_invalid_frame_does_not_break_the_page(page: Page) -> None:
    await page.evaluate("window.pagi.socket.sendRaw('this is not json')")
    await expect(page.get_by_role("status")).to_contain_text("not valid JSON", timeout=WAIT)
    await expect(page.locator("#connection")).to_have_text("LIVE")
    await send(page, "still here")
    await expect(page.locator("#messages li.twin")).to_contain_text("You said: still here", timeout=WAIT)


async def test_a_dropped_socket_reconnects_and_the_missed_events_appear(
    page: Page, edge: Edge, bus: Bus, observe: ObserveFactory
) -> None:
    await send(page, "before the drop")
    await expect(page.locator("#messages li.twin")).to_contain_text("You said: before the drop", timeout=WAIT)
    session = await session_of(page)
    user = await page.evaluate("window.pagi.user")
    # Hold the client's reconnect, then drop every socket from the server's side.
    await page.evaluate("sessionStorage.setItem('pagi.reconnect.hold', '1')")
    assert edge.app is not None
    sockets = edge.app[SOCKETS]
    for client in list(sockets):
        await client.close()
    await expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting", timeout=WAIT)
    await expect(page.get_by_role("button", name="retry now")).to_be_visible()
    # While it is away, the conversation goes on (an operator's `nats pub chat.in.<session>`).
    answers = await observe(f"{CHAT_OUT}.{session}")
    job = new_id()
    body = ChatIn(message="sent while you were away", user_id=user, twin_id="orchestrator")
    await bus.publish(Envelope[ChatIn](id=job, type="chat.in", session_id=session, job_id=job, body=body))
    await answers.wait_for(lambda events: any(e.job_id == job for e in events))
    await expect(page.locator("#messages li.twin")).to_have_count(1)
    await page.evaluate("sessionStorage.removeItem('pagi.reconnect.hold')")
    await expect(page.locator("#connection")).to_have_text("LIVE", timeout=WAIT)
    await expect(page.locator("#messages li.user .text").last).to_have_text("sent while you were away", timeout=WAIT)
    await expect(page.locator("#messages li.twin").last).to_contain_text("You said: sent while you were away")
    # Resumed from the last sequence: nothing seen before is shown twice.
    await expect(page.locator("#messages li.user .text")).to_have_count(2)
    await expect(page.locator("#messages li.twin")).to_have_count(2)


async def test_a_reload_mid_job_resumes_the_conversation_and_the_pending_approval(page: Page) -> None:
    await send(page, "run command uname -a")
    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_be_visible(timeout=WAIT)
    await page.reload()
    await expect(page.locator("#connection")).to_have_text("LIVE", timeout=WAIT)
    await expect(page.locator("#messages li.user .text")).to_have_text("run command uname -a", timeout=WAIT)
    await expect(modal).to_be_visible(timeout=WAIT)
    await expect(modal.locator("pre.args")).to_contain_text("uname -a")
    await modal.get_by_role("button", name="Deny…").click()
    await modal.get_by_role("button", name="Confirm Deny").click()
    await expect(page.locator("#messages li.twin").last).to_contain_text("denied", timeout=WAIT)
    await expect(page.get_by_test_id("pipeline").locator(".badge").first).not_to_have_text("waiting approval")


async def test_job_logs_stream_in_the_terminal(page: Page) -> None:
    await send(page, "hello logs")
    await expect(page.locator("#messages li.twin")).to_contain_text("You said", timeout=WAIT)
    await page.get_by_test_id("pipeline").locator("button").first.click()
    await expect(page).to_have_url(re.compile(r"/jobs/[^/?]+\?session="))
    await expect(page.get_by_test_id("job-status")).to_have_text("completed", timeout=WAIT)
    await expect(page.get_by_test_id("terminal").locator(".logline").first).to_be_visible(timeout=WAIT)


async def test_an_authorised_tool_writes_the_file_and_always_allow_skips_the_next_question(
    page: Page, tool_worker: ToolWorker
) -> None:
    await send(page, "write a test file with content hello world")
    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_have_attribute("data-kind", "tool", timeout=WAIT)
    await expect(modal.get_by_test_id("approval-tool")).to_have_text("file_write")
    await expect(modal.locator("pre.args")).to_contain_text('"content": "hello world"')
    await snap(page, "approval-tool")
    await modal.get_by_label("Always allow file_write for this twin").check()
    await modal.get_by_role("button", name="Authorize & Execute").click()
    answer = page.locator("#messages li.twin").last
    await expect(answer).to_contain_text("test.txt", timeout=30_000)
    await expect(answer).to_contain_text("isolation:")
    # The second write is not asked about: the twin now always allows file_write.
    await send(page, "write a file named second.txt with content again")
    await expect(page.locator("#messages li.twin").last).to_contain_text("second.txt", timeout=30_000)
    await expect(modal).to_have_count(0, timeout=WAIT)
    await page.get_by_role("button", name="Tools ▴").click()
    await expect(page.get_by_test_id("tool-menu")).to_contain_text("file_write · always allowed")
