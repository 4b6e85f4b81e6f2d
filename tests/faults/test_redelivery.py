"""A chat.in redelivered after its approval was decided (what a nats-server restart does to a
message whose ack was lost) must not send the job back to waiting for that approval: the worker's
result would then be dropped as stale and the job would hang. Found by the nats-server kill case."""

from __future__ import annotations

from typing import Any

from bus_schemas import ApprovalDecision, ChatIn, Envelope, new_id
from bus_schemas.memory import MemoryResult
from bus_schemas.subjects import (
    APPROVE_DECISION,
    APPROVE_REQUEST,
    CHAT_IN,
    CHAT_OUT,
    MEMORY_QUERY,
    MEMORY_RESULT,
    one_session,
)
from pagi.bus import Bus, Delivery
from pagi.service import start_routes
from planner.__main__ import PlannerService
from records import approvals as approval_moves
from records import jobs as job_moves
from records.approvals import ApprovalStore
from records.jobs import JobStore

from ..support import EventCollector, ObserveFactory


async def test_a_redelivered_chat_in_after_the_approval_does_not_regress_the_job(
    bus: Bus, observe: ObserveFactory, session_id: str
) -> None:
    service = PlannerService()
    routes = await service.routes(bus)
    consumers = await start_routes(bus, routes)
    try:
        events = await observe(one_session(session_id))
        job_id = new_id()
        chat_in = Envelope[ChatIn](
            id=job_id, type=CHAT_IN, session_id=session_id, job_id=job_id, body=ChatIn(message="/memory redelivery")
        )
        await bus.publish(chat_in)
        [request] = await events.wait_count(APPROVE_REQUEST, 1)
        decision = ApprovalDecision(approval_id=request.body.approval_id, approved=True, decided_by="tester")
        await bus.publish(Envelope[ApprovalDecision](type=APPROVE_DECISION, session_id=session_id, body=decision))
        await events.wait_count(MEMORY_QUERY, 1)  # dispatched: the job now waits for the memory worker
        jobs = await JobStore.open(bus)
        before = await jobs.get(session_id, job_id)
        assert before is not None and before.waiting_for == "memory"

        # The consume loop hands the same message to the handler again (attempt 2).
        chat_handler = routes[0].handler
        delivery: Any = Delivery(bus, "planner-chat-in", attempt=2, stream_seq=1, _msg=None)  # type: ignore[arg-type]
        await chat_handler(chat_in, delivery)

        after = await jobs.get(session_id, job_id)
        assert after is not None
        assert (after.waiting_for, after.waiting_id) == (before.waiting_for, before.waiting_id), after
    finally:
        for consumer in consumers:
            await consumer.stop()
        await service.close()


async def _waiting_for_memory(
    bus: Bus, observe: ObserveFactory, session_id: str
) -> tuple[EventCollector, str, Envelope[Any]]:
    events = await observe(one_session(session_id))
    job_id = new_id()
    chat_in = Envelope[ChatIn](
        id=job_id, type=CHAT_IN, session_id=session_id, job_id=job_id, body=ChatIn(message="/memory crash window")
    )
    await bus.publish(chat_in)
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    return events, job_id, request


async def test_a_result_redelivered_after_its_observation_was_recorded_still_finishes_the_job(
    bus: Bus, observe: ObserveFactory, session_id: str
) -> None:
    """Killed between recording the worker's answer and storing the next step (the CI run that found
    it): the redelivered result used to be dropped as stale, and the job never answered."""
    service = PlannerService()
    consumers = await start_routes(bus, await service.routes(bus))
    try:
        events, job_id, request = await _waiting_for_memory(bus, observe, session_id)
        decision = ApprovalDecision(approval_id=request.body.approval_id, approved=True, decided_by="tester")
        await bus.publish(Envelope[ApprovalDecision](type=APPROVE_DECISION, session_id=session_id, body=decision))
        [query] = await events.wait_count(MEMORY_QUERY, 1)
        result = Envelope[MemoryResult](
            type=MEMORY_RESULT,
            session_id=session_id,
            job_id=job_id,
            body=MemoryResult(request_id=query.body.request_id),
        )
        jobs = await JobStore.open(bus)
        waiting = await jobs.get(session_id, job_id)
        assert waiting is not None and waiting.waiting_id == query.body.request_id
        # What the first delivery wrote before the planner died.
        await jobs.update(waiting, job_moves.record_observation(1, "0 memories", result.id, waiting.updated_at))

        await bus.publish(result)  # the redelivery
        [answer] = await events.wait_for_count(
            lambda e: e.type == CHAT_OUT and e.body.is_final and e.body.status != "awaiting_approval", 1
        )
        assert answer.body.status == "completed", answer.body
    finally:
        for consumer in consumers:
            await consumer.stop()
        await service.close()


async def test_a_denial_redelivered_after_its_observation_was_recorded_still_finishes_the_job(
    bus: Bus, observe: ObserveFactory, session_id: str
) -> None:
    service = PlannerService()
    consumers = await start_routes(bus, await service.routes(bus))
    try:
        events, job_id, request = await _waiting_for_memory(bus, observe, session_id)
        approval_id = request.body.approval_id
        decision = Envelope[ApprovalDecision](
            type=APPROVE_DECISION,
            session_id=session_id,
            body=ApprovalDecision(approval_id=approval_id, approved=False, decided_by="tester"),
        )
        approvals = await ApprovalStore.open(bus)
        jobs = await JobStore.open(bus)
        record = await approvals.get(session_id, approval_id)
        job = await jobs.get(session_id, job_id)
        assert record is not None and job is not None
        # What the first delivery wrote before the planner died: the denial and its observation.
        await approvals.update(record, approval_moves.deny("tester", record.created_at, None, decision.id))
        await jobs.update(job, job_moves.record_observation(1, "denied", decision.id, job.updated_at))

        await bus.publish(decision)  # the redelivery
        [answer] = await events.wait_for_count(
            lambda e: e.type == CHAT_OUT and e.body.is_final and e.body.status != "awaiting_approval", 1
        )
        assert answer.body.status == "completed", answer.body
        rejected = [e for e in events.events if e.type == "job.log" and e.body.level == "error"]
        assert not rejected, [e.body.message for e in rejected]
    finally:
        for consumer in consumers:
            await consumer.stop()
        await service.close()
