"""The planner refuses to approve a gated twin's self-improvement until its eval passed (the approval
stays pending, an error says why); a denial is always taken; an ungated twin is approved at once.
The real chat and control handlers over a real nats-server, without the eval gate's own consumer,
so the test writes the approval's eval as the gate would."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bus_schemas.approval import ApprovalRecord
from bus_schemas.evals import EvalGate, EvalSummary
from bus_schemas.streams import PLANNER_CHAT_IN, PLANNER_CONTROL
from bus_schemas.subjects import APPROVE_REQUEST, JOB_LOG, one_session
from bus_schemas.twin import TwinWrite
from pagi.bus import Bus
from pagi.service import Route, start_routes
from planner.__main__ import planner_over
from planner.chat_in import ChatInHandler
from planner.control import ControlHandler
from records.approvals import ApprovalStore
from records.bundle import open_records
from records.twins import TwinStore

from ..support import EventCollector, ObserveFactory
from .conftest import Say, decide, final_answers

RUNNING = EvalSummary(set_id="regress", run_id="r1", state="running", required=0.8)
FAILED = RUNNING.model_copy(update={"state": "done", "passed": 1, "total": 4, "pass_rate": 0.25, "ok": False})
PASSED = RUNNING.model_copy(update={"state": "done", "passed": 4, "total": 4, "pass_rate": 1.0, "ok": True})


@pytest.fixture
async def handlers(bus: Bus) -> AsyncIterator[None]:
    planner = planner_over(bus, await open_records(bus))  # the deterministic planner: `/improve` as typed
    routes = [Route(PLANNER_CHAT_IN, ChatInHandler(planner)), Route(PLANNER_CONTROL, ControlHandler(planner))]
    consumers = await start_routes(bus, routes)
    yield
    for consumer in consumers:
        await consumer.stop()


async def errors(events: EventCollector, count: int) -> list[str]:
    found = await events.wait_for_count(lambda e: e.type == JOB_LOG and e.body.level == "error", count)
    return [e.body.message for e in found]


async def set_eval(approvals: ApprovalStore, record: ApprovalRecord, summary: EvalSummary) -> ApprovalRecord:
    return await approvals.update(record, lambda r: r.model_copy(update={"eval": summary}))


async def test_a_gated_self_improvement_is_approved_only_once_its_eval_passed(
    bus: Bus, handlers: None, observe: ObserveFactory, session_id: str, say: Say
) -> None:
    twins = await TwinStore.open(bus)
    await twins.create("gated", TwinWrite(codename="Gated", eval_gate=EvalGate(set_id="regress", min_pass_rate=0.8)))
    approvals = await ApprovalStore.open(bus)
    events = await observe(one_session(session_id))
    await say("/improve Be terse.", "gated")
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    assert request.body.kind == "self_improve" and request.body.eval_pending
    approval_id = request.body.approval_id

    async def pending() -> ApprovalRecord:
        record = await approvals.get(session_id, approval_id)
        assert record is not None and record.state == "pending"
        return record

    await decide(bus, session_id, approval_id)
    assert "has not started yet" in (await errors(events, 1))[-1]
    await set_eval(approvals, await pending(), RUNNING)
    await decide(bus, session_id, approval_id)
    assert "still running" in (await errors(events, 2))[-1]
    await set_eval(approvals, await pending(), FAILED)
    await decide(bus, session_id, approval_id)
    assert "did not pass (25%, 80% required)" in (await errors(events, 3))[-1]
    assert (await pending()).eval == FAILED and final_answers(events) == []

    await set_eval(approvals, await pending(), PASSED)
    await decide(bus, session_id, approval_id)
    await events.wait_for(lambda _: len(final_answers(events)) >= 1, 10)
    record = await approvals.get(session_id, approval_id)
    assert record is not None and record.state == "approved"
    twin = await twins.get("gated")
    assert twin is not None and twin.directive_logic == "Be terse."


@pytest.mark.parametrize("summary", [None, RUNNING, FAILED])
async def test_a_denial_is_always_taken(
    bus: Bus, handlers: None, observe: ObserveFactory, session_id: str, say: Say, summary: EvalSummary | None
) -> None:
    twins = await TwinStore.open(bus)
    await twins.create("gated", TwinWrite(codename="Gated", eval_gate=EvalGate(set_id="regress", min_pass_rate=0.8)))
    approvals = await ApprovalStore.open(bus)
    events = await observe(one_session(session_id))
    await say("/improve Be terse.", "gated")
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    record = await approvals.get(session_id, request.body.approval_id)
    assert record is not None
    if summary is not None:
        await set_eval(approvals, record, summary)
    await decide(bus, session_id, request.body.approval_id, approved=False)
    await events.wait_for(lambda _: len(final_answers(events)) >= 1, 10)
    denied = await approvals.get(session_id, request.body.approval_id)
    assert denied is not None and denied.state == "denied"
    twin = await twins.get("gated")
    assert twin is not None and twin.directive_logic == ""


async def test_an_ungated_twin_is_asked_without_an_eval_and_approved_at_once(
    bus: Bus, handlers: None, observe: ObserveFactory, session_id: str, say: Say
) -> None:
    twins = await TwinStore.open(bus)
    await twins.create("free", TwinWrite(codename="Free"))
    events = await observe(one_session(session_id))
    await say("/improve Be terse.", "free")
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    assert not request.body.eval_pending
    await decide(bus, session_id, request.body.approval_id)
    await events.wait_for(lambda _: len(final_answers(events)) >= 1, 10)
    twin = await twins.get("free")
    assert twin is not None and twin.directive_logic == "Be terse."
    assert [e for e in events.events if e.type == JOB_LOG and e.body.level == "error"] == []
