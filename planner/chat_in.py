"""chat.in.<session>: decide what to do with a person's message, and answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bus_schemas import ChatIn, ChatOut, Envelope, JobLog, PlanAction
from bus_schemas.subjects import CHAT_OUT, JOB_LOG, PLAN_ACTION
from pagi.consume import Delivery

from . import deterministic

DEFAULT_TWIN = "orchestrator"


async def handle_chat_in(event: Envelope[Any], delivery: Delivery) -> None:
    body: ChatIn = event.body
    twin_id = event.twin_id or body.twin_id or DEFAULT_TWIN
    job_id = event.job_id or event.id
    decision = deterministic.decide(body.message, twin_id)
    follow_up = {"job_id": job_id, "twin_id": twin_id}
    plan = event.caused(
        "plan-1",
        PLAN_ACTION,
        PlanAction(action=decision.action, raw_decision=decision.raw, decided_by="deterministic"),
        **follow_up,
    )
    latency_ms = (datetime.now(UTC) - event.ts).total_seconds() * 1000
    answer = event.caused(
        "answer",
        CHAT_OUT,
        ChatOut(
            content=getattr(decision.action, "content", ""),
            actions_taken=[decision.action.action_type],
            raw_orchestrator_decision=decision.raw,
            latency_ms=round(latency_ms, 2),
        ),
        **follow_up,
    )
    done = event.caused(
        "job-done",
        JOB_LOG,
        JobLog(level="plan", service="planner", status="completed", message="answered", progress=1.0),
        **follow_up,
    )
    await delivery.bus.publish_all(plan, answer, done)
