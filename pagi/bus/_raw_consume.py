"""A durable pull consumer of messages that are not PAGI events (e.g. JetStream's schedule firings
in PAGI_SCHEDULES, whose bodies and headers the server writes): the handler gets the subject, the
headers and the stored time, not a decoded envelope. Like `PullConsumer`: at most `max_in_flight`
handled at once, the ack wait kept alive while a handler runs, ack after it, nak with backoff when it
raises, and the durable bound again (with backoff) after any bus error, until `stopping`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import nats.errors
from nats.aio.msg import Msg

from bus_schemas.streams import ConsumerSpec
from pagi.backoff import Backoff

from ._client import Bus
from ._consume import NAK_BACKOFF, Delivery
from ._errors import TRANSIENT_ERRORS
from ._keep_alive import KeepAlive

log = logging.getLogger("pagi.bus.raw")

REBIND_BACKOFF: Final = Backoff(base_s=0.5, cap_s=10.0)
FETCH_TIMEOUT_S: Final = 1.0


@dataclass(frozen=True)
class RawMessage:
    subject: str
    stored_at: datetime
    headers: dict[str, str] = field(default_factory=dict)
    data: bytes = b""


RawHandler = Callable[[RawMessage, Delivery], Awaitable[None]]


class RawPullConsumer:
    def __init__(self, bus: Bus, spec: ConsumerSpec, handler: RawHandler, max_in_flight: int = 16) -> None:
        self.bus = bus
        self.spec = spec
        self.handler = handler
        self.max_in_flight = max_in_flight
        self._keep_alive = KeepAlive(spec.ack_wait_s)

    async def run(self, stopping: asyncio.Event) -> None:
        try:
            await self._run(stopping)
        finally:
            self._keep_alive.stop()

    async def _run(self, stopping: asyncio.Event) -> None:
        failures = 0
        while not stopping.is_set():
            try:
                sub = await self.bus.js.pull_subscribe_bind(self.spec.durable, stream=self.spec.stream)
            except Exception as exc:
                failures += 1
                log.warning("%s: cannot bind: %s", self.spec.durable, exc)
                await _sleep_or_stop(stopping, REBIND_BACKOFF.delay(failures))
                continue
            try:
                await self._pull(sub, stopping)
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning("%s: pull failed, binding again: %s", self.spec.durable, exc)
                await _sleep_or_stop(stopping, REBIND_BACKOFF.delay(failures))
            finally:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def _pull(self, sub: Any, stopping: asyncio.Event) -> None:
        running: set[asyncio.Task[None]] = set()
        try:
            while not stopping.is_set():
                room = self.max_in_flight - len(running)
                if room == 0:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    msgs: list[Msg] = await sub.fetch(room, timeout=FETCH_TIMEOUT_S)
                except nats.errors.TimeoutError:
                    continue
                for msg in msgs:
                    # Each its own task: one slow handler does not hold back the others.
                    task = asyncio.create_task(self._one(msg))
                    running.add(task)
                    task.add_done_callback(running.discard)
        finally:
            if running:
                await asyncio.wait(running, timeout=10)

    async def _one(self, msg: Msg) -> None:
        meta = msg.metadata
        try:
            delivery = Delivery(self.bus, self.spec.durable, meta.num_delivered, meta.sequence.stream, msg)
            raw = RawMessage(msg.subject, meta.timestamp, dict(msg.headers or {}), msg.data)
            with self._keep_alive.working(msg):
                await self.handler(raw, delivery)
        except Exception:
            log.exception("%s: %s (seq %d) failed; retried", self.spec.durable, msg.subject, meta.sequence.stream)
            with contextlib.suppress(*TRANSIENT_ERRORS):
                await msg.nak(delay=NAK_BACKOFF.delay(meta.num_delivered))
            return
        with contextlib.suppress(*TRANSIENT_ERRORS):
            await msg.ack()


async def _sleep_or_stop(stopping: asyncio.Event, delay: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), delay)
