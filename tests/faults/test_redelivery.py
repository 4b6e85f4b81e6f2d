"""A chat.in redelivered after its approval was decided (what a nats-server restart does to a
message whose ack was lost) must not send the job back to waiting for that approval: the worker's
result would then be dropped as stale and the job would hang. Found by the nats-server kill case."""

from __future__ import annotations

from typing import Any

from bus_schemas import ApprovalDecision, ChatIn, Envelope, new_id
from bus_schemas.subjects import APPROVE_DECISION, APPROVE_REQUEST, CHAT_IN, MEMORY_QUERY, one_session
from pagi.bus import Bus, Delivery
from pagi.service import start_routes
from planner.__main__ import PlannerService
from records.jobs import JobStore

from ..support import ObserveFactory


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
