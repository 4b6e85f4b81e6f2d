"""Request over the stream: publish a request event, then wait for the result event that answers it.

Used where the answer must be on the record (a memory write, a tool's memory query): unlike core
request/reply (`pagi.bus._reply`), both the request and its result are stored events of the session.
Three rules make it safe: listen before asking, so a fast answer cannot slip past; match the answer
by the request id the request and its result both carry (other results on the subject are for
other askers); and wait a bounded time, then say plainly that nobody answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from bus_schemas import Envelope

from ._client import Bus


class Correlated(Protocol):
    """A request or result body: carries the id that ties a result to its request."""

    @property
    def request_id(self) -> str: ...


R = TypeVar("R", bound=Correlated)


class ReplyTimeout(TimeoutError):
    """No matching result arrived in time."""


@dataclass(frozen=True)
class PendingReply(Generic[R]):
    """A request that was sent, and the future of its result."""

    request_id: str
    answer: asyncio.Future[R]


class StreamReplies(Generic[R]):
    """Results of type `reply_type` matched to the requests sent through `send`/`ask`.

    Something must feed it every event that may be a result (`offer`) from before the first request
    is published: `stream_replies` does it with a core subscription on the result subject; a
    caller that already follows the stream (the edge's session hub) passes `offer` as its listener.
    """

    def __init__(self, bus: Bus, reply_type: type[R], source: str) -> None:
        self._bus = bus
        self._reply_type = reply_type
        self._source = source  # where results arrive, for the timeout's message
        self._pending: dict[str, asyncio.Future[R]] = {}

    def offer(self, event: Envelope[Any]) -> None:
        """Look at one event; if it is the result of a pending request, that request has its answer."""
        body = event.body
        if isinstance(body, self._reply_type):
            waiting = self._pending.get(body.request_id)
            if waiting is not None and not waiting.done():
                waiting.set_result(body)

    async def _on_event(self, event: Envelope[Any]) -> None:
        self.offer(event)

    async def send(self, request: Envelope[Any]) -> PendingReply[R]:
        """Publish `request` (its body carries the request id); its result is then awaited with `wait`.
        The result's future is registered before the publish, so even an instant answer finds it."""
        request_id: str = request.body.request_id
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        try:
            await self._bus.publish(request)
        except BaseException:
            self._pending.pop(request_id, None)
            raise
        return PendingReply(request_id, answer)

    async def wait(self, pending: PendingReply[R], timeout_s: float) -> R:
        """The result of a sent request, within `timeout_s`; ReplyTimeout when none came."""
        try:
            return await asyncio.wait_for(pending.answer, timeout_s)
        except TimeoutError:
            raise ReplyTimeout(
                f"no {self._reply_type.__name__} for request {pending.request_id} on {self._source} "
                f"within {timeout_s:g} s"
            ) from None
        finally:
            self._pending.pop(pending.request_id, None)

    async def ask(self, request: Envelope[Any], timeout_s: float) -> R:
        """Publish `request` and wait (bounded) for its result."""
        return await self.wait(await self.send(request), timeout_s)


@asynccontextmanager
async def stream_replies(bus: Bus, subject: str, reply_type: type[R]) -> AsyncIterator[StreamReplies[R]]:
    """Results arriving on `subject` from now on: the server has the subscription before this yields."""
    replies = StreamReplies(bus, reply_type, subject)
    observer = await bus.observe(subject, replies._on_event)
    try:
        await bus.flush()
        yield replies
    finally:
        await observer.stop()


async def request_over_stream(
    bus: Bus, request: Envelope[Any], reply_subject: str, reply_type: type[R], timeout_s: float
) -> R:
    """Publish `request`, wait for its result on `reply_subject`; ReplyTimeout after `timeout_s`."""
    async with stream_replies(bus, reply_subject, reply_type) as replies:
        return await replies.ask(request, timeout_s)
