"""`pagi replay --rerun`: a recorded session run again through the current planner, divergence reported."""

from __future__ import annotations

from typing import Any

from bus_schemas import ActionResponse, ApprovalDecision, ChatIn, ChatOut, Envelope, PlanAction
from bus_schemas.subjects import APPROVE_DECISION, APPROVE_REQUEST, CHAT_OUT, one_session
from pagi.bus import Bus, PullConsumer
from pagi_cli.replay import timeline
from pagi_cli.rerun import format_report, rerun_session

from ..support import ObserveFactory


async def ask(bus: Bus, session_id: str, message: str) -> Envelope[Any]:
    chat = Envelope[Any](type="chat.in", session_id=session_id, body=ChatIn(message=message, user_id="tess"))
    await bus.publish(chat)
    return chat


def final_for(job_id: str) -> Any:
    return lambda e: e.type == CHAT_OUT and e.job_id == job_id and e.body.status != "awaiting_approval"


async def test_a_rerun_with_recorded_approvals_matches_the_recording(
    bus: Bus, planner: list[PullConsumer], observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    hello = await ask(bus, session_id, "hello there")
    await events.wait_for_count(final_for(hello.id), 1)
    search = await ask(bus, session_id, "/memory where are the cats")
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    decision = ApprovalDecision(approval_id=request.body.approval_id, approved=False, decided_by="tess")
    await bus.publish(Envelope[Any](type=APPROVE_DECISION, session_id=session_id, body=decision))
    await events.wait_for_count(final_for(search.id), 1)

    report = await rerun_session(bus, session_id, timeout_s=10)

    assert [c.message for c in report.jobs] == ["hello there", "/memory where are the cats"]
    assert report.diverged == [], format_report(report)
    assert [len(c.rerun.steps) for c in report.jobs] == [len(c.recorded.steps) for c in report.jobs]
    # The rerun's approval was answered as the person answered the recorded one.
    rerun_events = [e async for e in _timeline(bus, report.new_session_id)]
    [replayed] = [e for e in rerun_events if e.type == APPROVE_DECISION]
    assert replayed.body.approved is False and replayed.body.decided_by == "tess"
    assert "no divergence" in format_report(report)[-1]


async def _timeline(bus: Bus, session_id: str) -> Any:
    async for entry in timeline(bus, session_id):
        if entry.event is not None:
            yield entry.event


async def test_a_changed_decision_is_reported_where_it_diverges(
    bus: Bus, planner: list[PullConsumer], session_id: str
) -> None:
    # A recording made by an older planner that answered differently.
    chat = Envelope[Any](type="chat.in", session_id=session_id, body=ChatIn(message="hello"))
    chat = chat.model_copy(update={"job_id": chat.id})
    old = ActionResponse(content="an old answer")
    plan = chat.caused("plan", "plan.action", PlanAction(action=old, raw_decision="{}", decided_by="llm:old/model"))
    answer = chat.caused("answer", "chat.out", ChatOut(content="an old answer"))
    # Stored before the chat.in, so the current planner's own answer to it comes later and is not the recording.
    await bus.publish_all(plan, answer)
    await bus.publish(chat)

    report = await rerun_session(bus, session_id, timeout_s=10)

    [comparison] = report.jobs
    assert comparison.divergence is not None and comparison.divergence.startswith("step 1: recorded ActionResponse")
    assert "an old answer" in comparison.divergence
    # The recorded reply was reused, not a fresh model call: today's parser rejects it ("{}" is no
    # action), and the rerun says so instead of asking a model.
    assert comparison.rerun.answer is not None
    assert "replay: the recorded reply of step 1 no longer parses" in comparison.rerun.answer.content
    lines = format_report(report)
    assert "DIVERGES" in lines[1] and lines[-1].startswith("1 of 1 diverged")
