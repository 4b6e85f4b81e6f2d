"""Bus events -> the seed's WebSocket frames."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bus_schemas import ChatOut, Envelope, JobLog, PlanAction
from bus_schemas.subjects import CHAT_OUT, JOB_LOG, PLAN_ACTION
from bus_schemas.web import CompleteMessage, MessageChunk, StatusUpdate


def frame_for(event: Envelope[Any]) -> BaseModel | None:
    """The frame a chat client sees for an event, or None for events the chat does not show."""
    body = event.body
    if event.type == CHAT_OUT and isinstance(body, ChatOut):
        if not body.is_final:
            return MessageChunk(
                id=event.id, content_chunk=body.content, session_id=event.session_id, job_id=event.job_id
            )
        return CompleteMessage(
            id=event.id,
            content=body.content,
            latency_ms=body.latency_ms,
            source_memories=body.source_memories,
            issued_command=body.issued_command,
            raw_orchestrator_decision=body.raw_orchestrator_decision,
            session_id=event.session_id,
            job_id=event.job_id,
        )
    if event.type == PLAN_ACTION and isinstance(body, PlanAction):
        return StatusUpdate(
            status="thinking",
            details=f"decided {body.action.action_type} ({body.decided_by})",
            session_id=event.session_id,
            job_id=event.job_id,
        )
    if event.type == JOB_LOG and isinstance(body, JobLog):
        return StatusUpdate(
            status="error" if body.level == "error" else (body.status or body.level),
            details=body.message,
            session_id=event.session_id,
            job_id=event.job_id,
        )
    return None
