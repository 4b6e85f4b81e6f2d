"""Core request/reply: a question on a subject, answered once on the asker's inbox, never stored."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.aio.client import Client
from nats.aio.msg import Msg
from pydantic import BaseModel

from ._errors import TRANSIENT_ERRORS, BusUnavailable
from ._subscription import Observer

M = TypeVar("M", bound=BaseModel)


async def request(nc: Client, subject: str, payload: BaseModel, reply: type[M], timeout_s: float = 5.0) -> M:
    """A core request/reply call (not stored), e.g. a search that must not fill the events
    stream. Raises BusUnavailable when nobody answers in time."""
    try:
        msg = await nc.request(subject, payload.model_dump_json().encode(), timeout=timeout_s)
    except TRANSIENT_ERRORS as exc:
        raise BusUnavailable(f"no answer on {subject} within {timeout_s}s: {type(exc).__name__}") from exc
    return reply.model_validate_json(msg.data)


async def serve_requests(
    nc: Client, subject: str, handler: Callable[[bytes], Awaitable[BaseModel]], queue: str
) -> Observer:
    """Answer core requests on `subject`; every copy of the service joins `queue`, so each
    request is answered once. The handler validates the payload and answers even bad ones."""

    async def on_msg(msg: Msg) -> None:
        answer = await handler(msg.data)
        if msg.reply:
            with contextlib.suppress(*TRANSIENT_ERRORS):
                await nc.publish(msg.reply, answer.model_dump_json(exclude_none=True).encode())

    return Observer(await nc.subscribe(subject, queue=queue, cb=on_msg))
