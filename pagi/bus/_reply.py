"""Core request/reply: a question on a subject, answered once on the asker's inbox, never stored.

The answering side is a NATS micro endpoint (`pagi.micro`), so `nats micro` tools see it."""

from __future__ import annotations

from typing import TypeVar

from nats.aio.client import Client
from pydantic import BaseModel

from ._errors import TRANSIENT_ERRORS, BusUnavailable

M = TypeVar("M", bound=BaseModel)


async def request(nc: Client, subject: str, payload: BaseModel, reply: type[M], timeout_s: float = 5.0) -> M:
    """A core request/reply call (not stored), e.g. a search that must not fill the events
    stream. Raises BusUnavailable when nobody answers in time."""
    try:
        msg = await nc.request(subject, payload.model_dump_json().encode(), timeout=timeout_s)
    except TRANSIENT_ERRORS as exc:
        raise BusUnavailable(f"no answer on {subject} within {timeout_s}s: {type(exc).__name__}") from exc
    return reply.model_validate_json(msg.data)
