"""One approval lets exactly one request run: anyone who may publish `tool.run` or `build.req` and
names an approval already used, under a new request id, is refused by the worker (`not_approved`);
the original request ran once, and publishing it again is answered from the done-ledger."""

from __future__ import annotations

from typing import Any

from bus_schemas import Envelope
from bus_schemas.actions import ActionBuildTool, ActionTool
from bus_schemas.streams import TOOLS
from bus_schemas.subjects import APPROVE_REQUEST, one_session
from bus_schemas.tool import ToolRecord, ToolResult
from pagi.bus import Bus
from planner.__main__ import PlannerService
from records.approvals import request_for
from tool_worker.service import ToolWorker

from ..build_worker.conftest import StartBuilder, start_builder
from ..build_worker.test_bus import TOOL_CODE, build_event, build_result
from ..planner.conftest import Say, full_planner, say, twins
from ..planner.test_hitl import decide, wait_answer
from ..support import EventCollector, ObserveFactory
from ..workers_support import approve, put_twin, result_for, run_event
from .conftest import state_dir

__all__ = ["full_planner", "say", "start_builder", "state_dir", "twins"]

COUNTING = {"cmd": "echo ran >> count.txt; wc -l < count.txt"}


async def tool_result(events: EventCollector, request_id: str, count: int = 1) -> ToolResult:
    # Through the real planner and a cold sandbox: more time than a worker-only test needs.
    return await result_for(events, request_id, count, timeout=30)


def tool_run(session: str, request_id: str, approval_id: str) -> Envelope[Any]:
    return run_event(session, "command_exec", COUNTING, approval_id, request_id)


async def test_an_approved_tool_run_cannot_be_replayed_under_a_new_request_id(
    bus: Bus, full_planner: PlannerService, tool_worker: ToolWorker, observe: ObserveFactory, session_id: str,
    say: Say,
) -> None:  # fmt: skip
    events = await observe(one_session(session_id))
    await say('/tool command_exec {"cmd": "echo ran >> count.txt; wc -l < count.txt"}')
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    approval_id = request.body.approval_id
    await decide(bus, session_id, approval_id)
    await wait_answer(events, timeout=30)
    original = await tool_result(events, request_for(approval_id))
    assert (original.exit_code, original.stdout.strip(), original.reason) == (0, "1", None)

    # Same approval, same tool and arguments, a request id of the attacker's choosing.
    await bus.publish(tool_run(session_id, "replayed-1", approval_id))
    refused = await tool_result(events, "replayed-1")
    assert refused.reason == "not_approved" and refused.exit_code == -1
    assert f"approval {approval_id} was given for request {request_for(approval_id)}" in (refused.error or "")
    assert "one approval runs one request" in (refused.error or "")

    # The original request published again: the recorded result, not a second run.
    await bus.publish(tool_run(session_id, request_for(approval_id), approval_id))
    again = await tool_result(events, request_for(approval_id), count=2)
    assert again.stdout.strip() == "1"
    workspace = tool_worker.sandbox.workspaces.path(session_id)
    assert (workspace / "count.txt").read_text() == "ran\n"


async def test_an_approved_build_cannot_be_replayed_under_a_new_request_id(
    bus: Bus, session_id: str, observe: ObserveFactory, start_builder: StartBuilder
) -> None:
    await put_twin(bus)
    events = await observe(one_session(session_id))
    await start_builder()
    action = ActionBuildTool(tool_name="adder", language="python", code=TOOL_CODE, description="")
    approval_id = await approve(bus, session_id, "build", action, request_id="build-1")
    await bus.publish(build_event(session_id, "build-1", approval_id))
    first = await build_result(events, "build-1")
    assert first.success and first.version == 1

    await bus.publish(build_event(session_id, "build-2", approval_id))
    refused = await build_result(events, "build-2")
    assert not refused.success and refused.reason == "not_approved"
    assert "was given for request build-1, not build-2" in (refused.error or "")
    registered = await (await bus.kv(TOOLS)).get_model("adder", ToolRecord)
    assert registered is not None and registered.version == 1  # built once, not rebuilt as version 2


async def test_an_approval_that_names_no_request_runs_nothing(
    bus: Bus, session_id: str, observe: ObserveFactory, tool_worker: ToolWorker
) -> None:
    """An approved record without its request (written before approvals were bound) is refused."""
    await put_twin(bus)
    events = await observe(one_session(session_id))
    approval_id = await approve(bus, session_id, "tool", ActionTool(tool_name="command_exec", args=COUNTING))
    await bus.publish(tool_run(session_id, "unbound-1", approval_id))
    refused = await tool_result(events, "unbound-1")
    assert refused.reason == "not_approved" and "names no request to run" in (refused.error or "")
    assert not (tool_worker.sandbox.workspaces.path(session_id) / "count.txt").exists()
