"""Twins working together, in the console, in real Chromium against the real stack (deterministic
planner): the Ops Center's fan-out sends one directive to several twins at once, a session of its
own per twin (each a real job of that twin in KV pagi_jobs), and gathers their answers side by side,
again after a reload (from the sessions' replay); a directive without a twin, or without text, sends
nothing. A tampered list of fan-outs in the browser's storage is ignored, not fatal."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from bus_schemas.twin import TwinWrite
from pagi.bus import Bus
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
