"""The whole loop with the deterministic planner: /build, a human approves, the build worker builds;
/tool, a human approves, the tool worker runs the new tool; the answers come back on chat.out."""

from __future__ import annotations

from bus_schemas import ApprovalDecision, ApprovalRequest, ChatIn, Envelope
from bus_schemas.subjects import (
    APPROVE_DECISION,
    APPROVE_REQUEST,
    BUILD_RESULT,
    CHAT_IN,
    CHAT_OUT,
    TOOL_RESULT,
    one_session,
)
from pagi.bus import Bus, PullConsumer

from ..support import EventCollector, ObserveFactory
from ..workers_support import StartWorker, put_twin
from .conftest import StartBuilder

CODE = "def main(args):\n    return args['a'] * args['b']\n"


async def approve_next(bus: Bus, events: EventCollector, session: str, count: int) -> ApprovalRequest:
    requests = await events.wait_count(APPROVE_REQUEST, count, timeout=20)
    request = requests[-1].body
    assert isinstance(request, ApprovalRequest)
    decision = ApprovalDecision(approval_id=request.approval_id, approved=True, decided_by="tester")
    await bus.publish(Envelope[ApprovalDecision](type=APPROVE_DECISION, session_id=session, body=decision))
    return request


async def say(bus: Bus, session: str, message: str) -> None:
    await bus.publish(Envelope[ChatIn](type=CHAT_IN, session_id=session, body=ChatIn(message=message)))


async def test_build_then_run_a_tool_through_the_planner(
    bus: Bus,
    planner: list[PullConsumer],
    observe: ObserveFactory,
    session_id: str,
    start_builder: StartBuilder,
    start_worker: StartWorker,
) -> None:
    # Allowed from the start: the planner adds a built tool to the twin after the build, but its twin
    # cache (2 s) may still hold the old list when the next message comes straight after.
    await put_twin(bus, allowed_tools=["command_exec", "multiply"])
    events = await observe(one_session(session_id))
    await start_builder()
    await start_worker()

    await say(bus, session_id, f"/build multiply python\n{CODE}")
    request = await approve_next(bus, events, session_id, 1)
    assert request.kind == "build" and "multiply" in request.summary
    [built] = await events.wait_count(BUILD_RESULT, 1, timeout=30)
    assert built.body.success and built.body.version == 1
    await events.wait_for_count(lambda e: e.type == CHAT_OUT and "Built tool multiply version 1" in e.body.content, 1)

    await say(bus, session_id, '/tool multiply {"a": 6, "b": 7}')
    request = await approve_next(bus, events, session_id, 2)
    assert request.kind == "tool"
    [ran] = await events.wait_count(TOOL_RESULT, 1, timeout=30)
    assert (ran.body.exit_code, ran.body.stdout, ran.body.isolation) == (0, "42", "bwrap")
    [answer] = await events.wait_for_count(
        lambda e: e.type == CHAT_OUT and e.body.status == "completed" and "42" in e.body.content, 1
    )
    assert answer.body.actions_taken[0] == "ActionTool"
