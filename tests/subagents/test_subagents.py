"""Sub-agents and handoffs through the real bus and planner (deterministic planner): a twin asks
another (`/ask`), hands the session over (`/handoff`), under the stricter of the policies, with the
chain on approvals, cycles and depth bounded, cancelling down the tree."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from bus_schemas import Envelope
from bus_schemas.jobs import JobCancel, JobRecord
from bus_schemas.streams import EVENTS
from bus_schemas.subjects import APPROVE_REQUEST, JOB_LOG, one_session
from bus_schemas.twin import TwinWrite
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus
from pagi_cli.nats_server import NatsServer
from planner.__main__ import PlannerService
from records.approvals import ApprovalStore
from records.jobs import JobStore
from records.twins import TwinStore

from ..planner.conftest import MakeTwin, Say
from ..planner.test_hitl import decide, final_answers, wait_answer
from ..support import EventCollector, ObserveFactory, eventually


def answer_of(events: EventCollector, job_id: str) -> Envelope[Any] | None:
    return next((e for e in final_answers(events) if e.job_id == job_id), None)


async def wait_job_answer(events: EventCollector, job_id: str, timeout: float = 15) -> Envelope[Any]:
    await events.wait_for(lambda _: answer_of(events, job_id) is not None, timeout)
    found = answer_of(events, job_id)
    assert found is not None
    return found


async def children(bus: Bus, parent_job_id: str) -> list[JobRecord]:
    jobs = await JobStore.open(bus)
    return [j for j in await jobs.all() if j.parent_job_id == parent_job_id]


async def test_a_sub_agent_question_is_a_sub_job_whose_answer_is_the_parent_step(
    bus: Bus, full_planner: PlannerService, observe: ObserveFactory, session_id: str, say: Say, make_twin: MakeTwin
) -> None:
    reviewer = await make_twin()
    ops = await make_twin(may_ask=[reviewer])
    events = await observe(one_session(session_id))
    asked = await say(f"/ask {reviewer} is the deploy safe?", twin_id=ops)
    answer = await wait_job_answer(events, asked.id)
    assert answer.body.status == "completed"
    assert answer.body.content.startswith(f"{reviewer} answered: Hello, this is {reviewer}")
    assert "is the deploy safe?" in answer.body.content
    assert answer.body.actions_taken == ["ActionAskTwin", "ActionResponse"]
    [child] = await children(bus, asked.id)
    assert child.session_id == session_id and child.job_id != asked.id
    assert child.twin_id == reviewer and child.chain == [ops] and child.parent_step == 1 and child.status == "completed"
    # The sub-job's events are in the same session; its first names the parent step's trigger.
    child_events = [e for e in events.events if e.job_id == child.job_id]
    assert child_events and child_events[0].causation_id == asked.id
    assert answer_of(events, child.job_id) is not None


async def test_a_twin_not_in_the_policy_a_private_twin_and_a_malformed_ask_are_refused(
    bus: Bus, full_planner: PlannerService, observe: ObserveFactory, session_id: str, say: Say, make_twin: MakeTwin,
    twins: TwinStore,
) -> None:  # fmt: skip
    stranger = await make_twin()
    await twins.create("mallory-private", TwinWrite(codename="m"), owner="mallory")
    ops = await make_twin(may_ask=["mallory-private"])
    events = await observe(one_session(session_id))
    first = await say(f"/ask {stranger} hi", twin_id=ops)
    refused = await wait_job_answer(events, first.id)
    assert f"'{stranger}' is not among the twins {ops} may ask" in refused.body.content
    second = await say("/ask mallory-private hi", twin_id=ops)
    hidden = await wait_job_answer(events, second.id)
    assert "there is no twin 'mallory-private' to reach" in hidden.body.content
    third = await say("/ask bad.twin hi", twin_id=ops)
    assert "twin_id" in (await wait_job_answer(events, third.id)).body.content
    assert await children(bus, first.id) == [] and await children(bus, second.id) == []


async def test_a_sub_job_never_uses_a_tool_the_caller_may_not(
    bus: Bus, full_planner: PlannerService, observe: ObserveFactory, session_id: str, say: Say, make_twin: MakeTwin
) -> None:
    reviewer = await make_twin(allowed_tools=["command_exec", "file_read"], always_allow=["command_exec"])
    ops = await make_twin(may_ask=[reviewer], allowed_tools=["file_read"])
    events = await observe(one_session(session_id))
    asked = await say(f'/ask {reviewer} /tool command_exec {{"cmd": "id"}}', twin_id=ops)
    answer = await wait_job_answer(events, asked.id)
    assert f"tool 'command_exec' is not among {reviewer}'s allowed tools" in answer.body.content
    assert f"This is a sub-job ({ops} → {reviewer})" in answer.body.content
    assert events.of_type(APPROVE_REQUEST) == [] and events.of_type("tool.run") == []


async def test_a_sub_job_s_gated_step_asks_the_same_human_naming_the_chain(
    bus: Bus, full_planner: PlannerService, observe: ObserveFactory, session_id: str, say: Say, make_twin: MakeTwin
) -> None:
    reviewer = await make_twin()
    ops = await make_twin(may_ask=[reviewer])
    events = await observe(one_session(session_id))
    asked = await say(f"/ask {reviewer} /memory release notes", twin_id=ops)
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    assert request.session_id == session_id and request.twin_id == reviewer
    assert f"asked by {ops} → {reviewer}" in request.body.reason
    assert request.body.summary.startswith(f"[asked by {ops} → {reviewer}]")
    [record] = await (await ApprovalStore.open(bus)).pending(session_id)
    assert record.twin_id == reviewer and f"{ops} → {reviewer}" in record.reason
    await decide(bus, session_id, request.body.approval_id, approved=False, reason="not today")
    answer = await wait_job_answer(events, asked.id)
    assert answer.body.content.startswith(f"{reviewer} answered: A human (alice (not today)) denied this")


async def test_a_cycle_and_the_depth_limit_are_refused_with_a_clear_message(
    bus: Bus, full_planner: PlannerService, observe: ObserveFactory, session_id: str, say: Say, make_twin: MakeTwin,
    twins: TwinStore,
) -> None:  # fmt: skip
    c = await make_twin()
    a = await make_twin()
    b = await make_twin(may_ask=[a, c])
    await twins.replace(a, TwinWrite(codename=a, may_ask=[b], max_depth=1))
    events = await observe(one_session(session_id))
    cycle = await say(f"/ask {b} /ask {a} hi", twin_id=a)
    said = (await wait_job_answer(events, cycle.id)).body.content
    assert f"asking {a} would be a cycle ({a} → {b} → {a})" in said
    deep = await say(f"/ask {b} /ask {c} hi", twin_id=a)
    said = (await wait_job_answer(events, deep.id)).body.content
    assert f"asking {c} would go 2 sub-jobs deep ({a} → {b} → {c}), over the depth limit of 1" in said
    assert all(j.twin_id == b for j in await children(bus, deep.id))
    assert [j for j in await (await JobStore.open(bus)).all() if j.twin_id == c] == []


async def test_cancelling_a_parent_cancels_its_sub_job_and_the_sub_job_s_approval(
    bus: Bus, full_planner: PlannerService, observe: ObserveFactory, session_id: str, say: Say, make_twin: MakeTwin
) -> None:
    reviewer = await make_twin()
    ops = await make_twin(may_ask=[reviewer])
    events = await observe(one_session(session_id))
    asked = await say(f"/ask {reviewer} /memory secrets", twin_id=ops)
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    cancel = Envelope[JobCancel](
        type="job.cancel", session_id=session_id, body=JobCancel(job_id=asked.id, requested_by="alice")
    )
    await bus.publish(cancel)
    answer = await wait_job_answer(events, asked.id)
    assert answer.body.status == "cancelled" and "Cancelled by alice" in answer.body.content
    [child] = await eventually(lambda: children(bus, asked.id))
    child = await eventually(lambda: _finished(bus, child), what="the sub-job cancelled with its parent")
    assert child.status == "cancelled"
    assert (await wait_job_answer(events, child.job_id)).body.status == "cancelled"
    stored = await (await ApprovalStore.open(bus)).get(session_id, request.body.approval_id)
    assert stored is not None and stored.state == "cancelled"
    await decide(bus, session_id, request.body.approval_id)
    await events.wait_for(lambda es: any("already cancelled" in e.body.message for e in es if e.type == JOB_LOG))
    assert len([a for a in final_answers(events) if a.job_id == asked.id]) == 1


async def _finished(bus: Bus, job: JobRecord) -> JobRecord:
    current = await (await JobStore.open(bus)).get(job.session_id, job.job_id)
    assert current is not None and current.finished, current
    return current


async def test_a_handoff_sends_the_session_s_next_messages_to_the_other_twin(
    bus: Bus, full_planner: PlannerService, observe: ObserveFactory, session_id: str, say: Say, make_twin: MakeTwin
) -> None:
    billing = await make_twin()
    support = await make_twin(may_ask=[billing])
    events = await observe(one_session(session_id))
    handed = await say(f"/handoff {billing} a refund question", twin_id=support)
    answer = await wait_job_answer(events, handed.id)
    assert answer.body.content == f"The conversation is now with {billing} (a refund question)."
    shown = [e for e in events.of_type(JOB_LOG) if e.body.message.startswith("handoff:")]
    assert [e.body.message for e in shown] == [
        f"handoff: the session now talks to {billing}, handed over by {support} (a refund question)"
    ]
    after = await say("hello again", twin_id=support)
    assert (await wait_job_answer(events, after.id)).body.content.startswith(f"Hello, this is {billing}.")
    # Another session is not handed over.
    other_session = f"{session_id}-other"
    others = await observe(one_session(other_session))
    elsewhere = await say("hello", twin_id=support, session=other_session)
    assert (await wait_job_answer(others, elsewhere.id)).body.content.startswith(f"Hello, this is {support}.")


async def test_a_handoff_outside_the_policy_changes_nothing(
    bus: Bus, full_planner: PlannerService, observe: ObserveFactory, session_id: str, say: Say, make_twin: MakeTwin
) -> None:
    billing = await make_twin()
    support = await make_twin()
    events = await observe(one_session(session_id))
    handed = await say(f"/handoff {billing}", twin_id=support)
    assert "is not among the twins" in (await wait_job_answer(events, handed.id)).body.content
    after = await say("hello", twin_id=support)
    assert (await wait_job_answer(events, after.id)).body.content.startswith(f"Hello, this is {support}.")
    assert len(final_answers(events)) == 2
    await wait_answer(events, 2)


async def test_a_planner_killed_mid_tree_finishes_the_tree_exactly_once(
    nats_server: NatsServer, bus: Bus, memory_worker: MemoryWorker, observe: ObserveFactory, session_id: str,
    say: Say, make_twin: MakeTwin, tmp_path: Path,
) -> None:  # fmt: skip
    env = {**os.environ, "NATS_URL": nats_server.url, "PAGI_DATA_DIR": str(tmp_path)}

    async def start_planner() -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "planner", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        assert proc.stdout is not None
        async with asyncio.timeout(60):
            while b"service ready" not in await proc.stdout.readline():
                pass
        return proc

    reviewer = await make_twin()
    ops = await make_twin(may_ask=[reviewer])
    events = await observe(one_session(session_id))
    first = await start_planner()
    asked = await say(f"/ask {reviewer} /memory lateral movement", twin_id=ops)
    [request] = await events.wait_count(APPROVE_REQUEST, 1, timeout=30)
    first.send_signal(signal.SIGKILL)
    await first.wait()

    second = await start_planner()
    try:
        await decide(bus, session_id, request.body.approval_id)
        answer = await wait_job_answer(events, asked.id, timeout=60)
        assert answer.body.content.startswith(f"{reviewer} answered:") and "lateral movement" in answer.body.content
        [child] = await children(bus, asked.id)
        # The parent is told first, the sub-job recorded finished after: a crash in between repeats the telling.
        child = await eventually(lambda: _finished(bus, child), what="the sub-job recorded finished")
        assert child.status == "completed"
        assert len(await bus.read_stream(EVENTS.name, f"memory.query.{session_id}")) == 1
        assert len(await bus.read_stream(EVENTS.name, f"approve.request.{session_id}")) == 1
        parent_answers = [e for _, e in await bus.read_stream(EVENTS.name, f"chat.out.{session_id}")
                          if e.job_id == asked.id and e.body.is_final and e.body.status == "completed"]  # fmt: skip
        assert len(parent_answers) == 1
    finally:
        second.terminate()
        await second.wait()


async def test_a_coordinator_asks_three_twins_in_turn_each_gated_step_approved(
    bus: Bus, full_planner: PlannerService, memory_worker: MemoryWorker, observe: ObserveFactory, session_id: str,
    say: Say, make_twin: MakeTwin,
) -> None:  # fmt: skip
    reviewer, tester, writer = await make_twin(), await make_twin(), await make_twin()
    lead = await make_twin(may_ask=[reviewer, tester, writer])
    events = await observe(one_session(session_id))
    round_ = [f"/ask {reviewer} /memory code review checklist", f"/ask {tester} write the tests",
              f"/ask {writer} /memory doc style"]  # fmt: skip
    asked = await say("\n".join(round_), twin_id=lead)
    for count in (1, 2):
        requests = await events.wait_count(APPROVE_REQUEST, count, timeout=15)
        assert f"asked by {lead} → " in requests[-1].body.reason
        await decide(bus, session_id, requests[-1].body.approval_id)
    answer = await wait_job_answer(events, asked.id, timeout=20)
    parts = answer.body.content.split("\n\n")
    assert [p.split(" ")[0] for p in parts] == [reviewer, tester, writer]
    assert "code review checklist" in parts[0] and "write the tests" in parts[1] and "doc style" in parts[2]
    assert answer.body.actions_taken == ["ActionAskTwin"] * 3 + ["ActionResponse"]
    assert sorted(j.twin_id for j in await children(bus, asked.id)) == sorted([reviewer, tester, writer])
