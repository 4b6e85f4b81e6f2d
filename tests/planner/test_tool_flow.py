"""Approved tools run exactly once in the real sandbox; "always allow" skips the question next time."""

from __future__ import annotations

from bus_schemas.streams import EVENTS
from bus_schemas.subjects import APPROVE_REQUEST, TOOL_RUN, one_session
from pagi.bus import Bus
from planner.__main__ import PlannerService
from records.twins import TwinStore
from tool_worker.service import ToolWorker

from ..support import ObserveFactory
from .conftest import MakeTwin, Say
from .test_hitl import decide, wait_answer


async def test_an_approved_tool_runs_once_and_always_allow_skips_the_next_question(
    bus: Bus, full_planner: PlannerService, tool_worker: ToolWorker, observe: ObserveFactory, session_id: str,
    say: Say, twins: TwinStore,
) -> None:  # fmt: skip
    events = await observe(one_session(session_id))
    await say("run command echo hello-from-the-sandbox")
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    assert request.body.action.args == {"cmd": "echo hello-from-the-sandbox"}
    await decide(bus, session_id, request.body.approval_id, always=True)
    answer = await wait_answer(events, timeout=30)
    assert "exited with code 0" in answer.body.content
    assert "hello-from-the-sandbox" in answer.body.content
    assert "isolation: bwrap" in answer.body.content
    assert "command_exec" in (await twins.get_or_default("orchestrator")).always_allow

    await say("run command echo second-time")
    second = await wait_answer(events, 2, timeout=30)
    assert "second-time" in second.body.content
    assert len(events.of_type(APPROVE_REQUEST)) == 1  # the second run was not asked about
    runs = await bus.read_stream(EVENTS.name, f"{TOOL_RUN}.{session_id}")
    assert len(runs) == 2


async def test_the_step_limit_ends_a_job_that_keeps_going(
    bus: Bus, full_planner: PlannerService, tool_worker: ToolWorker, observe: ObserveFactory, session_id: str,
    say: Say, make_twin: MakeTwin,
) -> None:  # fmt: skip
    twin = await make_twin(step_limit=1, always_allow=["file_write"])
    events = await observe(one_session(session_id))
    await say("write a test file with content hello world", twin_id=twin)
    answer = await wait_answer(events, timeout=30)
    assert answer.body.status == "failed"
    assert "Stopped after 1 steps" in answer.body.content
