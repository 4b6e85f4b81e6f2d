"""The console's Schedules view, in real Chromium against the real stack: a real nats-server (its own
message schedules fire), the edge, and a planner as a process runs it (its consumers and its
schedule-firing loop, tests/schedules/conftest.py PlannerProcess). A person adds an `@every 2s`
schedule from the form, sees it fire (last run, its job linked, the twin's answer in the session),
pauses and resumes it, and removes it. A schedule whose job waits for an approval shows its
firings skipped (one job, not a pile), the approval still decidable from the Approvals tab. A spec
or time zone that is not one is refused in the form before anything is sent; with keys, a second
member sees none of the first's schedules, cannot schedule into the first's session (the edge's
refusal shown), nor pause or remove the first's schedule by calling the edge directly."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Dialog, Page, expect

from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus, PullConsumer
from records.schedules import ScheduleStore

from ..schedules.conftest import PlannerProcess
from ..support import eventually
from .conftest import VIEWPORT, Edge, signed_in, snap

pytestmark = pytest.mark.browser
WAIT = 15_000
ALICE_KEY = "alice-key-0123456789abcdef0"
BOB_KEY = "bob-key-0123456789abcdef000"


@pytest.fixture
async def edge(bus: Bus) -> AsyncIterator[Edge]:
    """The edge with a planner that also runs its schedule-firing loop (the shared `edge` fixture's
    planner runs only its consumers)."""
    planner = PlannerProcess(bus)
    await planner.start()
    app = make_app(EdgeSettings(PAGI_CHAT_TIMEOUT_S=10, PAGI_WS_QUEUE_SIZE=64), bus=bus)
    async with TestClient(TestServer(app)) as client:
        yield client
    await planner.stop()


async def open_schedules(page: Page) -> None:
    await page.get_by_test_id("nav-schedules").click()
    await expect(page).to_have_url(re.compile(r"/schedules$"))
    await expect(page.get_by_test_id("schedule-form")).to_be_visible(timeout=WAIT)


async def fill(page: Page, twin: str, message: str, spec: str, time_zone: str = "", session: str | None = None) -> None:
    await page.get_by_test_id("schedule-twin").select_option(twin)
    if session is not None:
        await page.get_by_test_id("schedule-session").fill(session)
    await page.get_by_test_id("schedule-message").fill(message)
    await page.get_by_test_id("schedule-spec").fill(spec)
    await page.get_by_test_id("schedule-tz").fill(time_zone)


async def test_a_schedule_added_in_the_console_fires_pauses_resumes_and_is_removed(
    page: Page, edge: Edge, bus: Bus
) -> None:
    await open_schedules(page)
    await expect(page.get_by_test_id("schedules-empty")).to_be_visible(timeout=WAIT)
    await fill(page, "orchestrator", "the overnight summary, please", "@every 2s")
    session = await page.get_by_test_id("schedule-session").input_value()
    assert session.startswith("orchestrator-")
    await page.get_by_test_id("schedule-add").click()

    row = page.get_by_test_id("schedule-row")
    await expect(row).to_have_count(1, timeout=WAIT)
    await expect(row.get_by_test_id("schedule-when")).to_have_text("every 2s")
    schedule_id = await row.get_attribute("data-id")
    assert schedule_id and re.fullmatch(r"sch-[0-9a-f]{16}", schedule_id)
    store = await ScheduleStore.open(bus)
    stored = await store.get(schedule_id)
    assert (
        stored is not None and stored.session_id == session and stored.owner == await page.evaluate("window.pagi.user")
    )

    # It fires: the last run, its job linked, and the twin's answer in the session.
    job = row.get_by_test_id("schedule-last-job")
    await expect(job).to_be_visible(timeout=WAIT)
    await expect(row.get_by_test_id("schedule-runs")).to_contain_text("run", timeout=WAIT)
    await expect(row.get_by_test_id("schedule-next")).to_contain_text("in ")
    await snap(page, "schedules-view")

    await row.get_by_test_id("schedule-pause").click()
    await expect(row).to_have_attribute("data-paused", "true", timeout=WAIT)
    await expect(row.get_by_test_id("schedule-next")).to_have_text("paused")

    async def paused() -> bool:
        found = await store.get(schedule_id)
        return found is not None and found.paused

    await eventually(paused, timeout=5, what="the schedule paused in KV")
    await row.get_by_test_id("schedule-resume").click()
    await expect(row).to_have_attribute("data-paused", "false", timeout=WAIT)

    # The scheduled message was a job of the twin in that session: its answer replays in the chat.
    await page.goto(str(edge.make_url("/")))
    await expect(page.get_by_test_id("session-id")).to_have_text(session, timeout=WAIT)
    await expect(page.locator("#messages li.twin").first).to_contain_text("the overnight summary, please", timeout=WAIT)

    await open_schedules(page)

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)
    await page.get_by_test_id("schedule-row").get_by_test_id("schedule-remove").click()
    await expect(page.get_by_test_id("schedule-row")).to_have_count(0, timeout=WAIT)
    assert await store.get(schedule_id) is None


@pytest.fixture
async def keyed(bus: Bus, planner: list[PullConsumer], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Edge]:
    """The edge in keys mode, two members."""
    monkeypatch.setenv("PAGI_API_KEYS", f"{ALICE_KEY}:alice:member,{BOB_KEY}:bob:member")
    monkeypatch.setenv("PAGI_RATE_LIMIT_BURST", "1000")
    app = make_app(EdgeSettings(PAGI_CHAT_TIMEOUT_S=10), bus=bus)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_a_bad_spec_or_zone_is_refused_in_the_form_and_another_member_sees_and_reaches_nothing(
    browser: Browser, keyed: Edge, bus: Bus
) -> None:
    store = await ScheduleStore.open(bus)
    alice_ctx = await browser.new_context(viewport=VIEWPORT)
    bob_ctx = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await signed_in(alice_ctx, keyed, ALICE_KEY)
        await open_schedules(page)
        problem = page.get_by_test_id("schedule-problem")
        for spec, zone, said in (
            ("@every 500ms", "", "@every is 1s at least"),
            ("0 8 * * 1-5", "", "a cron expression has 6 fields"),
            ("0 0 25 * * *", "", "cron hour 25 is outside 0-23"),
            ("0 0 8 * * 1-5", "Mars/Olympus", "unknown time zone Mars/Olympus"),
            ("@every 1m", "Europe/Berlin", "a time zone applies to cron expressions only"),
        ):
            await fill(page, "orchestrator", "never sent", spec, zone)
            await page.get_by_test_id("schedule-add").click()
            await expect(problem).to_contain_text(said)
        assert await store.list() == []

        await fill(page, "orchestrator", "the weekday summary", "0 0 8 * * 1-5", "Europe/Berlin")
        await page.get_by_test_id("schedule-add").click()
        await expect(page.get_by_test_id("schedule-row")).to_have_count(1, timeout=WAIT)
        await expect(page.get_by_test_id("schedule-when")).to_have_text("cron 0 0 8 * * 1-5 (Europe/Berlin)")
        await expect(page.get_by_test_id("schedule-next")).to_contain_text("in ")
        alices = await page.get_by_test_id("schedule-session").input_value()
        [schedule] = await store.list()
        assert schedule.owner == "alice" and schedule.session_id == alices and schedule.time_zone == "Europe/Berlin"

        bob = await signed_in(bob_ctx, keyed, BOB_KEY)
        await open_schedules(bob)
        await expect(bob.get_by_test_id("schedules-empty")).to_be_visible(timeout=WAIT)
        await fill(bob, "orchestrator", "into alice's session", "@every 1m", session=alices)
        await bob.get_by_test_id("schedule-add").click()
        await expect(bob.get_by_test_id("schedule-error")).to_contain_text("no session", timeout=WAIT)
        await expect(bob.get_by_test_id("schedule-row")).to_have_count(0)
        # Past the console, straight to the edge: alice's schedule is not bob's to pause or remove.
        statuses = await bob.evaluate(
            """async (id) => Promise.all([`/v1/schedules/${id}/pause`, `/v1/schedules/${id}`].map(
                async (path, i) => (await fetch(path, {method: i ? "DELETE" : "POST"})).status))""",
            schedule.id,
        )
        assert statuses == [404, 404]
    finally:
        await alice_ctx.close()
        await bob_ctx.close()
    assert [(s.id, s.paused) for s in await store.list()] == [(schedule.id, False)]


async def test_a_schedule_whose_job_waits_for_approval_shows_its_skipped_firings_not_a_pile_of_jobs(
    page: Page, edge: Edge, bus: Bus
) -> None:
    await open_schedules(page)
    await fill(page, "orchestrator", "/memory overnight alerts", "@every 1s")
    await page.get_by_test_id("schedule-add").click()
    row = page.get_by_test_id("schedule-row")
    await expect(row).to_have_count(1, timeout=WAIT)
    # The first firing's job asks for approval (the modal opens over the view); later firings skip.
    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_have_attribute("data-kind", "memory", timeout=WAIT)
    await expect(row.get_by_test_id("schedule-skipped")).to_contain_text(
        "skipped, the last job still unfinished", timeout=WAIT
    )
    schedule_id = await row.get_attribute("data-id")
    assert schedule_id
    await modal.get_by_role("button", name="Decide later").click()
    await row.get_by_test_id("schedule-pause").click()
    await expect(row).to_have_attribute("data-paused", "true", timeout=WAIT)
    stored = await (await ScheduleStore.open(bus)).get(schedule_id)
    assert stored is not None and stored.runs == 1 and stored.skipped >= 1
    # Still waiting in the Approvals tab; denied from there.
    await page.get_by_role("tab", name=re.compile(r"^Approvals")).click()
    await page.get_by_test_id("pending-approvals").locator("button").first.click()
    await modal.get_by_role("button", name="Deny…").click()
    await modal.get_by_role("button", name="Confirm Deny").click()
    await expect(modal).to_have_count(0, timeout=WAIT)
