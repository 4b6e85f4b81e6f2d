"""Human in the loop against the real bus, planner and memory worker: every approval rule."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from bus_schemas import ApprovalDecision, Envelope
from bus_schemas.approval import ApprovalChanges
from bus_schemas.jobs import JobCancel
from bus_schemas.streams import EVENTS
from bus_schemas.subjects import APPROVE_REQUEST, CHAT_OUT, JOB_LOG, MEMORY_QUERY, one_session
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus
from pagi_cli.nats_server import NatsServer
from planner.__main__ import PlannerService
from records.approvals import ApprovalStore

from ..support import EventCollector, ObserveFactory
from .conftest import MakeTwin, Say


async def decide(
    bus: Bus, session: str, approval_id: str, approved: bool = True, always: bool = False, reason: str | None = None,
    changes: ApprovalChanges | None = None,
) -> Envelope[Any]:  # fmt: skip
    event = Envelope[ApprovalDecision](
        type="approve.decision",
        session_id=session,
        body=ApprovalDecision(approval_id=approval_id, approved=approved, decided_by="alice", reason=reason,
                              always=always, changes=changes),
    )  # fmt: skip
    await bus.publish(event)
    return event


def final_answers(events: EventCollector) -> list[Envelope[Any]]:
    return [e for e in events.of_type(CHAT_OUT) if e.body.status != "awaiting_approval" and e.body.is_final]


async def wait_answer(events: EventCollector, count: int = 1, timeout: float = 15) -> Envelope[Any]:
    await events.wait_for(lambda _: len(final_answers(events)) >= count, timeout)
    return final_answers(events)[count - 1]


async def errors(events: EventCollector, count: int) -> list[str]:
    found = await events.wait_for_count(lambda e: e.type == JOB_LOG and e.body.level == "error", count)
    return [e.body.message for e in found]


async def test_memory_query_waits_for_approval_then_runs_once(
    bus: Bus, full_planner: PlannerService, memory_worker: MemoryWorker, observe: ObserveFactory, session_id: str,
    say: Say,
) -> None:  # fmt: skip
    events = await observe(one_session(session_id))
    await say("search for recent SSH attacks")
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    assert request.body.kind == "memory" and request.body.action.query == "recent SSH attacks"
    question = next(e for e in events.of_type(CHAT_OUT) if e.body.status == "awaiting_approval")
    assert question.body.issued_command.command == "show_memory_page"
    assert question.body.issued_command.approval_id == request.body.approval_id
    assert events.of_type(MEMORY_QUERY) == []  # nothing runs before approval

    pending = await (await ApprovalStore.open(bus)).pending(session_id)
    assert [p.approval_id for p in pending] == [request.body.approval_id]

    await decide(bus, session_id, request.body.approval_id)
    answer = await wait_answer(events)
    assert answer.body.status == "completed"
    assert "recent SSH attacks" in answer.body.content
    assert answer.body.actions_taken == ["ActionMemory", "ActionResponse"]
    assert len(events.of_type(MEMORY_QUERY)) == 1


async def test_denial_with_a_reason_reaches_the_planner_and_nothing_runs(
    bus: Bus, full_planner: PlannerService, observe: ObserveFactory, session_id: str, say: Say
) -> None:
    events = await observe(one_session(session_id))
    await say("/memory passwords")
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    await decide(bus, session_id, request.body.approval_id, approved=False, reason="not now")
    answer = await wait_answer(events)
    assert "denied" in answer.body.content and "not now" in answer.body.content
    stored = await bus.read_stream(EVENTS.name, f"memory.query.{session_id}")
    assert stored == []


async def test_a_second_decision_unknown_ids_and_other_sessions_change_nothing(
    bus: Bus, full_planner: PlannerService, memory_worker: MemoryWorker, observe: ObserveFactory, session_id: str,
    say: Say,
) -> None:  # fmt: skip
    events = await observe(one_session(session_id))
    await say("/memory incident 42")
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    approval_id = request.body.approval_id

    other_session = f"{session_id}-other"
    other = await observe(one_session(other_session))
    await decide(bus, other_session, approval_id)
    assert (await errors(other, 1))[0] == f"no approval {approval_id} in session {other_session}"
    await decide(bus, session_id, "does-not-exist")
    assert "no approval does-not-exist" in (await errors(events, 1))[0]

    await decide(bus, session_id, approval_id)
    await decide(bus, session_id, approval_id, approved=False)
    assert f"approval {approval_id} was already approved" in (await errors(events, 2))[1]
    await wait_answer(events)
    assert len(await bus.read_stream(EVENTS.name, f"memory.query.{session_id}")) == 1


async def test_an_unanswered_approval_expires_and_the_job_says_so(
    bus: Bus, full_planner: PlannerService, observe: ObserveFactory, session_id: str, say: Say, make_twin: MakeTwin
) -> None:
    twin = await make_twin(approval_timeout_s=5)
    events = await observe(one_session(session_id))
    await say("/memory anything", twin_id=twin)
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    answer = await wait_answer(events, timeout=15)
    assert answer.body.status == "failed"
    assert f"Approval {request.body.approval_id} expired" in answer.body.content
    await decide(bus, session_id, request.body.approval_id)
    assert "was already expired" in (await errors(events, 1))[0]


async def test_policy_denial_never_reaches_approval(
    bus: Bus, full_planner: PlannerService, observe: ObserveFactory, session_id: str, say: Say, make_twin: MakeTwin
) -> None:
    twin = await make_twin(allowed_tools=["file_read"], code_generation=False)
    events = await observe(one_session(session_id))
    await say("run command rm -rf /", twin_id=twin)
    answer = await wait_answer(events)
    assert "not among" in answer.body.content and "allowed tools" in answer.body.content
    await say("/build evil python\nprint(1)", twin_id=twin)
    second = await wait_answer(events, 2)
    assert "code generation is switched off" in second.body.content
    assert events.of_type(APPROVE_REQUEST) == []


async def test_seed_marker_approves_the_pending_approval_it_names(
    bus: Bus, full_planner: PlannerService, memory_worker: MemoryWorker, observe: ObserveFactory, session_id: str,
    say: Say,
) -> None:  # fmt: skip
    events = await observe(one_session(session_id))
    await say("/memory firewall rules")
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    await say("please approve it")  # ordinary text approves nothing: it is a new job
    await wait_answer(events)
    assert events.of_type(MEMORY_QUERY) == []
    await say(f"[MEMORY_SHOWN] {request.body.approval_id}")  # what show_memory_page.memory_id carries
    answer = await wait_answer(events, 2)
    assert "firewall rules" in answer.body.content
    assert len(events.of_type(MEMORY_QUERY)) == 1


async def test_a_cancelled_job_ends_and_its_approval_cannot_be_used(
    bus: Bus, full_planner: PlannerService, observe: ObserveFactory, session_id: str, say: Say
) -> None:
    events = await observe(one_session(session_id))
    started = await say("/memory secrets")
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    cancel = Envelope[JobCancel](
        type="job.cancel", session_id=session_id, body=JobCancel(job_id=started.id, requested_by="alice")
    )
    await bus.publish(cancel)
    answer = await wait_answer(events)
    assert answer.body.status == "cancelled" and "Cancelled by alice" in answer.body.content
    await decide(bus, session_id, request.body.approval_id)
    assert "was already cancelled" in (await errors(events, 1))[0]


async def test_a_planner_killed_between_request_and_decision_still_runs_it_once(
    nats_server: NatsServer, bus: Bus, memory_worker: MemoryWorker, observe: ObserveFactory, session_id: str,
    say: Say, tmp_path: Path,
) -> None:  # fmt: skip
    env = {**os.environ, "NATS_URL": nats_server.url, "PAGI_DATA_DIR": str(tmp_path)}

    async def start_planner() -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "planner", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            while b"service ready" not in await proc.stdout.readline():
                pass
        return proc

    events = await observe(one_session(session_id))
    first = await start_planner()
    await say("/memory lateral movement")
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    first.send_signal(signal.SIGKILL)
    await first.wait()

    second = await start_planner()
    try:
        await decide(bus, session_id, request.body.approval_id)
        answer = await wait_answer(events, timeout=20)
        assert "lateral movement" in answer.body.content
        assert len(await bus.read_stream(EVENTS.name, f"memory.query.{session_id}")) == 1
    finally:
        second.terminate()
        await second.wait()


async def test_every_step_and_status_is_on_the_job_log(
    bus: Bus, full_planner: PlannerService, observe: ObserveFactory, session_id: str, say: Say
) -> None:
    events = await observe(one_session(session_id))
    await say("/memory x")
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    await decide(bus, session_id, request.body.approval_id)
    # No memory worker is running: the request waits, the job log says so, then the step fails.
    answer = await wait_answer(events, timeout=15)
    statuses = [e.body.status for e in events.of_type(JOB_LOG) if e.body.status]
    assert statuses[:3] == ["pending", "waiting_approval", "running"]
    assert statuses[-1] == "completed"
    messages = " ".join(e.body.message for e in events.of_type(JOB_LOG))
    assert "the request waits in its stream" in messages
    assert "No memory worker answered" in answer.body.content
