"""The ordered tail: a stream read in order from a sequence, then live, surviving lost consumers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api

from bus_schemas import DecodeError, Envelope, decode
from bus_schemas.codec import stored_event_id

from .. import tracing
from ..backoff import Backoff
from ._client import Bus
from ._errors import TRANSIENT_ERRORS, BusUnavailable
from ._subscription import unsubscribe_quietly

log = logging.getLogger("pagi.bus")

SeqCallback = Callable[[int, Envelope[Any]], Awaitable[None]]
# Where a tail starts: after this stream sequence (0 = the beginning), only what is published from
# now on ("new"), or the last message of every subject first ("last_per_subject").
TailStart = int | str
_TAIL_RETRYABLE: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, nats.js.errors.Error)
# Re-creating a lost consumer: at once at first, then no more often than every five seconds.
RECREATE_BACKOFF = Backoff(base_s=0.1, cap_s=5.0)


class Tail:
    """Stored events matching `filter_subject`, in stream order, each with its stream sequence.

    An ephemeral push consumer without acks, flow controlled, with idle heartbeats. Like nats-py's
    ordered consumer it is re-created from the next sequence after a gap in consumer sequences, a
    missed heartbeat or a lost consumer (server restart), so the callback sees every event once and
    in order. Unlike it, there is no polling task per subscription (an edge holds thousands of
    tails) and a failed re-creation is retried instead of logged and forgotten.
    """

    def __init__(
        self,
        bus: Bus,
        stream: str,
        filter_subjects: Sequence[str],
        callback: SeqCallback,
        heartbeat_s: float = 5.0,
        pending_limit: int = 4096,
    ) -> None:
        self._bus = bus
        self._stream = stream
        self._filters = list(filter_subjects)
        self._filter = ", ".join(self._filters)  # for log lines
        self._callback = callback
        self._config: api.ConsumerConfig | None = None
        self._heartbeat_s = heartbeat_s
        self._pending_limit = pending_limit
        # The stream sequence of the last event handed to the callback (or skipped as undecodable).
        self.last_seq = 0
        self._next_dseq = 1
        # Which consumer's deliveries count: bumped when it is replaced, so stragglers are ignored.
        self._generation = 0
        self._sub: Subscription | None = None
        self._active = True
        self._stopped = False
        self._resetting: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None

    async def start(self, start: TailStart = "new") -> None:
        await self._create(start)
        self._watchdog = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        """Stop delivering. The server drops the consumer once nobody listens (inactive threshold)."""
        self._stopped = True
        for task in (self._watchdog, self._resetting):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        await unsubscribe_quietly(self._sub)
        self._sub = None

    async def set_filters(self, filter_subjects: Sequence[str]) -> None:
        """Change what the tail delivers, keeping its place in the stream; returns once the server
        applies it, so anything published afterwards on a new subject is delivered."""
        self._filters = list(filter_subjects)
        self._filter = ", ".join(self._filters)
        if self._resetting is not None:
            # The re-creation under way takes the new filters on its next attempt; wait for it, bounded.
            try:
                await asyncio.wait_for(asyncio.shield(self._resetting), 10.0)
            except TimeoutError:
                raise BusUnavailable(f"tail on {self._filter}: its consumer is being re-created; retry") from None
        config = self._config
        if config is None:
            return
        try:
            await self._bus.js.add_consumer(self._stream, config.evolve(filter_subjects=list(self._filters)))
        except _TAIL_RETRYABLE:
            # The consumer is gone or unreachable: start a new one where this one was.
            await self._create(self.last_seq)

    async def _create(self, start: TailStart) -> None:
        config = api.ConsumerConfig(
            filter_subjects=list(self._filters),
            ack_policy=api.AckPolicy.NONE,
            max_deliver=1,
            flow_control=True,
            idle_heartbeat=self._heartbeat_s,
            mem_storage=True,
            num_replicas=1,
            inactive_threshold=max(10.0, 3 * self._heartbeat_s),
        )
        if start == "new":
            config.deliver_policy = api.DeliverPolicy.NEW
        elif start == "last_per_subject":
            config.deliver_policy = api.DeliverPolicy.LAST_PER_SUBJECT
        elif isinstance(start, int) and start > 0:
            config.deliver_policy, config.opt_start_seq = api.DeliverPolicy.BY_START_SEQUENCE, start + 1
        else:
            config.deliver_policy = api.DeliverPolicy.ALL
        inbox = self._bus.nc.new_inbox()
        config.deliver_subject = inbox
        old = self._sub
        # Set before the consumer exists: its first messages may arrive before add_consumer returns.
        self._generation += 1
        self._next_dseq, self._active = 1, True
        generation = self._generation

        async def on_msg(msg: Msg) -> None:
            if generation == self._generation and not self._stopped:
                await self._on_msg(msg)

        self._sub = await self._bus.nc.subscribe(inbox, cb=on_msg, pending_msgs_limit=self._pending_limit)
        await unsubscribe_quietly(old)
        info = await self._bus.js.add_consumer(self._stream, config)
        self._config = config.evolve(name=info.name)
        if start == "new":
            # Nothing delivered yet means everything up to here is behind us: a re-creation starts after it.
            delivered = info.delivered.stream_seq if info.delivered else 0
            self.last_seq = max(self.last_seq, int(delivered or 0))

    async def _on_msg(self, msg: Msg) -> None:
        self._active = True
        headers = msg.headers or {}
        if headers.get("Status") is not None:
            # A flow-control request (has a reply) or an idle heartbeat, which may say the server
            # is stalled waiting for a flow-control reply and which consumer sequence it sent last.
            for reply in (msg.reply, headers.get("Nats-Consumer-Stalled")):
                if reply:
                    await _publish_quietly(self._bus.nc, reply)
            last = headers.get("Nats-Last-Consumer")
            if last is not None and int(last) != self._next_dseq - 1:
                self._reset()
            return
        meta = msg.metadata
        if int(meta.sequence.consumer) != self._next_dseq:
            self._reset()  # a message was lost on the way (slow consumer, reconnect)
            return
        self._next_dseq += 1
        seq = int(meta.sequence.stream)
        self.last_seq = seq
        try:
            event = decode(msg.subject, msg.data, msg.headers, fallback_id=stored_event_id(self._stream, seq))
        except DecodeError as exc:
            log.debug("tail skipped %s: %s", msg.subject, exc.reason)
            return
        with tracing.receive_span(msg.subject, msg.headers, event):
            await self._callback(seq, event)

    def _reset(self) -> None:
        if self._resetting is None and not self._stopped:
            self._generation += 1  # ignore whatever the old consumer still sends
            self._resetting = asyncio.create_task(self._recreate())

    async def _recreate(self) -> None:
        failures = 0
        try:
            while not self._stopped:
                try:
                    await self._create(self.last_seq)
                    return
                except _TAIL_RETRYABLE as exc:
                    log.info("tail on %s: re-creating its consumer failed (%s); retrying", self._filter, exc)
                    failures += 1
                    await asyncio.sleep(RECREATE_BACKOFF.delay(failures))
        finally:
            self._resetting = None

    async def _watch(self) -> None:
        while not self._stopped:
            await asyncio.sleep(2 * self._heartbeat_s)
            if not self._active:
                log.info("tail on %s missed its heartbeats; re-creating its consumer", self._filter)
                self._reset()
            self._active = False


async def _publish_quietly(nc: Client, subject: str) -> None:
    try:
        await nc.publish(subject)
    except (nats.errors.ConnectionClosedError, nats.errors.OutboundBufferLimitError):
        pass
