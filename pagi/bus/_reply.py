"""Core request/reply: a question on a subject, answered once on the asker's inbox, never stored.

The answering side is a NATS micro endpoint (`pagi.micro`), so `nats micro` tools see it."""

from __future__ import annotations

from typing import TypeVar

from nats.aio.client import Client
from pydantic import BaseModel, ValidationError

from bus_schemas.safe_json import PayloadError, loads_json

from ._errors import TRANSIENT_ERRORS, BusUnavailable

M = TypeVar("M", bound=BaseModel)


async def request(nc: Client, subject: str, payload: BaseModel, reply: type[M], timeout_s: float = 5.0) -> M:
    """A core request/reply call (not stored), e.g. a search that must not fill the events
    stream. Raises BusUnavailable when nobody answers in time, or the answer is no `reply`
    (read with the same bounds as every payload: `bus_schemas.safe_json`)."""
    try:
        msg = await nc.request(subject, payload.model_dump_json().encode(), timeout=timeout_s)
    except TRANSIENT_ERRORS as exc:
        raise BusUnavailable(f"no answer on {subject} within {timeout_s}s: {type(exc).__name__}") from exc
    try:
        return reply.model_validate(loads_json(msg.data, what=f"the answer on {subject}"))
    except PayloadError as exc:
        raise BusUnavailable(exc.reason) from None
    except ValidationError as exc:
        raise BusUnavailable(
            f"the answer on {subject} is not a {reply.__name__} ({exc.error_count()} problems)"
        ) from None
