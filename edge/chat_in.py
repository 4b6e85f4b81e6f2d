"""Turning a person's message into a chat.in event on the bus (shared by WebSocket and HTTP)."""

from __future__ import annotations

from typing import Any

from bus_schemas import ChatIn, Envelope, new_id
from bus_schemas.subjects import CHAT_IN
from pagi.bus import Bus
from pagi.tracing import job_span


async def publish_chat_in(
    bus: Bus,
    session_id: str,
    message: str,
    user_id: str | None,
    twin_id: str | None,
    namespace: str | None,
    job_id: str | None = None,
) -> Envelope[Any]:
    """Start a job: its id is the job id every event of the job carries, and its trace starts here."""
    job_id = job_id or new_id()
    event = Envelope[ChatIn](
        id=job_id,
        type=CHAT_IN,
        session_id=session_id,
        job_id=job_id,
        twin_id=twin_id,
        body=ChatIn(message=message, user_id=user_id, twin_id=twin_id, namespace=namespace),
    )
    with job_span(session_id, job_id, twin_id):
        await bus.publish(event)
    return event
