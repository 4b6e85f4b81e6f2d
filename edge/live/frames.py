"""Bus events -> what clients see: the chat WebSocket's frames (the seed's sparse protocol and PAGI's
verbose one, `bus_schemas.web.VERBOSE_FRAMES_PROTOCOL`), and SSE events."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bus_schemas import ChatOut, Envelope, JobLog, PlanAction
from bus_schemas.subjects import CHAT_OUT, JOB_LOG, PLAN_ACTION
from bus_schemas.web import CompleteMessage, EventFrame, MessageChunk, StatusUpdate

from .feeds import FeedItem


def frame_for(event: Envelope[Any], seq: int | None = None) -> BaseModel | None:
    """The seed's frame for an answer, a plan action or a job log line; None for other events."""
    body = event.body
    if event.type == CHAT_OUT and isinstance(body, ChatOut):
        if not body.is_final:
            return MessageChunk(
                id=event.id, content_chunk=body.content, session_id=event.session_id, job_id=event.job_id, seq=seq
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
            seq=seq,
        )
    if event.type == PLAN_ACTION and isinstance(body, PlanAction):
        return StatusUpdate(
            status="thinking",
            details=f"decided {body.action.action_type} ({body.decided_by})",
            session_id=event.session_id,
            job_id=event.job_id,
            seq=seq,
        )
    if event.type == JOB_LOG and isinstance(body, JobLog):
        return StatusUpdate(
            status="error" if body.level == "error" else (body.status or body.level),
            details=body.message,
            session_id=event.session_id,
            job_id=event.job_id,
            seq=seq,
        )
    return None


def event_frame(item: FeedItem) -> EventFrame:
    event = item.event
    return EventFrame(
        seq=item.seq,
        event_type=event.type,
        id=event.id,
        ts=event.ts,
        session_id=event.session_id,
        job_id=event.job_id,
        causation_id=event.causation_id,
        twin_id=event.twin_id,
        body=event.body.model_dump(mode="json"),
    )


def _ws_text(item: FeedItem) -> str:
    frame = frame_for(item.event, item.seq) or event_frame(item)
    return frame.model_dump_json()


def ws_text(item: FeedItem) -> str:
    """Every event of a session reaches the chat socket: the seed's frame where there is one, else
    an `event` frame; each carries the stream sequence a reconnecting client resumes from."""
    return item.rendered("ws", _ws_text)


def seed_shows(frame: BaseModel) -> bool:
    """Does the seed's sparse protocol carry this frame? Answers, chunks and errors only: the seed's
    console renders every other status as a chat bubble."""
    if isinstance(frame, StatusUpdate):
        return frame.status == "error"
    return isinstance(frame, CompleteMessage | MessageChunk)


def _sparse_ws_text(item: FeedItem) -> str | None:
    frame = frame_for(item.event, item.seq)
    return frame.model_dump_json() if frame is not None and seed_shows(frame) else None


def sparse_ws_text(item: FeedItem) -> str | None:
    """The seed's sparse protocol: an event's frame if the seed would show it, else nothing."""
    return item.rendered("ws-sparse", _sparse_ws_text)


def sse_bytes(data: str, event: str | None = None, event_id: int | None = None) -> bytes:
    """One SSE message. `data` is single-line JSON, so it needs no splitting."""
    head = "" if event_id is None else f"id: {event_id}\n"
    if event is not None:
        head += f"event: {event}\n"
    return f"{head}data: {data}\n\n".encode()


def _sse_event(item: FeedItem) -> bytes:
    return sse_bytes(event_frame(item).model_dump_json(), event_id=item.seq)


def sse_event(item: FeedItem) -> bytes:
    """A session event on `GET /v1/events/stream`: the default (`message`) event, id = stream sequence."""
    return item.rendered("sse", _sse_event)
